-- Same change as `migrations/postgres/0007_labels_credentials_selectors.sql` (read
-- its header), in SQLite dialect: timestamps TEXT in the store's fixed
-- forms (see 0001), one column per statement, the named credentials'
-- uniqueness an index (SQLite cannot add a UNIQUE column).

ALTER TABLE instances ADD COLUMN labels TEXT NOT NULL DEFAULT '{}';
ALTER TABLE instances ADD COLUMN disabled_by TEXT;
ALTER TABLE instances ADD COLUMN disabled_at TEXT;

ALTER TABLE credentials ADD COLUMN name TEXT CHECK (length(name) <= 128);
ALTER TABLE credentials ADD COLUMN managed INTEGER NOT NULL DEFAULT 0 CHECK (managed IN (0, 1));
CREATE UNIQUE INDEX ux_credentials_name ON credentials (name);
ALTER TABLE instances ADD COLUMN credential_name TEXT REFERENCES credentials (name);

ALTER TABLE instance_leases ADD COLUMN host_key TEXT;
CREATE INDEX ix_instance_leases_host_key ON instance_leases (host_key);

ALTER TABLE batches ADD COLUMN selector TEXT;
