-- Same change as `migrations/postgres/0009_job_outbox.sql` (read its
-- header), in SQLite dialect: uuids and timestamps TEXT in the store's
-- fixed forms (see 0001).

CREATE TABLE job_outbox (
    job_id      TEXT    PRIMARY KEY REFERENCES batch_jobs (job_id) ON DELETE CASCADE
                        CHECK (length(job_id) = 36),
    batch_id    TEXT    NOT NULL CHECK (length(batch_id) = 36),
    publish_at  TEXT    NOT NULL,
    interactive INTEGER NOT NULL,
    zone        TEXT,
    body        TEXT    NOT NULL,
    claimed_until TEXT
);

CREATE INDEX job_outbox_due ON job_outbox (publish_at);
