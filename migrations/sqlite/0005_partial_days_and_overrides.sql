-- Same change as `migrations/postgres/0005_partial_days_and_overrides.sql`
-- (read its header), in SQLite dialect: booleans are INTEGER 0/1,
-- timestamps and dates TEXT in the store's fixed forms (see 0001), the
-- new table is STRICT.

ALTER TABLE database_size_stats ADD COLUMN method TEXT CHECK (length(method) <= 32);
ALTER TABLE database_size_stats
    ADD COLUMN is_deleted INTEGER NOT NULL DEFAULT 0 CHECK (is_deleted IN (0, 1));
ALTER TABLE database_size_stats ADD COLUMN deleted_at TEXT;

CREATE TABLE unmeasured_databases (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id    INTEGER NOT NULL REFERENCES instances (id),
    database_name  TEXT    NOT NULL CHECK (length(database_name) <= 255),
    collected_date TEXT    NOT NULL CHECK (collected_date = date(collected_date)),
    reason         TEXT    NOT NULL CHECK (length(reason) <= 32),
    detail         TEXT    NOT NULL,
    collected_at   TEXT    NOT NULL,
    is_deleted     INTEGER NOT NULL DEFAULT 0 CHECK (is_deleted IN (0, 1)),
    deleted_at     TEXT,
    created_at     TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now')),
    updated_at     TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now')),
    CONSTRAINT uq_daily_unmeasured_database UNIQUE (instance_id, database_name, collected_date)
) STRICT;
CREATE INDEX ix_unmeasured_databases_instance_date
    ON unmeasured_databases (instance_id, collected_date);

ALTER TABLE instance_size_stats
    ADD COLUMN partial INTEGER NOT NULL DEFAULT 0 CHECK (partial IN (0, 1));
ALTER TABLE instance_size_stats
    ADD COLUMN unmeasured_count INTEGER NOT NULL DEFAULT 0 CHECK (unmeasured_count >= 0);

ALTER TABLE instances
    ADD COLUMN active_override INTEGER CHECK (active_override IN (0, 1));
