-- Sizes per table, one snapshot per (instance, database, day).
--
-- * `table_sizes`: the largest tables of a database one by one, and the
--   rest folded into one row (`is_rest`, `table_name` empty, `tables` the
--   number folded), as a `table_sizes` job read them that day. A day's
--   rows of a database are replaced whole by a later run of the same day
--   that read that database; a run that could not read it (or read no
--   table) leaves them, so a failed or empty collection never erases a
--   snapshot. Earlier days are history and are never touched.
-- * `method`: `exact` (file sizes, PostgreSQL) or `estimate` (the
--   engine's statistics, InnoDB). `row_estimate` is NULL where the engine
--   has no estimate yet.

CREATE TABLE table_sizes (
    instance_id    BIGINT      NOT NULL REFERENCES instances (id),
    database_name  TEXT        NOT NULL,
    collected_date DATE        NOT NULL,
    table_name     TEXT        NOT NULL,
    is_rest        INTEGER     NOT NULL,
    tables         BIGINT      NOT NULL,
    total_bytes    BIGINT      NOT NULL,
    data_bytes     BIGINT      NOT NULL,
    index_bytes    BIGINT      NOT NULL,
    row_estimate   BIGINT,
    method         TEXT        NOT NULL,
    collected_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (instance_id, database_name, collected_date, table_name)
);
