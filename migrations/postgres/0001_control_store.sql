-- The control store of dbfleet on PostgreSQL.
--
-- Table and column names follow the reference capacity schema so that
-- reports written against it keep working. Differences, on purpose:
-- * ids are bigint; sizes are bigint everywhere (instance totals overflow int4
--   past 2 PiB);
-- * the stats tables are not range-partitioned: the reference requires monthly
--   partitions to be created by hand and fails inserts when one is missing.
--   Plain tables with (instance, date) indexes serve daily history for large
--   fleets; nothing has to be created ahead of time;
-- * passwords are never stored: `credentials` holds a reference to an
--   environment variable or a mounted secret file, resolved by the worker.

CREATE TABLE credentials (
    id              BIGSERIAL PRIMARY KEY,
    username        VARCHAR(255) NOT NULL,
    password_source VARCHAR(16)  NOT NULL CHECK (password_source IN ('none', 'env', 'file')),
    password_ref    TEXT,
    created_at      TIMESTAMPTZ  NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ  NOT NULL DEFAULT now(),
    CHECK ((password_source = 'none') = (password_ref IS NULL))
);

CREATE TABLE instances (
    id            BIGSERIAL PRIMARY KEY,
    name          VARCHAR(128) NOT NULL,
    db_type       VARCHAR(50)  NOT NULL CHECK (db_type IN ('mysql', 'postgresql')),
    host          VARCHAR(255) NOT NULL,
    port          INTEGER      NOT NULL CHECK (port BETWEEN 1 AND 65535),
    database_name VARCHAR(255),
    credential_id BIGINT       NOT NULL REFERENCES credentials (id),
    is_active     BOOLEAN      NOT NULL DEFAULT TRUE,
    -- Declared in the configuration's `instances:` list, so reconciled from
    -- it; instances added by the CLI or the API are never touched by it.
    managed       BOOLEAN      NOT NULL DEFAULT FALSE,
    deleted_at    TIMESTAMPTZ,
    created_at    TIMESTAMPTZ  NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ  NOT NULL DEFAULT now()
);
-- A removed instance keeps its history; its name can be reused.
CREATE UNIQUE INDEX uq_instances_name ON instances (name) WHERE deleted_at IS NULL;

CREATE TABLE instance_databases (
    id              BIGSERIAL PRIMARY KEY,
    instance_id     BIGINT       NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    database_name   VARCHAR(255) NOT NULL,
    is_active       BOOLEAN      NOT NULL DEFAULT TRUE,
    first_seen_date DATE         NOT NULL,
    last_seen_date  DATE         NOT NULL,
    deleted_at      TIMESTAMPTZ,
    created_at      TIMESTAMPTZ  NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ  NOT NULL DEFAULT now(),
    CONSTRAINT uq_instance_databases UNIQUE (instance_id, database_name),
    CHECK (last_seen_date >= first_seen_date),
    CHECK (is_active = (deleted_at IS NULL))
);
CREATE INDEX ix_instance_databases_active ON instance_databases (instance_id, is_active);

CREATE TABLE database_size_stats (
    id             BIGSERIAL PRIMARY KEY,
    instance_id    BIGINT       NOT NULL REFERENCES instances (id),
    database_name  VARCHAR(255) NOT NULL,
    size_mb        BIGINT       NOT NULL CHECK (size_mb >= 0),
    data_size_mb   BIGINT CHECK (data_size_mb >= 0),
    log_size_mb    BIGINT CHECK (log_size_mb >= 0),
    collected_date DATE         NOT NULL,
    collected_at   TIMESTAMPTZ  NOT NULL,
    created_at     TIMESTAMPTZ  NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ  NOT NULL DEFAULT now(),
    CONSTRAINT uq_daily_database_size UNIQUE (instance_id, database_name, collected_date)
);
CREATE INDEX ix_database_size_stats_date ON database_size_stats (collected_date);
CREATE INDEX ix_database_size_stats_instance_date ON database_size_stats (instance_id, collected_date);

CREATE TABLE instance_size_stats (
    id             BIGSERIAL PRIMARY KEY,
    instance_id    BIGINT      NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    total_size_mb  BIGINT      NOT NULL DEFAULT 0 CHECK (total_size_mb >= 0),
    database_count INTEGER     NOT NULL DEFAULT 0 CHECK (database_count >= 0),
    collected_date DATE        NOT NULL,
    collected_at   TIMESTAMPTZ NOT NULL,
    is_deleted     BOOLEAN     NOT NULL DEFAULT FALSE,
    deleted_at     TIMESTAMPTZ,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX uq_instance_size_stats_instance_date
    ON instance_size_stats (instance_id, collected_date) WHERE is_deleted = FALSE;
CREATE INDEX ix_instance_size_stats_date ON instance_size_stats (collected_date);

CREATE TABLE batches (
    id            UUID PRIMARY KEY,
    status        VARCHAR(32) NOT NULL
                  CHECK (status IN ('running', 'success', 'partial_success', 'failed')),
    requested_by  TEXT,
    total         INTEGER     NOT NULL DEFAULT 0,
    succeeded     INTEGER     NOT NULL DEFAULT 0,
    failed        INTEGER     NOT NULL DEFAULT 0,
    total_records BIGINT      NOT NULL DEFAULT 0,
    total_size_mb BIGINT      NOT NULL DEFAULT 0,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at   TIMESTAMPTZ
);
CREATE INDEX ix_batches_created ON batches (created_at DESC);

CREATE TABLE batch_jobs (
    job_id                UUID PRIMARY KEY,
    batch_id              UUID        NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
    instance_id           BIGINT      NOT NULL REFERENCES instances (id),
    status                VARCHAR(16) NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    error_class           VARCHAR(32),
    error_message         TEXT,
    databases             INTEGER     NOT NULL DEFAULT 0,
    records               INTEGER     NOT NULL DEFAULT 0,
    total_size_mb         BIGINT      NOT NULL DEFAULT 0,
    inventory_created     INTEGER     NOT NULL DEFAULT 0,
    inventory_refreshed   INTEGER     NOT NULL DEFAULT 0,
    inventory_reactivated INTEGER     NOT NULL DEFAULT 0,
    inventory_deactivated INTEGER     NOT NULL DEFAULT 0,
    attempt               INTEGER     NOT NULL DEFAULT 0,
    worker                TEXT,
    deadline              TIMESTAMPTZ NOT NULL,
    started_at            TIMESTAMPTZ,
    finished_at           TIMESTAMPTZ,
    updated_at            TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX ix_batch_jobs_batch ON batch_jobs (batch_id);
CREATE INDEX ix_batch_jobs_pending_deadline ON batch_jobs (deadline) WHERE status = 'pending';
