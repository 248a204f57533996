-- Batches and jobs of any kind, not only capacity sync.
--
-- Capacity sync used to be the only job kind, and its counters were columns:
-- `databases`, `records`, `total_size_mb` and `inventory_*` on `batch_jobs`,
-- `total_records` and `total_size_mb` on `batches`. Other kinds are coming
-- (a probe, table sizes, data sync), each with its own output, so:
-- * a batch and a job name their `kind`; existing rows are `capacity_sync`.
--   No default remains: the store always says which kind it writes;
-- * a job keeps its kind's output as JSON (`output`, NULL until a success),
--   the warnings it ended with (`warnings`, a JSON array) and what it adds to
--   its batch's summary (`tally`, a JSON object of integer counters);
-- * a batch keeps `summary`, the sum of its succeeded jobs' tallies, and
--   `pending` and `warned` next to `succeeded` and `failed`. The store moves
--   these counters when a job row changes state, in the same transaction,
--   instead of recounting every job of the batch on each result;
-- * `target` labels a job for people (the instance name), and `instance_id`
--   may be NULL, so a job naming an instance the store does not know can be
--   kept. The foreign key stays for every id that is set.
--
-- Existing rows read as before. `summary` is `{"total_records",
-- "total_size_mb"}` from the old batch columns and `pending` is counted from
-- the jobs. A succeeded job gets its old counters as `output` and
-- `{"total_records": records, "total_size_mb": total_size_mb}` as `tally`
-- (what the old recount summed). Pending and failed jobs get no output and an
-- empty tally: their counters were the zero defaults (a failed result
-- carries none), and that is what the store writes for such rows now.

ALTER TABLE batches
    ADD COLUMN kind    VARCHAR(64) NOT NULL DEFAULT 'capacity_sync',
    ADD COLUMN pending INTEGER     NOT NULL DEFAULT 0,
    ADD COLUMN warned  INTEGER     NOT NULL DEFAULT 0,
    ADD COLUMN summary JSONB       NOT NULL DEFAULT '{}'
                       CHECK (jsonb_typeof(summary) = 'object');

UPDATE batches b SET
    summary = jsonb_build_object('total_records', b.total_records,
                                 'total_size_mb', b.total_size_mb),
    pending = (SELECT count(*) FROM batch_jobs j
               WHERE j.batch_id = b.id AND j.status = 'pending');

ALTER TABLE batches
    ALTER COLUMN kind DROP DEFAULT,
    DROP COLUMN total_records,
    DROP COLUMN total_size_mb;

ALTER TABLE batch_jobs
    ADD COLUMN kind     VARCHAR(64) NOT NULL DEFAULT 'capacity_sync',
    ADD COLUMN target   TEXT        NOT NULL DEFAULT '',
    ADD COLUMN output   JSONB,
    ADD COLUMN warnings JSONB       NOT NULL DEFAULT '[]'
                        CHECK (jsonb_typeof(warnings) = 'array'),
    ADD COLUMN tally    JSONB       NOT NULL DEFAULT '{}'
                        CHECK (jsonb_typeof(tally) = 'object'),
    ALTER COLUMN instance_id DROP NOT NULL;

UPDATE batch_jobs j SET target = i.name FROM instances i WHERE i.id = j.instance_id;

UPDATE batch_jobs SET
    output = jsonb_build_object(
        'databases', databases,
        'records', records,
        'total_size_mb', total_size_mb,
        'inventory', jsonb_build_object(
            'created', inventory_created,
            'refreshed', inventory_refreshed,
            'reactivated', inventory_reactivated,
            'deactivated', inventory_deactivated)),
    tally = jsonb_build_object('total_records', records, 'total_size_mb', total_size_mb)
WHERE status = 'succeeded';

ALTER TABLE batch_jobs
    ALTER COLUMN kind DROP DEFAULT,
    ALTER COLUMN target DROP DEFAULT,
    DROP COLUMN databases,
    DROP COLUMN records,
    DROP COLUMN total_size_mb,
    DROP COLUMN inventory_created,
    DROP COLUMN inventory_refreshed,
    DROP COLUMN inventory_reactivated,
    DROP COLUMN inventory_deactivated;
