-- Same change as `migrations/postgres/0007_labels_and_selectors.sql` (read
-- its header), in SQLite dialect: timestamps TEXT in the store's fixed
-- forms (see 0001), one column per statement.

ALTER TABLE instances ADD COLUMN labels TEXT NOT NULL DEFAULT '{}';
ALTER TABLE instances ADD COLUMN disabled_by TEXT;
ALTER TABLE instances ADD COLUMN disabled_at TEXT;

ALTER TABLE batches ADD COLUMN selector TEXT;
