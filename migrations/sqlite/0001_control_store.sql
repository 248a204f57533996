-- The control store of dbfleet on SQLite: a single-node deployment, or tests.
--
-- Same tables, columns, constraints and indexes as
-- `migrations/postgres/0001_control_store.sql` (read its header first), in
-- SQLite dialect. Differences, all forced by the dialect:
-- * tables are STRICT, so a value of the wrong type is rejected as on
--   PostgreSQL; ids are `INTEGER PRIMARY KEY AUTOINCREMENT` (never reused);
-- * VARCHAR(n) lengths are enforced by CHECK (length(col) <= n);
-- * booleans are INTEGER 0/1 (CHECK col IN (0, 1));
-- * UUIDs are TEXT, hyphenated lower case (36 characters), so they sort as
--   PostgreSQL sorts `uuid`;
-- * timestamps are TEXT, RFC 3339 in UTC with exactly six fractional digits
--   (`2026-01-02T03:04:05.123456+00:00`, PostgreSQL's microsecond precision).
--   The store writes every timestamp itself in that fixed-width form, so text
--   order is time order and `<`/`>`/`max()`/`ORDER BY` compare instants; the
--   defaults below produce the same form;
-- * dates are TEXT `YYYY-MM-DD` (CHECK col = date(col)), which also sort and
--   compare as dates;
-- * the partial unique indexes use `WHERE deleted_at IS NULL` and
--   `WHERE is_deleted = 0`; upserts name them with the same WHERE clause;
-- * foreign keys are enforced only because every connection turns on
--   `PRAGMA foreign_keys` (the store does);
-- * `ix_batches_created` is ascending: SQLite scans an index both ways.

CREATE TABLE credentials (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    username        TEXT NOT NULL CHECK (length(username) <= 255),
    password_source TEXT NOT NULL CHECK (password_source IN ('none', 'env', 'file')),
    password_ref    TEXT,
    created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now')),
    updated_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now')),
    CHECK ((password_source = 'none') = (password_ref IS NULL))
) STRICT;

CREATE TABLE instances (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT    NOT NULL CHECK (length(name) <= 128),
    db_type       TEXT    NOT NULL CHECK (db_type IN ('mysql', 'postgresql')),
    host          TEXT    NOT NULL CHECK (length(host) <= 255),
    port          INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
    database_name TEXT CHECK (length(database_name) <= 255),
    credential_id INTEGER NOT NULL REFERENCES credentials (id),
    is_active     INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    -- Declared in the configuration's `instances:` list, so reconciled from
    -- it; instances added by the CLI or the API are never touched by it.
    managed       INTEGER NOT NULL DEFAULT 0 CHECK (managed IN (0, 1)),
    deleted_at    TEXT,
    created_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now')),
    updated_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now'))
) STRICT;
-- A removed instance keeps its history; its name can be reused.
CREATE UNIQUE INDEX uq_instances_name ON instances (name) WHERE deleted_at IS NULL;

CREATE TABLE instance_databases (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id     INTEGER NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    database_name   TEXT    NOT NULL CHECK (length(database_name) <= 255),
    is_active       INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    first_seen_date TEXT    NOT NULL CHECK (first_seen_date = date(first_seen_date)),
    last_seen_date  TEXT    NOT NULL CHECK (last_seen_date = date(last_seen_date)),
    deleted_at      TEXT,
    created_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now')),
    updated_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now')),
    CONSTRAINT uq_instance_databases UNIQUE (instance_id, database_name),
    CHECK (last_seen_date >= first_seen_date),
    CHECK (is_active = (deleted_at IS NULL))
) STRICT;
CREATE INDEX ix_instance_databases_active ON instance_databases (instance_id, is_active);

CREATE TABLE database_size_stats (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id    INTEGER NOT NULL REFERENCES instances (id),
    database_name  TEXT    NOT NULL CHECK (length(database_name) <= 255),
    size_mb        INTEGER NOT NULL CHECK (size_mb >= 0),
    data_size_mb   INTEGER CHECK (data_size_mb >= 0),
    log_size_mb    INTEGER CHECK (log_size_mb >= 0),
    collected_date TEXT    NOT NULL CHECK (collected_date = date(collected_date)),
    collected_at   TEXT    NOT NULL,
    created_at     TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now')),
    updated_at     TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now')),
    CONSTRAINT uq_daily_database_size UNIQUE (instance_id, database_name, collected_date)
) STRICT;
CREATE INDEX ix_database_size_stats_date ON database_size_stats (collected_date);
CREATE INDEX ix_database_size_stats_instance_date ON database_size_stats (instance_id, collected_date);

CREATE TABLE instance_size_stats (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id    INTEGER NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    total_size_mb  INTEGER NOT NULL DEFAULT 0 CHECK (total_size_mb >= 0),
    database_count INTEGER NOT NULL DEFAULT 0 CHECK (database_count >= 0),
    collected_date TEXT    NOT NULL CHECK (collected_date = date(collected_date)),
    collected_at   TEXT    NOT NULL,
    is_deleted     INTEGER NOT NULL DEFAULT 0 CHECK (is_deleted IN (0, 1)),
    deleted_at     TEXT,
    created_at     TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now')),
    updated_at     TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now'))
) STRICT;
CREATE UNIQUE INDEX uq_instance_size_stats_instance_date
    ON instance_size_stats (instance_id, collected_date) WHERE is_deleted = 0;
CREATE INDEX ix_instance_size_stats_date ON instance_size_stats (collected_date);

CREATE TABLE batches (
    id            TEXT    PRIMARY KEY CHECK (length(id) = 36),
    status        TEXT    NOT NULL
                  CHECK (status IN ('running', 'success', 'partial_success', 'failed')),
    requested_by  TEXT,
    total         INTEGER NOT NULL DEFAULT 0,
    succeeded     INTEGER NOT NULL DEFAULT 0,
    failed        INTEGER NOT NULL DEFAULT 0,
    total_records INTEGER NOT NULL DEFAULT 0,
    total_size_mb INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now')),
    updated_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now')),
    finished_at   TEXT
) STRICT;
CREATE INDEX ix_batches_created ON batches (created_at);

CREATE TABLE batch_jobs (
    job_id                TEXT    PRIMARY KEY CHECK (length(job_id) = 36),
    batch_id              TEXT    NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
    instance_id           INTEGER NOT NULL REFERENCES instances (id),
    status                TEXT    NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    error_class           TEXT CHECK (length(error_class) <= 32),
    error_message         TEXT,
    databases             INTEGER NOT NULL DEFAULT 0,
    records               INTEGER NOT NULL DEFAULT 0,
    total_size_mb         INTEGER NOT NULL DEFAULT 0,
    inventory_created     INTEGER NOT NULL DEFAULT 0,
    inventory_refreshed   INTEGER NOT NULL DEFAULT 0,
    inventory_reactivated INTEGER NOT NULL DEFAULT 0,
    inventory_deactivated INTEGER NOT NULL DEFAULT 0,
    attempt               INTEGER NOT NULL DEFAULT 0,
    worker                TEXT,
    deadline              TEXT    NOT NULL,
    started_at            TEXT,
    finished_at           TEXT,
    updated_at            TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now'))
) STRICT;
CREATE INDEX ix_batch_jobs_batch ON batch_jobs (batch_id);
CREATE INDEX ix_batch_jobs_pending_deadline ON batch_jobs (deadline) WHERE status = 'pending';
