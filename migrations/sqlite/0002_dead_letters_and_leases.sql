-- Dead letters kept by the control plane, and per-instance job leases.
--
-- Same tables as `migrations/postgres/0002_dead_letters_and_leases.sql` (read
-- its header first), in the SQLite dialect of `0001_control_store.sql`: STRICT
-- tables, TEXT timestamps in the store's one fixed-width format (so `<` on
-- `expires_at` compares instants), TEXT UUIDs, BLOB for BYTEA.

CREATE TABLE dead_letters (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    -- The job id for jobs; whatever the publisher set otherwise.
    message_id  TEXT,
    kind        TEXT NOT NULL CHECK (kind IN ('job', 'result', 'unknown')),
    reason      TEXT NOT NULL,
    body        BLOB NOT NULL,
    dead_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now')),
    replayed_at TEXT
) STRICT;
CREATE INDEX ix_dead_letters_dead_at ON dead_letters (dead_at);

CREATE TABLE instance_leases (
    instance_id INTEGER PRIMARY KEY REFERENCES instances (id) ON DELETE CASCADE,
    job_id      TEXT    NOT NULL CHECK (length(job_id) = 36),
    expires_at  TEXT    NOT NULL,
    acquired_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now'))
) STRICT;
