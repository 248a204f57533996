-- Batches and jobs of any kind, not only capacity sync.
--
-- Same change as `migrations/postgres/0003_generic_batches.sql` (read its
-- header first: the new columns, why, and how existing rows are backfilled),
-- in the SQLite dialect of `0001_control_store.sql`. JSON columns are TEXT
-- with a CHECK on their JSON type, as `jsonb` guarantees on PostgreSQL.
--
-- SQLite's ALTER TABLE cannot drop a NOT NULL or a default, so both tables
-- are rebuilt: create the new table, copy, drop the old one, rename. The
-- migration runs in a transaction with foreign keys enforced (they cannot be
-- turned off inside one), which fixes the order:
-- * `batch_jobs_new` references `batches_new`, so no row ever points at a
--   missing batch;
-- * the old `batch_jobs` is dropped before the old `batches`: dropping a
--   table deletes its rows first, and deleting batches that old jobs still
--   referenced would cascade;
-- * renaming `batches_new` to `batches` rewrites the reference in
--   `batch_jobs_new` (SQLite does so since 3.26).
-- Indexes went with the old tables and are created again, unchanged.
--
-- One more change, for the store's SQL to be written once for both
-- databases: `uq_instance_size_stats_instance_date` is recreated with
-- `WHERE is_deleted = FALSE` (it said `= 0`, the same rows). An upsert names
-- a partial index by repeating its WHERE clause, and SQLite matches that
-- clause by its text, while PostgreSQL needs a boolean there.

CREATE TABLE batches_new (
    id           TEXT    PRIMARY KEY CHECK (length(id) = 36),
    kind         TEXT    NOT NULL CHECK (length(kind) <= 64),
    status       TEXT    NOT NULL
                 CHECK (status IN ('running', 'success', 'partial_success', 'failed')),
    requested_by TEXT,
    total        INTEGER NOT NULL DEFAULT 0,
    pending      INTEGER NOT NULL DEFAULT 0,
    succeeded    INTEGER NOT NULL DEFAULT 0,
    failed       INTEGER NOT NULL DEFAULT 0,
    warned       INTEGER NOT NULL DEFAULT 0,
    summary      TEXT    NOT NULL DEFAULT '{}' CHECK (json_type(summary) = 'object'),
    created_at   TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now')),
    updated_at   TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now')),
    finished_at  TEXT
) STRICT;

INSERT INTO batches_new (id, kind, status, requested_by, total, pending, succeeded,
                         failed, warned, summary, created_at, updated_at, finished_at)
SELECT b.id, 'capacity_sync', b.status, b.requested_by, b.total,
       (SELECT count(*) FROM batch_jobs j WHERE j.batch_id = b.id AND j.status = 'pending'),
       b.succeeded, b.failed, 0,
       json_object('total_records', b.total_records, 'total_size_mb', b.total_size_mb),
       b.created_at, b.updated_at, b.finished_at
FROM batches b;

CREATE TABLE batch_jobs_new (
    job_id        TEXT    PRIMARY KEY CHECK (length(job_id) = 36),
    batch_id      TEXT    NOT NULL REFERENCES batches_new (id) ON DELETE CASCADE,
    instance_id   INTEGER REFERENCES instances (id),
    kind          TEXT    NOT NULL CHECK (length(kind) <= 64),
    target        TEXT    NOT NULL,
    status        TEXT    NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    error_class   TEXT CHECK (length(error_class) <= 32),
    error_message TEXT,
    output        TEXT CHECK (output IS NULL OR json_valid(output)),
    warnings      TEXT    NOT NULL DEFAULT '[]' CHECK (json_type(warnings) = 'array'),
    tally         TEXT    NOT NULL DEFAULT '{}' CHECK (json_type(tally) = 'object'),
    attempt       INTEGER NOT NULL DEFAULT 0,
    worker        TEXT,
    deadline      TEXT    NOT NULL,
    started_at    TEXT,
    finished_at   TEXT,
    updated_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now'))
) STRICT;

INSERT INTO batch_jobs_new (job_id, batch_id, instance_id, kind, target, status,
                            error_class, error_message, output, warnings, tally, attempt,
                            worker, deadline, started_at, finished_at, updated_at)
SELECT j.job_id, j.batch_id, j.instance_id, 'capacity_sync', coalesce(i.name, ''), j.status,
       j.error_class, j.error_message,
       CASE WHEN j.status = 'succeeded' THEN json_object(
           'databases', j.databases,
           'records', j.records,
           'total_size_mb', j.total_size_mb,
           'inventory', json_object(
               'created', j.inventory_created,
               'refreshed', j.inventory_refreshed,
               'reactivated', j.inventory_reactivated,
               'deactivated', j.inventory_deactivated)) END,
       '[]',
       CASE WHEN j.status = 'succeeded'
            THEN json_object('total_records', j.records, 'total_size_mb', j.total_size_mb)
            ELSE '{}' END,
       j.attempt, j.worker, j.deadline, j.started_at, j.finished_at, j.updated_at
FROM batch_jobs j LEFT JOIN instances i ON i.id = j.instance_id;

DROP TABLE batch_jobs;
DROP TABLE batches;
ALTER TABLE batches_new RENAME TO batches;
ALTER TABLE batch_jobs_new RENAME TO batch_jobs;

CREATE INDEX ix_batches_created ON batches (created_at);
CREATE INDEX ix_batch_jobs_batch ON batch_jobs (batch_id);
CREATE INDEX ix_batch_jobs_pending_deadline ON batch_jobs (deadline) WHERE status = 'pending';

DROP INDEX uq_instance_size_stats_instance_date;
CREATE UNIQUE INDEX uq_instance_size_stats_instance_date
    ON instance_size_stats (instance_id, collected_date) WHERE is_deleted = FALSE;
