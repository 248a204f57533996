-- Same change as `migrations/postgres/0010_table_sizes.sql` (read its
-- header), in SQLite dialect: dates and timestamps TEXT in the store's
-- fixed forms (see 0001).

CREATE TABLE table_sizes (
    instance_id    INTEGER NOT NULL REFERENCES instances (id),
    database_name  TEXT    NOT NULL,
    collected_date TEXT    NOT NULL,
    table_name     TEXT    NOT NULL,
    is_rest        INTEGER NOT NULL,
    tables         INTEGER NOT NULL,
    total_bytes    INTEGER NOT NULL,
    data_bytes     INTEGER NOT NULL,
    index_bytes    INTEGER NOT NULL,
    row_estimate   INTEGER,
    method         TEXT    NOT NULL,
    collected_at   TEXT    NOT NULL,
    PRIMARY KEY (instance_id, database_name, collected_date, table_name)
);
