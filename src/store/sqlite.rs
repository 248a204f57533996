//! The SQLite control store: one file, for a single-node fleet or tests.
//!
//! Same observable behaviour as [`super::PostgresStore`]; the schema is
//! `migrations/sqlite/0001_control_store.sql`, whose header lists the dialect
//! differences. Two matter here:
//!
//! * Timestamps are written through [`ts`] only: RFC 3339 in UTC with exactly
//!   six fractional digits (PostgreSQL keeps microseconds, truncated), so text
//!   comparison is time comparison. Never bind a `DateTime` directly: sqlx
//!   writes a variable number of fractional digits.
//! * Concurrency: SQLite has one writer. Every multi-statement write runs in a
//!   transaction opened with `BEGIN IMMEDIATE`, which takes the write lock up
//!   front (waiting up to the busy timeout), so two aggregators folding the
//!   same batch serialize and each recomputes from every committed job row:
//!   the role of `FOR UPDATE` on PostgreSQL.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, SubsecRound, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, Sqlite, Transaction};
use uuid::fmt::Hyphenated;
use uuid::Uuid;

use super::{
    Batch, BatchStatus, DeadLetter, Error, Instance, InstanceTotal, JobRow, NewInstance, NewJob,
    Result, StatRow, Store, StoredStat,
};
use crate::domain::{BatchId, InstanceId, InstanceName, JobId};
use crate::inventory::{InventoryPlan, InventoryRecord};
use crate::message::{ErrorClass, JobError, JobResult};
use crate::secret::PasswordRef;

pub struct SqliteStore {
    pool: SqlitePool,
}

const INSTANCE_COLUMNS: &str = "i.id, i.name, i.db_type, i.host, i.port, i.database_name, \
     i.is_active, i.managed, c.username, c.password_source, c.password_ref \
     FROM instances i JOIN credentials c ON c.id = i.credential_id";

const BATCH_COLUMNS: &str = "id, status, total, succeeded, failed, total_records, \
     total_size_mb, requested_by, created_at, finished_at";

type Tx = Transaction<'static, Sqlite>;

impl SqliteStore {
    /// Open (and create if missing) the database file named by a `sqlite:`
    /// URL, creating its directory too.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        create_parent_dir(url, options.get_filename())?;
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// A write transaction holding SQLite's write lock from its first statement.
    async fn write(&self) -> Result<Tx> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }
}

/// `sqlite:data/x.sqlite` needs `data/`; in-memory databases need nothing.
fn create_parent_dir(url: &str, file: &std::path::Path) -> Result<()> {
    let name = file.to_string_lossy();
    if url.contains("mode=memory") || name == ":memory:" || name.starts_with("file:") {
        return Ok(());
    }
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !dir.exists() => {
            std::fs::create_dir_all(dir).map_err(|e| Error::Database(sqlx::Error::Io(e)))
        }
        _ => Ok(()),
    }
}

/// The one timestamp format of this store (see the module documentation).
fn ts(at: DateTime<Utc>) -> String {
    at.trunc_subsecs(6)
        .format("%Y-%m-%dT%H:%M:%S%.6f+00:00")
        .to_string()
}

fn uuid(id: Uuid) -> Hyphenated {
    id.hyphenated()
}

fn get_uuid(row: &SqliteRow, column: &str) -> Result<Uuid> {
    Ok(row.try_get::<Hyphenated, _>(column)?.into_uuid())
}

