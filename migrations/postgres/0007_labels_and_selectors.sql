-- Fleets as they really are: labels on instances, and what picked a batch.
--
-- * `instances.labels`: the instance's labels, a JSON object of strings
--   (`{"env": "prod", "team": "payments"}`), `{}` when it has none. Kept as
--   text in both backends: selectors are evaluated by dbfleet (one syntax,
--   one meaning, see `src/labels/selector.rs`), never by SQL.
-- * `instances.disabled_by`, `disabled_at`: who disabled the instance last
--   and when, when it was not an `instance disable` (e.g. `dbfleet instance
--   import --prune`); NULL otherwise.
-- * `batches.selector`: the label selector the batch was started with,
--   normalised; NULL for a batch over every active instance or named ones.

ALTER TABLE instances
    ADD COLUMN labels      TEXT NOT NULL DEFAULT '{}',
    ADD COLUMN disabled_by TEXT,
    ADD COLUMN disabled_at TIMESTAMPTZ;

ALTER TABLE batches
    ADD COLUMN selector TEXT;
