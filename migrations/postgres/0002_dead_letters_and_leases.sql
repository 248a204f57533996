-- Dead letters kept by the control plane, and per-instance job leases.
--
-- `dead_letters`: every message the broker could not deliver, folded from the
-- dead-letter queue by the aggregator, so operators can list and replay them
-- after the broker's copy is gone. `kind` is what the body decodes as; the
-- body is kept byte for byte, so a replay publishes exactly what died.
--
-- `instance_leases`: at most one running job per instance. A lease is taken
-- and renewed in one upsert (see the store), and expires on its own, so a
-- worker that dies holding it blocks the instance only until `expires_at`.

CREATE TABLE dead_letters (
    id          BIGSERIAL PRIMARY KEY,
    -- The job id for jobs; whatever the publisher set otherwise.
    message_id  TEXT,
    kind        VARCHAR(16) NOT NULL CHECK (kind IN ('job', 'result', 'unknown')),
    reason      TEXT        NOT NULL,
    body        BYTEA       NOT NULL,
    dead_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    replayed_at TIMESTAMPTZ
);
CREATE INDEX ix_dead_letters_dead_at ON dead_letters (dead_at);

CREATE TABLE instance_leases (
    instance_id BIGINT      PRIMARY KEY REFERENCES instances (id) ON DELETE CASCADE,
    job_id      UUID        NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    acquired_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
