//! The PostgreSQL control store, shared by every process of a fleet.
//!
//! Concurrency: several aggregators may fold results of one batch at once;
//! each fold locks the batch row (`FOR UPDATE`) before touching its jobs, so
//! the recomputed counters always see every committed job row.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, Row, Transaction};
use uuid::Uuid;

use super::{
    Batch, BatchStatus, DeadLetter, Error, Instance, InstanceTotal, JobRow, NewInstance, NewJob,
    Result, StatRow, Store, StoredStat,
};
use crate::domain::{BatchId, InstanceId, InstanceName, JobId};
use crate::inventory::{InventoryPlan, InventoryRecord};
use crate::message::{ErrorClass, JobError, JobResult};
use crate::secret::PasswordRef;

pub struct PostgresStore {
    pool: PgPool,
}

const INSTANCE_COLUMNS: &str = "i.id, i.name, i.db_type, i.host, i.port, i.database_name, \
     i.is_active, i.managed, c.username, c.password_source, c.password_ref \
     FROM instances i JOIN credentials c ON c.id = i.credential_id";

const BATCH_COLUMNS: &str = "id, status, total, succeeded, failed, total_records, \
     total_size_mb, requested_by, created_at, finished_at";

impl PostgresStore {
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect(url)
            .await?;
        Ok(Self { pool })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

fn instance_from_row(row: &PgRow) -> Result<Instance> {
    let corrupt = |what: String| Error::Conflict(format!("corrupt instance row: {what}"));
    let name: String = row.try_get("name")?;
    let db_type: String = row.try_get("db_type")?;
    let port: i32 = row.try_get("port")?;
    let source: String = row.try_get("password_source")?;
    let reference: Option<String> = row.try_get("password_ref")?;
    Ok(Instance {
        id: InstanceId(row.try_get("id")?),
        name: InstanceName::parse(&name).map_err(|e| corrupt(e.to_string()))?,
        db_type: db_type.parse().map_err(|e| corrupt(format!("{e}")))?,
        host: row.try_get("host")?,
        port: u16::try_from(port).map_err(|_| corrupt(format!("port {port}")))?,
        database: row.try_get("database_name")?,
        username: row.try_get("username")?,
        password: PasswordRef::from_parts(&source, reference.as_deref())
            .map_err(|e| corrupt(e.to_string()))?,
        is_active: row.try_get("is_active")?,
        managed: row.try_get("managed")?,
    })
}

fn batch_from_row(row: &PgRow) -> Result<Batch> {
    let status: String = row.try_get("status")?;
    Ok(Batch {
        id: BatchId(row.try_get("id")?),
        status: BatchStatus::parse(&status)
            .ok_or_else(|| Error::Conflict(format!("unknown batch status `{status}`")))?,
        total: i64::from(row.try_get::<i32, _>("total")?),
        succeeded: i64::from(row.try_get::<i32, _>("succeeded")?),
        failed: i64::from(row.try_get::<i32, _>("failed")?),
        total_records: row.try_get("total_records")?,
        total_size_mb: row.try_get("total_size_mb")?,
        requested_by: row.try_get("requested_by")?,
        created_at: row.try_get("created_at")?,
        finished_at: row.try_get("finished_at")?,
    })
}

fn job_from_row(row: &PgRow) -> Result<JobRow> {
    let class: Option<String> = row.try_get("error_class")?;
    let message: Option<String> = row.try_get("error_message")?;
    let error = class.map(|class| JobError {
        class: ErrorClass::parse(&class).unwrap_or(ErrorClass::Internal),
        message: message.unwrap_or_default(),
    });
    Ok(JobRow {
        job_id: JobId(row.try_get("job_id")?),
        instance: row.try_get("name")?,
        instance_id: InstanceId(row.try_get("instance_id")?),
        status: row.try_get("status")?,
        records: i64::from(row.try_get::<i32, _>("records")?),
        databases: i64::from(row.try_get::<i32, _>("databases")?),
        total_size_mb: row.try_get("total_size_mb")?,
        error,
        attempt: i64::from(row.try_get::<i32, _>("attempt")?),
        worker: row.try_get("worker")?,
        finished_at: row.try_get("finished_at")?,
    })
}

/// Recompute a locked batch's counters and status from its job rows.
async fn recompute(tx: &mut Transaction<'_, Postgres>, id: Uuid) -> Result<Batch> {
    let row = sqlx::query(
        "SELECT count(*) FILTER (WHERE status = 'pending') AS pending, \
                count(*) FILTER (WHERE status = 'succeeded') AS succeeded, \
                count(*) FILTER (WHERE status = 'failed') AS failed, \
                coalesce(sum(records), 0)::bigint AS records, \
                coalesce(sum(total_size_mb), 0)::bigint AS size \
         FROM batch_jobs WHERE batch_id = $1",
    )
    .bind(id)
    .fetch_one(&mut **tx)
    .await?;
    let (pending, succeeded, failed): (i64, i64, i64) = (
        row.try_get("pending")?,
        row.try_get("succeeded")?,
        row.try_get("failed")?,
    );
    let status = BatchStatus::from_counts(pending, succeeded, failed);
    let row = sqlx::query(&format!(
        "UPDATE batches SET status = $2, total = $3, succeeded = $4, failed = $5, \
             total_records = $6, total_size_mb = $7, updated_at = now(), \
             finished_at = CASE WHEN $2 = 'running' THEN NULL ELSE coalesce(finished_at, now()) END \
         WHERE id = $1 RETURNING {BATCH_COLUMNS}"
    ))
    .bind(id)
    .bind(status.as_str())
    .bind(i32::try_from(pending + succeeded + failed).unwrap_or(i32::MAX))
    .bind(i32::try_from(succeeded).unwrap_or(i32::MAX))
    .bind(i32::try_from(failed).unwrap_or(i32::MAX))
    .bind(row.try_get::<i64, _>("records")?)
    .bind(row.try_get::<i64, _>("size")?)
    .fetch_one(&mut **tx)
    .await?;
    batch_from_row(&row)
}

const DEAD_LETTER_COLUMNS: &str = "id, message_id, kind, reason, body, dead_at, replayed_at";

fn dead_letter_from_row(row: &PgRow) -> Result<DeadLetter> {
    let body: Vec<u8> = row.try_get("body")?;
    Ok(DeadLetter {
        id: row.try_get("id")?,
        message_id: row.try_get("message_id")?,
        kind: row.try_get("kind")?,
        reason: row.try_get("reason")?,
        preview: DeadLetter::preview_of(&body),
        body,
        dead_at: row.try_get("dead_at")?,
        replayed_at: row.try_get("replayed_at")?,
    })
}

fn clamp_i32(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

#[async_trait]
impl Store for PostgresStore {
    async fn migrate(&self) -> Result<()> {
        sqlx::migrate!("./migrations/postgres")
            .run(&self.pool)
            .await?;
        Ok(())
    }

    async fn add_instance(&self, new: &NewInstance) -> Result<Instance> {
        let mut tx = self.pool.begin().await?;
        let (source, reference) = new.password.to_parts();
        let credential: i64 = sqlx::query_scalar(
            "INSERT INTO credentials (username, password_source, password_ref) \
             VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(&new.username)
        .bind(source)
        .bind(reference)
        .fetch_one(&mut *tx)
        .await?;
        let inserted = sqlx::query(
            "INSERT INTO instances (name, db_type, host, port, database_name, credential_id, managed) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(new.name.as_str())
        .bind(new.db_type.as_str())
        .bind(&new.host)
        .bind(i32::from(new.port))
        .bind(&new.database)
        .bind(credential)
        .bind(new.managed)
        .fetch_one(&mut *tx)
        .await;
        let id: i64 = match inserted {
            Ok(row) => row.try_get("id")?,
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(Error::Conflict(format!(
                    "an instance named `{}` already exists",
                    new.name
                )))
            }
            Err(e) => return Err(e.into()),
        };
        tx.commit().await?;
        self.instance(InstanceId(id))
            .await?
            .ok_or_else(|| Error::NotFound(format!("instance {id}")))
    }

    async fn update_instance(&self, id: InstanceId, new: &NewInstance) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let (source, reference) = new.password.to_parts();
        let updated = sqlx::query(
            "UPDATE instances SET db_type = $2, host = $3, port = $4, database_name = $5, \
                 managed = $6, updated_at = now() \
             WHERE id = $1 AND deleted_at IS NULL RETURNING credential_id",
        )
        .bind(id.0)
        .bind(new.db_type.as_str())
        .bind(&new.host)
        .bind(i32::from(new.port))
        .bind(&new.database)
        .bind(new.managed)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = updated else {
            return Err(Error::NotFound(format!("instance {id}")));
        };
        let credential: i64 = row.try_get("credential_id")?;
        sqlx::query(
            "UPDATE credentials SET username = $2, password_source = $3, password_ref = $4, \
                 updated_at = now() WHERE id = $1",
        )
        .bind(credential)
        .bind(&new.username)
        .bind(source)
        .bind(reference)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn list_instances(&self) -> Result<Vec<Instance>> {
        let rows = sqlx::query(&format!(
            "SELECT {INSTANCE_COLUMNS} WHERE i.deleted_at IS NULL ORDER BY i.name"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(instance_from_row).collect()
    }

    async fn instance(&self, id: InstanceId) -> Result<Option<Instance>> {
        let row = sqlx::query(&format!(
            "SELECT {INSTANCE_COLUMNS} WHERE i.id = $1 AND i.deleted_at IS NULL"
        ))
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(instance_from_row).transpose()
    }

    async fn instance_by_name(&self, name: &InstanceName) -> Result<Option<Instance>> {
        let row = sqlx::query(&format!(
            "SELECT {INSTANCE_COLUMNS} WHERE i.name = $1 AND i.deleted_at IS NULL"
        ))
        .bind(name.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(instance_from_row).transpose()
    }

    async fn set_instance_active(&self, name: &InstanceName, active: bool) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE instances SET is_active = $2, updated_at = now() \
             WHERE name = $1 AND deleted_at IS NULL",
        )
        .bind(name.as_str())
        .bind(active)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn remove_instance(&self, name: &InstanceName) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE instances SET is_active = FALSE, deleted_at = now(), updated_at = now() \
             WHERE name = $1 AND deleted_at IS NULL",
        )
        .bind(name.as_str())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn inventory(&self, instance: InstanceId) -> Result<Vec<InventoryRecord>> {
        let rows = sqlx::query(
            "SELECT database_name, is_active, first_seen_date, last_seen_date, deleted_at \
             FROM instance_databases WHERE instance_id = $1 ORDER BY database_name",
        )
        .bind(instance.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(InventoryRecord {
                    database_name: r.try_get("database_name")?,
                    is_active: r.try_get("is_active")?,
                    first_seen_date: r.try_get("first_seen_date")?,
                    last_seen_date: r.try_get("last_seen_date")?,
                    deleted_at: r.try_get("deleted_at")?,
                })
            })
            .collect()
    }

    async fn apply_inventory(
        &self,
        instance: InstanceId,
        plan: &InventoryPlan,
        today: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        // A concurrent run may have inserted the same name: fold it in.
        sqlx::query(
            "INSERT INTO instance_databases \
                 (instance_id, database_name, is_active, first_seen_date, last_seen_date, created_at, updated_at) \
             SELECT $1, name, TRUE, $3, $3, $4, $4 FROM unnest($2::text[]) AS name \
             ON CONFLICT (instance_id, database_name) DO UPDATE \
                 SET is_active = TRUE, deleted_at = NULL, last_seen_date = GREATEST(instance_databases.last_seen_date, EXCLUDED.last_seen_date), updated_at = $4",
        )
        .bind(instance.0)
        .bind(&plan.created)
        .bind(today)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let seen: Vec<&String> = plan.refreshed.iter().chain(&plan.reactivated).collect();
        sqlx::query(
            "UPDATE instance_databases SET is_active = TRUE, deleted_at = NULL, \
                 last_seen_date = GREATEST(last_seen_date, $3), updated_at = $4 \
             WHERE instance_id = $1 AND database_name = ANY($2)",
        )
        .bind(instance.0)
        .bind(seen)
        .bind(today)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE instance_databases SET is_active = FALSE, deleted_at = $3, updated_at = $3 \
             WHERE instance_id = $1 AND database_name = ANY($2) AND is_active",
        )
        .bind(instance.0)
        .bind(&plan.deactivated)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn upsert_database_stats(
        &self,
        instance: InstanceId,
        date: NaiveDate,
        rows: &[StatRow],
    ) -> Result<u64> {
        if rows.is_empty() {
            return Ok(0);
        }
        let names: Vec<&str> = rows.iter().map(|r| r.database_name.as_str()).collect();
        let sizes: Vec<i64> = rows.iter().map(|r| r.size_mb).collect();
        let data: Vec<Option<i64>> = rows.iter().map(|r| r.data_size_mb).collect();
        let logs: Vec<Option<i64>> = rows.iter().map(|r| r.log_size_mb).collect();
        let at: Vec<DateTime<Utc>> = rows.iter().map(|r| r.collected_at).collect();
        let done = sqlx::query(
            "INSERT INTO database_size_stats \
                 (instance_id, database_name, size_mb, data_size_mb, log_size_mb, collected_date, collected_at) \
             SELECT $1, n, s, d, l, $2, a \
             FROM unnest($3::text[], $4::bigint[], $5::bigint[], $6::bigint[], $7::timestamptz[]) AS t(n, s, d, l, a) \
             ON CONFLICT (instance_id, database_name, collected_date) DO UPDATE SET \
                 size_mb = EXCLUDED.size_mb, data_size_mb = EXCLUDED.data_size_mb, \
                 log_size_mb = EXCLUDED.log_size_mb, collected_at = EXCLUDED.collected_at, \
                 updated_at = now()",
        )
        .bind(instance.0)
        .bind(date)
        .bind(names)
        .bind(sizes)
        .bind(data)
        .bind(logs)
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn refresh_instance_total(
        &self,
        instance: InstanceId,
        date: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<Option<InstanceTotal>> {
        let row = sqlx::query(
            "WITH today AS ( \
                 SELECT s.size_mb FROM database_size_stats s \
                 LEFT JOIN instance_databases d \
                   ON d.instance_id = s.instance_id AND d.database_name = s.database_name \
                 WHERE s.instance_id = $1 AND s.collected_date = $2 \
                   AND (d.is_active OR d.id IS NULL)) \
             INSERT INTO instance_size_stats \
                 (instance_id, total_size_mb, database_count, collected_date, collected_at) \
             SELECT $1, sum(size_mb), count(*), $2, $3 FROM today HAVING count(*) > 0 \
             ON CONFLICT (instance_id, collected_date) WHERE is_deleted = FALSE DO UPDATE SET \
                 total_size_mb = EXCLUDED.total_size_mb, database_count = EXCLUDED.database_count, \
                 collected_at = EXCLUDED.collected_at, updated_at = now() \
             RETURNING total_size_mb, database_count, collected_date",
        )
        .bind(instance.0)
        .bind(date)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(InstanceTotal {
                total_size_mb: r.try_get("total_size_mb")?,
                database_count: r.try_get("database_count")?,
                collected_date: r.try_get("collected_date")?,
            })
        })
        .transpose()
    }

    async fn database_stats(
        &self,
        instance: InstanceId,
        date: NaiveDate,
    ) -> Result<Vec<StoredStat>> {
        let rows = sqlx::query(
            "SELECT database_name, size_mb, data_size_mb, collected_date FROM database_size_stats \
             WHERE instance_id = $1 AND collected_date = $2 ORDER BY database_name",
        )
        .bind(instance.0)
        .bind(date)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(StoredStat {
                    database_name: r.try_get("database_name")?,
                    size_mb: r.try_get("size_mb")?,
                    data_size_mb: r.try_get("data_size_mb")?,
                    collected_date: r.try_get("collected_date")?,
                })
            })
            .collect()
    }

    async fn instance_total(
        &self,
        instance: InstanceId,
        date: NaiveDate,
    ) -> Result<Option<InstanceTotal>> {
        let row = sqlx::query(
            "SELECT total_size_mb, database_count, collected_date FROM instance_size_stats \
             WHERE instance_id = $1 AND collected_date = $2 AND NOT is_deleted",
        )
        .bind(instance.0)
        .bind(date)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(InstanceTotal {
                total_size_mb: r.try_get("total_size_mb")?,
                database_count: r.try_get("database_count")?,
                collected_date: r.try_get("collected_date")?,
            })
        })
        .transpose()
    }

    async fn create_batch(
        &self,
        id: BatchId,
        requested_by: Option<&str>,
        jobs: &[NewJob],
    ) -> Result<Batch> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO batches (id, status, requested_by) VALUES ($1, 'running', $2)")
            .bind(id.0)
            .bind(requested_by)
            .execute(&mut *tx)
            .await?;
        let job_ids: Vec<Uuid> = jobs.iter().map(|j| j.job_id.0).collect();
        let instances: Vec<i64> = jobs.iter().map(|j| j.instance_id.0).collect();
        let deadlines: Vec<DateTime<Utc>> = jobs.iter().map(|j| j.deadline).collect();
        sqlx::query(
            "INSERT INTO batch_jobs (job_id, batch_id, instance_id, status, deadline) \
             SELECT j, $1, i, 'pending', d FROM unnest($2::uuid[], $3::bigint[], $4::timestamptz[]) AS t(j, i, d)",
        )
        .bind(id.0)
        .bind(job_ids)
        .bind(instances)
        .bind(deadlines)
        .execute(&mut *tx)
        .await?;
        let batch = recompute(&mut tx, id.0).await?;
        tx.commit().await?;
        Ok(batch)
    }

    async fn record_result(&self, result: &JobResult) -> Result<Batch> {
        let mut tx = self.pool.begin().await?;
        // A job enqueued by another system may name a batch we never created.
        sqlx::query(
            "INSERT INTO batches (id, status) VALUES ($1, 'running') ON CONFLICT (id) DO NOTHING",
        )
        .bind(result.batch_id.0)
        .execute(&mut *tx)
        .await?;
        sqlx::query("SELECT id FROM batches WHERE id = $1 FOR UPDATE")
            .bind(result.batch_id.0)
            .execute(&mut *tx)
            .await?;
        let c = &result.counters;
        // Never let an older or failed duplicate overwrite what we know.
        sqlx::query(
            "INSERT INTO batch_jobs AS j (job_id, batch_id, instance_id, status, error_class, error_message, \
                 databases, records, total_size_mb, inventory_created, inventory_refreshed, \
                 inventory_reactivated, inventory_deactivated, attempt, worker, deadline, started_at, finished_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $17, $16, $17) \
             ON CONFLICT (job_id) DO UPDATE SET status = EXCLUDED.status, \
                 error_class = EXCLUDED.error_class, error_message = EXCLUDED.error_message, \
                 databases = EXCLUDED.databases, records = EXCLUDED.records, \
                 total_size_mb = EXCLUDED.total_size_mb, inventory_created = EXCLUDED.inventory_created, \
                 inventory_refreshed = EXCLUDED.inventory_refreshed, \
                 inventory_reactivated = EXCLUDED.inventory_reactivated, \
                 inventory_deactivated = EXCLUDED.inventory_deactivated, attempt = EXCLUDED.attempt, \
                 worker = EXCLUDED.worker, started_at = EXCLUDED.started_at, \
                 finished_at = EXCLUDED.finished_at, updated_at = now() \
             WHERE j.status = 'pending' \
                OR (j.status = 'failed' AND EXCLUDED.status = 'succeeded') \
                OR (j.status = EXCLUDED.status AND EXCLUDED.finished_at > j.finished_at)",
        )
        .bind(result.job_id.0)
        .bind(result.batch_id.0)
        .bind(result.instance_id.0)
        .bind(result.status.as_str())
        .bind(result.error.as_ref().map(|e| e.class.as_str()))
        .bind(result.error.as_ref().map(|e| e.message.as_str()))
        .bind(clamp_i32(c.databases))
        .bind(clamp_i32(c.records))
        .bind(c.total_size_mb)
        .bind(clamp_i32(c.inventory.created))
        .bind(clamp_i32(c.inventory.refreshed))
        .bind(clamp_i32(c.inventory.reactivated))
        .bind(clamp_i32(c.inventory.deactivated))
        .bind(clamp_i32(result.attempt))
        .bind(&result.worker)
        .bind(result.started_at)
        .bind(result.finished_at)
        .execute(&mut *tx)
        .await?;
        let batch = recompute(&mut tx, result.batch_id.0).await?;
        tx.commit().await?;
        Ok(batch)
    }

    async fn sweep_expired(&self, cutoff: DateTime<Utc>) -> Result<Vec<BatchId>> {
        let batches: Vec<Uuid> = sqlx::query_scalar(
            "SELECT DISTINCT batch_id FROM batch_jobs WHERE status = 'pending' AND deadline < $1",
        )
        .bind(cutoff)
        .fetch_all(&self.pool)
        .await?;
        for id in &batches {
            let mut tx = self.pool.begin().await?;
            sqlx::query("SELECT id FROM batches WHERE id = $1 FOR UPDATE")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE batch_jobs SET status = 'failed', error_class = 'timeout', \
                     error_message = 'no result before the job deadline', \
                     finished_at = now(), updated_at = now() \
                 WHERE batch_id = $1 AND status = 'pending' AND deadline < $2",
            )
            .bind(id)
            .bind(cutoff)
            .execute(&mut *tx)
            .await?;
            recompute(&mut tx, *id).await?;
            tx.commit().await?;
        }
        Ok(batches.into_iter().map(BatchId).collect())
    }

    async fn batch(&self, id: BatchId) -> Result<Option<Batch>> {
        let row = sqlx::query(&format!(
            "SELECT {BATCH_COLUMNS} FROM batches WHERE id = $1"
        ))
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(batch_from_row).transpose()
    }

    async fn batch_jobs(&self, id: BatchId) -> Result<Vec<JobRow>> {
        let rows = sqlx::query(
            "SELECT j.job_id, i.name, j.instance_id, j.status, j.records, j.databases, \
                 j.total_size_mb, j.error_class, j.error_message, j.attempt, j.worker, j.finished_at \
             FROM batch_jobs j JOIN instances i ON i.id = j.instance_id \
             WHERE j.batch_id = $1 ORDER BY i.name, j.job_id",
        )
        .bind(id.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(job_from_row).collect()
    }

    async fn list_batches(&self, limit: i64) -> Result<Vec<Batch>> {
        let rows = sqlx::query(&format!(
            "SELECT {BATCH_COLUMNS} FROM batches ORDER BY created_at DESC, id DESC LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(batch_from_row).collect()
    }

    async fn record_dead_letter(
        &self,
        message_id: Option<&str>,
        kind: &str,
        reason: &str,
        body: &[u8],
    ) -> Result<i64> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO dead_letters (message_id, kind, reason, body) \
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(message_id)
        .bind(kind)
        .bind(reason)
        .bind(body)
        .fetch_one(&self.pool)
        .await?;
        Ok(id)
    }

    async fn dead_letters(&self, include_replayed: bool, limit: i64) -> Result<Vec<DeadLetter>> {
        let rows = sqlx::query(&format!(
            "SELECT {DEAD_LETTER_COLUMNS} FROM dead_letters \
             WHERE $1 OR replayed_at IS NULL ORDER BY dead_at DESC, id DESC LIMIT $2"
        ))
        .bind(include_replayed)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(dead_letter_from_row).collect()
    }

    async fn dead_letters_by_id(&self, ids: &[i64]) -> Result<Vec<DeadLetter>> {
        let rows = sqlx::query(&format!(
            "SELECT {DEAD_LETTER_COLUMNS} FROM dead_letters WHERE id = ANY($1) ORDER BY id"
        ))
        .bind(ids)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(dead_letter_from_row).collect()
    }

    async fn mark_replayed(&self, ids: &[i64], at: DateTime<Utc>) -> Result<()> {
        sqlx::query("UPDATE dead_letters SET replayed_at = $2 WHERE id = ANY($1)")
            .bind(ids)
            .bind(at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn acquire_lease(
        &self,
        instance: InstanceId,
        job: JobId,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        // One statement: concurrent acquirers serialize on the row, and each
        // sees the winner's committed lease in the WHERE of its update.
        let taken = sqlx::query(
            "INSERT INTO instance_leases AS l (instance_id, job_id, expires_at, acquired_at) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (instance_id) DO UPDATE SET job_id = EXCLUDED.job_id, \
                 expires_at = EXCLUDED.expires_at, \
                 acquired_at = CASE WHEN l.job_id = EXCLUDED.job_id THEN l.acquired_at \
                                    ELSE EXCLUDED.acquired_at END \
             WHERE l.expires_at < $4 OR l.job_id = EXCLUDED.job_id \
             RETURNING job_id",
        )
        .bind(instance.0)
        .bind(job.0)
        .bind(until)
        .bind(now)
        .fetch_optional(&self.pool)
        .await;
        match taken {
            Ok(row) => Ok(row.is_some()),
            Err(sqlx::Error::Database(e)) if e.is_foreign_key_violation() => {
                Err(Error::NotFound(format!("instance {instance}")))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn release_lease(&self, instance: InstanceId, job: JobId) -> Result<()> {
        sqlx::query("DELETE FROM instance_leases WHERE instance_id = $1 AND job_id = $2")
            .bind(instance.0)
            .bind(job.0)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
