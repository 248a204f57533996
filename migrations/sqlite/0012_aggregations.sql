-- Same change as `migrations/postgres/0012_aggregations.sql` (read its
-- header), in SQLite dialect: dates and timestamps TEXT in the store's
-- fixed forms (see 0001).

CREATE TABLE database_size_aggregations (
    instance_id            INTEGER NOT NULL REFERENCES instances (id),
    database_name          TEXT    NOT NULL,
    period_type            TEXT    NOT NULL,
    period_start           TEXT    NOT NULL,
    period_end             TEXT    NOT NULL,
    avg_size_mb            INTEGER NOT NULL,
    max_size_mb            INTEGER NOT NULL,
    min_size_mb            INTEGER NOT NULL,
    sample_count           INTEGER NOT NULL,
    first_date             TEXT    NOT NULL,
    last_date              TEXT    NOT NULL,
    size_change_mb         INTEGER,
    size_change_percent    REAL,
    growth_rate_mb_per_day REAL,
    trend                  TEXT    NOT NULL,
    calculated_at          TEXT    NOT NULL,
    PRIMARY KEY (instance_id, database_name, period_type, period_start)
);

CREATE INDEX database_size_aggregations_period
    ON database_size_aggregations (instance_id, period_type, period_start);

CREATE TABLE instance_size_aggregations (
    instance_id            INTEGER NOT NULL REFERENCES instances (id),
    period_type            TEXT    NOT NULL,
    period_start           TEXT    NOT NULL,
    period_end             TEXT    NOT NULL,
    avg_size_mb            INTEGER NOT NULL,
    max_size_mb            INTEGER NOT NULL,
    min_size_mb            INTEGER NOT NULL,
    sample_count           INTEGER NOT NULL,
    first_date             TEXT    NOT NULL,
    last_date              TEXT    NOT NULL,
    size_change_mb         INTEGER,
    size_change_percent    REAL,
    growth_rate_mb_per_day REAL,
    trend                  TEXT    NOT NULL,
    calculated_at          TEXT    NOT NULL,
    PRIMARY KEY (instance_id, period_type, period_start)
);
