-- A job's start, recorded by the worker that runs it.
--
-- A job's deadline used to count from dispatch, so jobs that waited in the
-- queue failed without running. Now a job has two bounds: the batch's
-- deadline (`batch_jobs.deadline`), by which a worker must start it, and its
-- own budget, counted from its start. The worker records the start (with
-- its instance lease, in one transaction): `started_at`, `worker`,
-- `attempt`, and `lease_expires_at`, when the lease runs out. The sweeper
-- fails a job nobody started at its batch's deadline, and a started job
-- whose worker died once its lease has run out, whatever the batch's
-- deadline. A started job keeps status `pending` until its result comes.

ALTER TABLE batch_jobs ADD COLUMN lease_expires_at TIMESTAMPTZ;

CREATE INDEX ix_batch_jobs_pending_lease ON batch_jobs (lease_expires_at)
    WHERE status = 'pending' AND started_at IS NOT NULL;