fn instance_from_row(row: &SqliteRow) -> Result<Instance> {
    let corrupt = |what: String| Error::Conflict(format!("corrupt instance row: {what}"));
    let name: String = row.try_get("name")?;
    let db_type: String = row.try_get("db_type")?;
    let port: i64 = row.try_get("port")?;
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

fn batch_from_row(row: &SqliteRow) -> Result<Batch> {
    let status: String = row.try_get("status")?;
    Ok(Batch {
        id: BatchId(get_uuid(row, "id")?),
        status: BatchStatus::parse(&status)
            .ok_or_else(|| Error::Conflict(format!("unknown batch status `{status}`")))?,
        total: row.try_get("total")?,
        succeeded: row.try_get("succeeded")?,
        failed: row.try_get("failed")?,
        total_records: row.try_get("total_records")?,
        total_size_mb: row.try_get("total_size_mb")?,
        requested_by: row.try_get("requested_by")?,
        created_at: row.try_get("created_at")?,
        finished_at: row.try_get("finished_at")?,
    })
}

fn job_from_row(row: &SqliteRow) -> Result<JobRow> {
    let class: Option<String> = row.try_get("error_class")?;
    let message: Option<String> = row.try_get("error_message")?;
    let error = class.map(|class| JobError {
        class: ErrorClass::parse(&class).unwrap_or(ErrorClass::Internal),
        message: message.unwrap_or_default(),
    });
    Ok(JobRow {
        job_id: JobId(get_uuid(row, "job_id")?),
        instance: row.try_get("name")?,
        instance_id: InstanceId(row.try_get("instance_id")?),
        status: row.try_get("status")?,
        records: row.try_get("records")?,
        databases: row.try_get("databases")?,
        total_size_mb: row.try_get("total_size_mb")?,
        error,
        attempt: row.try_get("attempt")?,
        worker: row.try_get("worker")?,
        finished_at: row.try_get("finished_at")?,
    })
}

fn inventory_from_row(row: &SqliteRow) -> Result<InventoryRecord> {
    Ok(InventoryRecord {
        database_name: row.try_get("database_name")?,
        is_active: row.try_get("is_active")?,
        first_seen_date: row.try_get("first_seen_date")?,
        last_seen_date: row.try_get("last_seen_date")?,
        deleted_at: row.try_get("deleted_at")?,
    })
}

fn total_from_row(row: &SqliteRow) -> Result<InstanceTotal> {
    Ok(InstanceTotal {
        total_size_mb: row.try_get("total_size_mb")?,
        database_count: row.try_get("database_count")?,
        collected_date: row.try_get("collected_date")?,
    })
}

/// Recompute a batch's counters and status from its job rows; the caller
/// holds the write lock (`BEGIN IMMEDIATE`).
async fn recompute(tx: &mut Tx, id: Uuid, now: &str) -> Result<Batch> {
    let row = sqlx::query(
        "SELECT count(*) FILTER (WHERE status = 'pending') AS pending, \
                count(*) FILTER (WHERE status = 'succeeded') AS succeeded, \
                count(*) FILTER (WHERE status = 'failed') AS failed, \
                coalesce(sum(records), 0) AS records, \
                coalesce(sum(total_size_mb), 0) AS size \
         FROM batch_jobs WHERE batch_id = ?1",
    )
    .bind(uuid(id))
    .fetch_one(&mut **tx)
    .await?;
    let (pending, succeeded, failed): (i64, i64, i64) = (
        row.try_get("pending")?,
        row.try_get("succeeded")?,
        row.try_get("failed")?,
    );
    let status = BatchStatus::from_counts(pending, succeeded, failed);
    let row = sqlx::query(&format!(
        "UPDATE batches SET status = ?2, total = ?3, succeeded = ?4, failed = ?5, \
             total_records = ?6, total_size_mb = ?7, updated_at = ?8, \
             finished_at = CASE WHEN ?2 = 'running' THEN NULL ELSE coalesce(finished_at, ?8) END \
         WHERE id = ?1 RETURNING {BATCH_COLUMNS}"
    ))
    .bind(uuid(id))
    .bind(status.as_str())
    .bind(clamp_i32(pending + succeeded + failed))
    .bind(clamp_i32(succeeded))
    .bind(clamp_i32(failed))
    .bind(row.try_get::<i64, _>("records")?)
    .bind(row.try_get::<i64, _>("size")?)
    .bind(now)
    .fetch_one(&mut **tx)
    .await?;
    batch_from_row(&row)
}

const DEAD_LETTER_COLUMNS: &str = "id, message_id, kind, reason, body, dead_at, replayed_at";

fn dead_letter_from_row(row: &SqliteRow) -> Result<DeadLetter> {
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

/// A list of ids as one bind parameter, read back with `json_each(?)`.
fn id_list(ids: &[i64]) -> String {
    let ids: Vec<String> = ids.iter().map(i64::to_string).collect();
    format!("[{}]", ids.join(","))
}

/// PostgreSQL stores these counters as `integer`.
fn clamp_i32(n: impl Into<i64>) -> i64 {
    n.into().min(i64::from(i32::MAX))
}

fn unique_name_conflict(e: sqlx::Error, name: &InstanceName) -> Error {
    match e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            Error::Conflict(format!("an instance named `{name}` already exists"))
        }
        e => e.into(),
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> Result<()> {
        sqlx::migrate!("./migrations/sqlite")
            .run(&self.pool)
            .await?;
        Ok(())
    }

    async fn add_instance(&self, new: &NewInstance) -> Result<Instance> {
        let now = ts(Utc::now());
        let mut tx = self.write().await?;
        let (source, reference) = new.password.to_parts();
        let credential: i64 = sqlx::query_scalar(
            "INSERT INTO credentials (username, password_source, password_ref, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?4) RETURNING id",
        )
        .bind(&new.username)
        .bind(source)
        .bind(reference)
        .bind(&now)
        .fetch_one(&mut *tx)
        .await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO instances (name, db_type, host, port, database_name, credential_id, \
                 managed, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8) RETURNING id",
        )
        .bind(new.name.as_str())
        .bind(new.db_type.as_str())
        .bind(&new.host)
        .bind(i64::from(new.port))
        .bind(&new.database)
        .bind(credential)
        .bind(new.managed)
        .bind(&now)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| unique_name_conflict(e, &new.name))?;
        tx.commit().await?;
        self.instance(InstanceId(id))
            .await?
            .ok_or_else(|| Error::NotFound(format!("instance {id}")))
    }

    async fn update_instance(&self, id: InstanceId, new: &NewInstance) -> Result<()> {
        let now = ts(Utc::now());
        let mut tx = self.write().await?;
        let (source, reference) = new.password.to_parts();
        let credential: Option<i64> = sqlx::query_scalar(
            "UPDATE instances SET db_type = ?2, host = ?3, port = ?4, database_name = ?5, \
                 managed = ?6, updated_at = ?7 \
             WHERE id = ?1 AND deleted_at IS NULL RETURNING credential_id",
        )
        .bind(id.0)
        .bind(new.db_type.as_str())
        .bind(&new.host)
        .bind(i64::from(new.port))
        .bind(&new.database)
        .bind(new.managed)
        .bind(&now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(credential) = credential else {
            return Err(Error::NotFound(format!("instance {id}")));
        };
        sqlx::query(
            "UPDATE credentials SET username = ?2, password_source = ?3, password_ref = ?4, \
                 updated_at = ?5 WHERE id = ?1",
        )
        .bind(credential)
        .bind(&new.username)
        .bind(source)
        .bind(reference)
        .bind(&now)
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
            "SELECT {INSTANCE_COLUMNS} WHERE i.id = ?1 AND i.deleted_at IS NULL"
        ))
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(instance_from_row).transpose()
    }

    async fn instance_by_name(&self, name: &InstanceName) -> Result<Option<Instance>> {
        let row = sqlx::query(&format!(
            "SELECT {INSTANCE_COLUMNS} WHERE i.name = ?1 AND i.deleted_at IS NULL"
        ))
        .bind(name.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(instance_from_row).transpose()
    }

    async fn set_instance_active(&self, name: &InstanceName, active: bool) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE instances SET is_active = ?2, updated_at = ?3 \
             WHERE name = ?1 AND deleted_at IS NULL",
        )
        .bind(name.as_str())
        .bind(active)
        .bind(ts(Utc::now()))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn remove_instance(&self, name: &InstanceName) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE instances SET is_active = 0, deleted_at = ?2, updated_at = ?2 \
             WHERE name = ?1 AND deleted_at IS NULL",
        )
        .bind(name.as_str())
        .bind(ts(Utc::now()))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn inventory(&self, instance: InstanceId) -> Result<Vec<InventoryRecord>> {
        let rows = sqlx::query(
            "SELECT database_name, is_active, first_seen_date, last_seen_date, deleted_at \
             FROM instance_databases WHERE instance_id = ?1 ORDER BY database_name",
        )
        .bind(instance.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(inventory_from_row).collect()
    }

    async fn apply_inventory(
        &self,
        instance: InstanceId,
        plan: &InventoryPlan,
        today: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let now = ts(now);
        let mut tx = self.write().await?;
        // A concurrent run may have inserted the same name: fold it in.
        for name in &plan.created {
            sqlx::query(
                "INSERT INTO instance_databases (instance_id, database_name, is_active, \
                     first_seen_date, last_seen_date, created_at, updated_at) \
                 VALUES (?1, ?2, 1, ?3, ?3, ?4, ?4) \
                 ON CONFLICT (instance_id, database_name) DO UPDATE SET is_active = 1, \
                     deleted_at = NULL, last_seen_date = max(instance_databases.last_seen_date, excluded.last_seen_date), updated_at = ?4",
            )
            .bind(instance.0)
            .bind(name)
            .bind(today)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        }
        for name in plan.refreshed.iter().chain(&plan.reactivated) {
            sqlx::query(
                "UPDATE instance_databases SET is_active = 1, deleted_at = NULL, \
                     last_seen_date = max(last_seen_date, ?3), updated_at = ?4 \
                 WHERE instance_id = ?1 AND database_name = ?2",
            )
            .bind(instance.0)
            .bind(name)
            .bind(today)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        }
        for name in &plan.deactivated {
            sqlx::query(
                "UPDATE instance_databases SET is_active = 0, deleted_at = ?3, updated_at = ?3 \
                 WHERE instance_id = ?1 AND database_name = ?2 AND is_active = 1",
            )
            .bind(instance.0)
            .bind(name)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        }
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
        let now = ts(Utc::now());
        let mut tx = self.write().await?;
        let mut written = 0;
        for row in rows {
            let done = sqlx::query(
                "INSERT INTO database_size_stats (instance_id, database_name, size_mb, \
                     data_size_mb, log_size_mb, collected_date, collected_at, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8) \
                 ON CONFLICT (instance_id, database_name, collected_date) DO UPDATE SET \
                     size_mb = excluded.size_mb, data_size_mb = excluded.data_size_mb, \
                     log_size_mb = excluded.log_size_mb, collected_at = excluded.collected_at, \
                     updated_at = ?8",
            )
            .bind(instance.0)
            .bind(&row.database_name)
            .bind(row.size_mb)
            .bind(row.data_size_mb)
            .bind(row.log_size_mb)
            .bind(date)
            .bind(ts(row.collected_at))
            .bind(&now)
            .execute(&mut *tx)
            .await?;
            written += done.rows_affected();
        }
        tx.commit().await?;
        Ok(written)
    }

    async fn refresh_instance_total(
        &self,
        instance: InstanceId,
        date: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<Option<InstanceTotal>> {
        // `WHERE true` keeps SQLite from reading ON CONFLICT as a join clause.
        let row = sqlx::query(
            "WITH today AS ( \
                 SELECT s.size_mb FROM database_size_stats s \
                 LEFT JOIN instance_databases d \
                   ON d.instance_id = s.instance_id AND d.database_name = s.database_name \
                 WHERE s.instance_id = ?1 AND s.collected_date = ?2 \
                   AND (d.is_active = 1 OR d.id IS NULL)) \
             INSERT INTO instance_size_stats (instance_id, total_size_mb, database_count, \
                 collected_date, collected_at, created_at, updated_at) \
             SELECT ?1, sum(size_mb), count(*), ?2, ?3, ?4, ?4 FROM today WHERE true \
             HAVING count(*) > 0 \
             ON CONFLICT (instance_id, collected_date) WHERE is_deleted = 0 DO UPDATE SET \
                 total_size_mb = excluded.total_size_mb, database_count = excluded.database_count, \
                 collected_at = excluded.collected_at, updated_at = ?4 \
             RETURNING total_size_mb, database_count, collected_date",
        )
        .bind(instance.0)
        .bind(date)
        .bind(ts(now))
        .bind(ts(Utc::now()))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(total_from_row).transpose()
    }

    async fn database_stats(
        &self,
        instance: InstanceId,
        date: NaiveDate,
    ) -> Result<Vec<StoredStat>> {
        let rows = sqlx::query(
            "SELECT database_name, size_mb, data_size_mb, collected_date FROM database_size_stats \
             WHERE instance_id = ?1 AND collected_date = ?2 ORDER BY database_name",
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
             WHERE instance_id = ?1 AND collected_date = ?2 AND is_deleted = 0",
        )
        .bind(instance.0)
        .bind(date)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(total_from_row).transpose()
    }

    async fn create_batch(
        &self,
        id: BatchId,
        requested_by: Option<&str>,
        jobs: &[NewJob],
    ) -> Result<Batch> {
        let mut tx = self.write().await?;
        let now = ts(Utc::now());
        sqlx::query(
            "INSERT INTO batches (id, status, requested_by, created_at, updated_at) \
             VALUES (?1, 'running', ?2, ?3, ?3)",
        )
        .bind(uuid(id.0))
        .bind(requested_by)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        for job in jobs {
            sqlx::query(
                "INSERT INTO batch_jobs (job_id, batch_id, instance_id, status, deadline, updated_at) \
                 VALUES (?1, ?2, ?3, 'pending', ?4, ?5)",
            )
            .bind(uuid(job.job_id.0))
            .bind(uuid(id.0))
            .bind(job.instance_id.0)
            .bind(ts(job.deadline))
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        }
        let batch = recompute(&mut tx, id.0, &now).await?;
        tx.commit().await?;
        Ok(batch)
    }

    async fn record_result(&self, result: &JobResult) -> Result<Batch> {
        let mut tx = self.write().await?;
        let now = ts(Utc::now());
        // A job enqueued by another system may name a batch we never created.
        sqlx::query(
            "INSERT INTO batches (id, status, created_at, updated_at) \
             VALUES (?1, 'running', ?2, ?2) ON CONFLICT (id) DO NOTHING",
        )
        .bind(uuid(result.batch_id.0))
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        let c = &result.counters;
        // Never let an older or failed duplicate overwrite what we know.
        sqlx::query(
            "INSERT INTO batch_jobs AS j (job_id, batch_id, instance_id, status, error_class, \
                 error_message, databases, records, total_size_mb, inventory_created, \
                 inventory_refreshed, inventory_reactivated, inventory_deactivated, attempt, \
                 worker, deadline, started_at, finished_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?17, ?16, \
                 ?17, ?18) \
             ON CONFLICT (job_id) DO UPDATE SET status = excluded.status, \
                 error_class = excluded.error_class, error_message = excluded.error_message, \
                 databases = excluded.databases, records = excluded.records, \
                 total_size_mb = excluded.total_size_mb, inventory_created = excluded.inventory_created, \
                 inventory_refreshed = excluded.inventory_refreshed, \
                 inventory_reactivated = excluded.inventory_reactivated, \
                 inventory_deactivated = excluded.inventory_deactivated, attempt = excluded.attempt, \
                 worker = excluded.worker, started_at = excluded.started_at, \
                 finished_at = excluded.finished_at, updated_at = ?18 \
             WHERE j.status = 'pending' \
                OR (j.status = 'failed' AND excluded.status = 'succeeded') \
                OR (j.status = excluded.status AND excluded.finished_at > j.finished_at)",
        )
        .bind(uuid(result.job_id.0))
        .bind(uuid(result.batch_id.0))
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
        .bind(ts(result.started_at))
        .bind(ts(result.finished_at))
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        let batch = recompute(&mut tx, result.batch_id.0, &now).await?;
        tx.commit().await?;
        Ok(batch)
    }

    async fn sweep_expired(&self, cutoff: DateTime<Utc>) -> Result<Vec<BatchId>> {
        let cutoff = ts(cutoff);
        let batches: Vec<Hyphenated> = sqlx::query_scalar(
            "SELECT DISTINCT batch_id FROM batch_jobs WHERE status = 'pending' AND deadline < ?1",
        )
        .bind(&cutoff)
        .fetch_all(&self.pool)
        .await?;
        let batches: Vec<Uuid> = batches.into_iter().map(Hyphenated::into_uuid).collect();
        for id in &batches {
            let mut tx = self.write().await?;
            let now = ts(Utc::now());
            sqlx::query(
                "UPDATE batch_jobs SET status = 'failed', error_class = 'timeout', \
                     error_message = 'no result before the job deadline', \
                     finished_at = ?3, updated_at = ?3 \
                 WHERE batch_id = ?1 AND status = 'pending' AND deadline < ?2",
            )
            .bind(uuid(*id))
            .bind(&cutoff)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
            recompute(&mut tx, *id, &now).await?;
            tx.commit().await?;
        }
        Ok(batches.into_iter().map(BatchId).collect())
    }

    async fn batch(&self, id: BatchId) -> Result<Option<Batch>> {
        let row = sqlx::query(&format!(
            "SELECT {BATCH_COLUMNS} FROM batches WHERE id = ?1"
        ))
        .bind(uuid(id.0))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(batch_from_row).transpose()
    }

    async fn batch_jobs(&self, id: BatchId) -> Result<Vec<JobRow>> {
        let rows = sqlx::query(
            "SELECT j.job_id, i.name, j.instance_id, j.status, j.records, j.databases, \
                 j.total_size_mb, j.error_class, j.error_message, j.attempt, j.worker, j.finished_at \
             FROM batch_jobs j JOIN instances i ON i.id = j.instance_id \
             WHERE j.batch_id = ?1 ORDER BY i.name, j.job_id",
        )
        .bind(uuid(id.0))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(job_from_row).collect()
    }

    async fn list_batches(&self, limit: i64) -> Result<Vec<Batch>> {
        let rows = sqlx::query(&format!(
            "SELECT {BATCH_COLUMNS} FROM batches ORDER BY created_at DESC, id DESC LIMIT ?1"
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
            "INSERT INTO dead_letters (message_id, kind, reason, body, dead_at) \
             VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
        )
        .bind(message_id)
        .bind(kind)
        .bind(reason)
        .bind(body)
        .bind(ts(Utc::now()))
        .fetch_one(&self.pool)
        .await?;
        Ok(id)
    }

    async fn dead_letters(&self, include_replayed: bool, limit: i64) -> Result<Vec<DeadLetter>> {
        let rows = sqlx::query(&format!(
            "SELECT {DEAD_LETTER_COLUMNS} FROM dead_letters \
             WHERE ?1 OR replayed_at IS NULL ORDER BY dead_at DESC, id DESC LIMIT ?2"
        ))
        .bind(include_replayed)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(dead_letter_from_row).collect()
    }

    async fn dead_letters_by_id(&self, ids: &[i64]) -> Result<Vec<DeadLetter>> {
        let rows = sqlx::query(&format!(
            "SELECT {DEAD_LETTER_COLUMNS} FROM dead_letters \
             WHERE id IN (SELECT value FROM json_each(?1)) ORDER BY id"
        ))
        .bind(id_list(ids))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(dead_letter_from_row).collect()
    }

    async fn mark_replayed(&self, ids: &[i64], at: DateTime<Utc>) -> Result<()> {
        sqlx::query(
            "UPDATE dead_letters SET replayed_at = ?2 \
             WHERE id IN (SELECT value FROM json_each(?1))",
        )
        .bind(id_list(ids))
        .bind(ts(at))
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
        // One statement under the write lock: concurrent acquirers serialize,
        // and each sees the winner's committed lease in the WHERE.
        let mut tx = self.write().await?;
        let taken = sqlx::query(
            "INSERT INTO instance_leases AS l (instance_id, job_id, expires_at, acquired_at) \
             VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (instance_id) DO UPDATE SET job_id = excluded.job_id, \
                 expires_at = excluded.expires_at, \
                 acquired_at = CASE WHEN l.job_id = excluded.job_id THEN l.acquired_at \
                                    ELSE excluded.acquired_at END \
             WHERE l.expires_at < ?4 OR l.job_id = excluded.job_id \
             RETURNING job_id",
        )
        .bind(instance.0)
        .bind(uuid(job.0))
        .bind(ts(until))
        .bind(ts(now))
        .fetch_optional(&mut *tx)
        .await;
        let taken = match taken {
            Ok(row) => row.is_some(),
            Err(sqlx::Error::Database(e)) if e.is_foreign_key_violation() => {
                return Err(Error::NotFound(format!("instance {instance}")));
            }
            Err(e) => return Err(e.into()),
        };
        tx.commit().await?;
        Ok(taken)
    }

    async fn release_lease(&self, instance: InstanceId, job: JobId) -> Result<()> {
        sqlx::query("DELETE FROM instance_leases WHERE instance_id = ?1 AND job_id = ?2")
            .bind(instance.0)
            .bind(uuid(job.0))
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
