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
    name             TEXT         PRIMARY KEY,
    definition       TEXT         NOT NULL,
    declared         INTEGER      NOT NULL CHECK (declared IN (0, 1)),
    enabled_override INTEGER,
    changed_by       TEXT,
    updated_at       TEXT         NOT NULL
);

CREATE TABLE sync_runs (
    job_id           TEXT         NOT NULL CHECK (length(job_id) = 36),
    batch_id         TEXT         NOT NULL CHECK (length(batch_id) = 36),
    definition       TEXT         NOT NULL,
    target           TEXT         NOT NULL,
    table_name       TEXT         NOT NULL,
    mode             TEXT         NOT NULL,
    status           TEXT         NOT NULL CHECK (status IN ('running', 'success', 'failed')),
    started_at       TEXT         NOT NULL,
    ended_at         TEXT,
    rows_read        INTEGER      NOT NULL,
    rows_applied     INTEGER      NOT NULL,
    rows_deleted     INTEGER      NOT NULL,
    chunks_verified  INTEGER,
    chunks_differing INTEGER,
    error            TEXT,
    attempt          INTEGER      NOT NULL,
    worker           TEXT         NOT NULL,
    PRIMARY KEY (job_id, target, table_name)
);
CREATE INDEX ix_sync_runs_definition ON sync_runs (definition, started_at);
CREATE INDEX ix_sync_runs_started_at ON sync_runs (started_at);
