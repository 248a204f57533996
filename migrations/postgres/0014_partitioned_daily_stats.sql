-- The daily size tables, range-partitioned by month on `collected_date`.
--
-- At 100,000 instances the daily stats grow by millions of rows a day.
-- Monthly partitions let retention drop a month in one statement instead
-- of deleting millions of rows, and keep each month's indexes small.
-- Unlike the reference, nobody creates partitions by hand and no insert
-- ever fails for want of one:
-- * a DEFAULT partition takes any row no monthly partition covers;
-- * `dbfleet migrate --maintain` (the schema owner's) creates the months
--   ahead of time, moves rows the default partition holds for a month into
--   that month's partition as it creates it, and drops the months past
--   `retention.daily_stats`.
-- This migration creates the months of the existing rows and the current
-- month, and copies the rows over, holding both tables locked while it
-- copies (plan the upgrade for a quiet hour on a large store). Keys now include `collected_date` (a
-- partitioned table's unique keys must hold its partition key); the
-- natural keys already did.

CREATE FUNCTION dbfleet_partition_daily(parent TEXT, month DATE) RETURNS VOID
LANGUAGE plpgsql AS $$
DECLARE
    child TEXT := parent || '_p' || to_char(month, 'YYYYMM');
    next_month DATE := (month + INTERVAL '1 month')::DATE;
BEGIN
    IF to_regclass(child) IS NOT NULL THEN
        RETURN;
    END IF;
    EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', child, parent);
    EXECUTE format(
        'WITH moved AS (DELETE FROM %I WHERE collected_date >= %L AND collected_date < %L RETURNING *) '
        'INSERT INTO %I SELECT * FROM moved', parent || '_default', month, next_month, child);
    EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
        parent, child, month, next_month);
END;
$$;

ALTER TABLE database_size_stats RENAME TO database_size_stats_unpartitioned;
ALTER INDEX database_size_stats_pkey RENAME TO database_size_stats_unpartitioned_pkey;
ALTER TABLE database_size_stats_unpartitioned
    RENAME CONSTRAINT uq_daily_database_size TO uq_daily_database_size_unpartitioned;
DROP INDEX ix_database_size_stats_date;
DROP INDEX ix_database_size_stats_instance_date;

CREATE TABLE database_size_stats (
    LIKE database_size_stats_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
    PRIMARY KEY (id, collected_date),
    CONSTRAINT uq_daily_database_size UNIQUE (instance_id, database_name, collected_date),
    FOREIGN KEY (instance_id) REFERENCES instances (id)
) PARTITION BY RANGE (collected_date);
ALTER SEQUENCE database_size_stats_id_seq OWNED BY database_size_stats.id;
CREATE INDEX ix_database_size_stats_date ON database_size_stats (collected_date);
CREATE INDEX ix_database_size_stats_instance_date ON database_size_stats (instance_id, collected_date);
CREATE TABLE database_size_stats_default PARTITION OF database_size_stats DEFAULT;

ALTER TABLE instance_size_stats RENAME TO instance_size_stats_unpartitioned;
ALTER INDEX instance_size_stats_pkey RENAME TO instance_size_stats_unpartitioned_pkey;
DROP INDEX uq_instance_size_stats_instance_date;
DROP INDEX ix_instance_size_stats_date;

CREATE TABLE instance_size_stats (
    LIKE instance_size_stats_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
    PRIMARY KEY (id, collected_date),
    FOREIGN KEY (instance_id) REFERENCES instances (id) ON DELETE CASCADE
) PARTITION BY RANGE (collected_date);
ALTER SEQUENCE instance_size_stats_id_seq OWNED BY instance_size_stats.id;
CREATE UNIQUE INDEX uq_instance_size_stats_instance_date
    ON instance_size_stats (instance_id, collected_date) WHERE is_deleted = FALSE;
CREATE INDEX ix_instance_size_stats_date ON instance_size_stats (collected_date);
CREATE TABLE instance_size_stats_default PARTITION OF instance_size_stats DEFAULT;

-- The months first, so each row is written once, straight into its month.
SELECT dbfleet_partition_daily(t.parent, m.month)
FROM (VALUES ('database_size_stats'), ('instance_size_stats')) AS t (parent)
CROSS JOIN (
    SELECT DISTINCT date_trunc('month', collected_date)::DATE AS month
    FROM database_size_stats_unpartitioned
    UNION
    SELECT date_trunc('month', collected_date)::DATE FROM instance_size_stats_unpartitioned
    UNION
    SELECT date_trunc('month', now())::DATE
) AS m;

INSERT INTO database_size_stats SELECT * FROM database_size_stats_unpartitioned;
INSERT INTO instance_size_stats SELECT * FROM instance_size_stats_unpartitioned;

-- Every role keeps the rights it had on the old tables (above all the
-- data-only role the other processes connect as): the partitioned tables
-- are new objects, and rights on a partitioned table cover its partitions.
DO $$
DECLARE
    g RECORD;
BEGIN
    FOR g IN
        SELECT replace(c.relname, '_unpartitioned', '') AS target, a.privilege_type AS privilege,
               CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END AS grantee
        FROM pg_class c
        CROSS JOIN LATERAL aclexplode(c.relacl) AS a
        LEFT JOIN pg_roles r ON r.oid = a.grantee
        WHERE c.oid IN ('database_size_stats_unpartitioned'::regclass,
                        'instance_size_stats_unpartitioned'::regclass)
          AND a.grantee <> c.relowner
    LOOP
        EXECUTE format('GRANT %s ON %I TO %s', g.privilege, g.target, g.grantee);
    END LOOP;
END
$$;

DROP TABLE database_size_stats_unpartitioned;
DROP TABLE instance_size_stats_unpartitioned;

-- What retention finds by date.
CREATE INDEX ix_unmeasured_databases_date ON unmeasured_databases (collected_date);
CREATE INDEX ix_table_sizes_date ON table_sizes (collected_date);
CREATE INDEX ix_batches_finished ON batches (finished_at);
-- What a schedule checks every second: a running batch of its kind.
CREATE INDEX ix_batches_running_kind ON batches (kind) WHERE status = 'running';
