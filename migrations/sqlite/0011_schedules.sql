-- Same change as `migrations/postgres/0011_schedules.sql` (read its
-- header), in SQLite dialect: uuids and timestamps TEXT in the store's
-- fixed forms (see 0001).

CREATE TABLE schedules (
    name       TEXT    PRIMARY KEY,
    paused     INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
    changed_by TEXT,
    owed_from  TEXT    NOT NULL,
    created_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now')),
    updated_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now'))
);

CREATE TABLE schedule_runs (
    schedule   TEXT    NOT NULL,
    slot       TEXT    NOT NULL,
    manual     INTEGER NOT NULL CHECK (manual IN (0, 1)),
    batch_id   TEXT    NOT NULL CHECK (length(batch_id) = 36),
    started_by TEXT    NOT NULL,
    started_at TEXT    NOT NULL,
    PRIMARY KEY (schedule, slot)
);

ALTER TABLE batches ADD COLUMN params TEXT;
