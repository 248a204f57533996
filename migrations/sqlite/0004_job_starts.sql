-- A job's start, recorded by the worker that runs it. Same change as
-- `migrations/postgres/0004_job_starts.sql` (read its header), in the SQLite
-- dialect: the expiry is TEXT in the store's one fixed-width timestamp
-- format, so `<` compares instants.

ALTER TABLE batch_jobs ADD COLUMN lease_expires_at TEXT;

CREATE INDEX ix_batch_jobs_pending_lease ON batch_jobs (lease_expires_at)
    WHERE status = 'pending' AND started_at IS NOT NULL;
