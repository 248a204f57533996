-- Figures a DBA can trust under a least-privilege monitoring account, and
-- operator switches that reconciliation keeps.
--
-- * `database_size_stats.method`: how a size was measured. MySQL/MariaDB:
--   `tablespace` (InnoDB tablespace files only), `tables` (data and index
--   length from information_schema.TABLES only: MyISAM, Aria, …, or InnoDB
--   tables in the system tablespace), `tablespace+tables` (both);
--   PostgreSQL: `pg_database_size`. NULL on rows written before this
--   migration (they were `tablespace` and `pg_database_size`). No CHECK: new
--   engines add values, and SQLite cannot change a CHECK in place.
-- * `database_size_stats.is_deleted`, `deleted_at`: a row of a day that no
--   longer counts for that day, because a later run of the same day found
--   the database dropped. Kept, never deleted; the day's total and the
--   day's reads leave it out, so the two always agree.
-- * `unmeasured_databases`: a database of the instance that could not be
--   measured on a day, with why (`reason`: `permission`, `dropped`,
--   `not_visible`, `error`; no CHECK, as above) and what to do (`detail`,
--   naming the grant when it is one). A later measurement of the same day
--   marks it `is_deleted`: the day then has a size for it.
-- * `instance_size_stats.partial`, `unmeasured_count`: the day's total
--   counts only what was measured; `partial` says some database of the day
--   has no size (ruling 12: aggregations and forecasts leave such days out).
-- * `instances.active_override`: an operator's `dbfleet instance
--   enable|disable` of a declared instance (ruling 6). NULL: the
--   configuration decides; TRUE/FALSE: kept by reconciliation until
--   `dbfleet instance reset` clears it.
--
-- Existing rows read as before: not deleted, not partial, no override.

ALTER TABLE database_size_stats
    ADD COLUMN method     VARCHAR(32),
    ADD COLUMN is_deleted BOOLEAN NOT NULL DEFAULT FALSE,
    ADD COLUMN deleted_at TIMESTAMPTZ;

CREATE TABLE unmeasured_databases (
    id             BIGSERIAL PRIMARY KEY,
    instance_id    BIGINT       NOT NULL REFERENCES instances (id),
    database_name  VARCHAR(255) NOT NULL,
    collected_date DATE         NOT NULL,
    reason         VARCHAR(32)  NOT NULL,
    detail         TEXT         NOT NULL,
    collected_at   TIMESTAMPTZ  NOT NULL,
    is_deleted     BOOLEAN      NOT NULL DEFAULT FALSE,
    deleted_at     TIMESTAMPTZ,
    created_at     TIMESTAMPTZ  NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ  NOT NULL DEFAULT now(),
    CONSTRAINT uq_daily_unmeasured_database UNIQUE (instance_id, database_name, collected_date)
);
CREATE INDEX ix_unmeasured_databases_instance_date
    ON unmeasured_databases (instance_id, collected_date);

ALTER TABLE instance_size_stats
    ADD COLUMN partial          BOOLEAN NOT NULL DEFAULT FALSE,
    ADD COLUMN unmeasured_count INTEGER NOT NULL DEFAULT 0 CHECK (unmeasured_count >= 0);

ALTER TABLE instances
    ADD COLUMN active_override BOOLEAN;
