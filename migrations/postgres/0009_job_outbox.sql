-- Jobs published later: a batch spread over a time window (`batch start
-- --spread`) keeps its later jobs here until their time.
--
-- * `job_outbox`: one row per job not yet published, written in the
--   transaction that creates its batch, so a job is never in the batch
--   without being either published or parked. `body` is the job message
--   exactly as it will be published (instance settings and password
--   references, never a secret); `interactive` and `zone` say where it
--   goes. The control plane publishes each row once `publish_at` has come
--   and deletes it after the broker's confirm. `claimed_until`: a control
--   plane claims the rows it is about to publish, so two `serve` replicas
--   never publish the same job; a claim left by a replica that died
--   expires and the job is published by another.

CREATE TABLE job_outbox (
    job_id      UUID        PRIMARY KEY REFERENCES batch_jobs (job_id) ON DELETE CASCADE,
    batch_id    UUID        NOT NULL,
    publish_at  TIMESTAMPTZ NOT NULL,
    interactive INTEGER     NOT NULL,
    zone        TEXT,
    body        TEXT        NOT NULL,
    claimed_until TIMESTAMPTZ
);

CREATE INDEX job_outbox_due ON job_outbox (publish_at);
