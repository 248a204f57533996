-- Fleets as they really are: labels on instances, what picked a batch, and
-- credentials shared by name.
--
-- * `instances.labels`: the instance's labels, a JSON object of strings
--   (`{"env": "prod", "team": "payments"}`), `{}` when it has none. Kept as
--   text in both backends: selectors are evaluated by dbfleet (one syntax,
--   one meaning, see `src/labels/selector.rs`), never by SQL.
-- * `instances.disabled_by`, `disabled_at`: who disabled the instance last
--   and when, when it was not an `instance disable` (e.g. `dbfleet instance
--   import --prune`); NULL otherwise.
-- * `credentials.name`: a named credential, shared by every instance that
--   references it (`credentials:` in the configuration, `dbfleet credential
--   add`); NULL for an instance's own credential. `credentials.managed`:
--   declared in the configuration, and so reconciled from it.
-- * `instances.credential_name`: the named credential the instance logs in
--   with; NULL: its own (`credential_id`), as before. The own row stays,
--   empty while the instance names a credential.
-- * `instance_leases.host_key`: the host a running job works on, when the
--   fleet caps concurrent jobs per host (`job.max_per_host`): a job starts
--   only while fewer unexpired leases than the cap hold that key.
-- * `batches.selector`: the label selector the batch was started with,
--   normalised; NULL for a batch over every active instance or named ones.

ALTER TABLE instances
    ADD COLUMN labels      TEXT NOT NULL DEFAULT '{}',
    ADD COLUMN disabled_by TEXT,
    ADD COLUMN disabled_at TIMESTAMPTZ;

ALTER TABLE credentials
    ADD COLUMN name    TEXT,
    ADD COLUMN managed BOOLEAN NOT NULL DEFAULT FALSE;
CREATE UNIQUE INDEX ux_credentials_name ON credentials (name);

ALTER TABLE instances
    ADD COLUMN credential_name TEXT REFERENCES credentials (name);

ALTER TABLE instance_leases
    ADD COLUMN host_key TEXT;
CREATE INDEX ix_instance_leases_host_key ON instance_leases (host_key);

ALTER TABLE batches
    ADD COLUMN selector TEXT;
