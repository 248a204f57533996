-- Same change as `migrations/postgres/0008_api.sql` (read its header), in
-- SQLite dialect: uuids and timestamps TEXT in the store's fixed forms
-- (see 0001).

CREATE TABLE api_idempotency_keys (
    key        TEXT PRIMARY KEY CHECK (length(key) <= 255),
    request    TEXT NOT NULL,
    batch_id   TEXT NOT NULL REFERENCES batches (id) CHECK (length(batch_id) = 36),
    created_at TEXT NOT NULL
);
