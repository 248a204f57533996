-- Data sync (`syncs:` in the configuration, `dbfleet sync …`).
--
-- * `sync_definitions`: one row per definition name, reconciled from the
--   configuration (`definition`: the definition as JSON). `enabled_override`
--   is the operator's switch (`dbfleet sync disable|enable`); NULL leaves
--   the definition's own `enabled`, and reconciliation never changes it.
-- * `sync_runs`: the history, one row per (job, target, table): written
--   `running` when the table starts and again when it ends, so a redelivered
--   job rewrites its own rows and never adds to them. The checkpoints are not
--   here: they live in each target database, written with the rows they
--   cover.

CREATE TABLE sync_definitions (
    name             VARCHAR(128) PRIMARY KEY,
    definition       TEXT         NOT NULL,
    declared         BOOLEAN      NOT NULL,
    enabled_override BOOLEAN,
    changed_by       TEXT,
    updated_at       TIMESTAMPTZ  NOT NULL
);

CREATE TABLE sync_runs (
    job_id           UUID         NOT NULL,
    batch_id         UUID         NOT NULL,
    definition       VARCHAR(128) NOT NULL,
    target           TEXT         NOT NULL,
    table_name       TEXT         NOT NULL,
    mode             VARCHAR(16)  NOT NULL,
    status           VARCHAR(16)  NOT NULL CHECK (status IN ('running', 'success', 'failed')),
    started_at       TIMESTAMPTZ  NOT NULL,
    ended_at         TIMESTAMPTZ,
    rows_read        BIGINT       NOT NULL,
    rows_applied     BIGINT       NOT NULL,
    rows_deleted     BIGINT       NOT NULL,
    chunks_verified  BIGINT,
    chunks_differing BIGINT,
    error            TEXT,
    attempt          INTEGER      NOT NULL,
    worker           TEXT         NOT NULL,
    PRIMARY KEY (job_id, target, table_name)
);
CREATE INDEX ix_sync_runs_definition ON sync_runs (definition, started_at);
CREATE INDEX ix_sync_runs_started_at ON sync_runs (started_at);
