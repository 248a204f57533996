-- On PostgreSQL this migration partitions the daily size tables by month
-- (read `migrations/postgres/0014_partitioned_daily_stats.sql`). SQLite has
-- no partitions: retention deletes old days in bounded chunks
-- (`store::retention`), found by date through these indexes.

CREATE INDEX ix_unmeasured_databases_date ON unmeasured_databases (collected_date);
CREATE INDEX ix_table_sizes_date ON table_sizes (collected_date);
CREATE INDEX ix_batches_finished ON batches (finished_at);
CREATE INDEX ix_batches_running_kind ON batches (kind) WHERE status = 'running';
