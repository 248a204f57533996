//! The control store: instances, credentials references, inventory, daily
//! stats and batches.
//!
//! One trait, [`Store`], with one backend per database; the rest of the
//! program holds an `Arc<dyn Store>` and never sees SQL. Only this module
//! imports `sqlx` for the control store.

mod postgres;
mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use secrecy::ExposeSecret;
use serde::Serialize;

use crate::config::StoreSettings;
use crate::domain::{BatchId, DbType, InstanceId, InstanceName, JobId};
use crate::inventory::{InventoryPlan, InventoryRecord};
use crate::message::{JobError, JobResult};
use crate::secret::PasswordRef;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("control store: {0}")]
    Database(#[from] sqlx::Error),
    #[error("control store migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
    #[error("unsupported store URL scheme; expected postgres://… or sqlite:…")]
    UnsupportedUrl,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A registered instance, as the worker needs it.
#[derive(Debug, Clone, Serialize)]
pub struct Instance {
    pub id: InstanceId,
    pub name: InstanceName,
    pub db_type: DbType,
    pub host: String,
    pub port: u16,
    pub database: Option<String>,
    pub username: String,
    pub password: PasswordRef,
    pub is_active: bool,
    /// Declared in the configuration, and so reconciled from it.
    pub managed: bool,
}

/// An instance to register.
#[derive(Debug, Clone)]
pub struct NewInstance {
    pub name: InstanceName,
    pub db_type: DbType,
    pub host: String,
    pub port: u16,
    pub database: Option<String>,
    pub username: String,
    pub password: PasswordRef,
    /// Declared in the configuration (see [`Instance::managed`]).
    pub managed: bool,
}

/// One `database_size_stats` row to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatRow {
    pub database_name: String,
    pub size_mb: i64,
    pub data_size_mb: Option<i64>,
    pub log_size_mb: Option<i64>,
    pub collected_at: DateTime<Utc>,
}

/// One stored `database_size_stats` row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredStat {
    pub database_name: String,
    pub size_mb: i64,
    pub data_size_mb: Option<i64>,
    pub collected_date: NaiveDate,
}

/// One stored `instance_size_stats` row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstanceTotal {
    pub total_size_mb: i64,
    pub database_count: i32,
    pub collected_date: NaiveDate,
}

/// Batch status; terminal once no job is pending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchStatus {
    Running,
    Success,
    PartialSuccess,
    Failed,
}

impl BatchStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            BatchStatus::Running => "running",
            BatchStatus::Success => "success",
            BatchStatus::PartialSuccess => "partial_success",
            BatchStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Running,
            Self::Success,
            Self::PartialSuccess,
            Self::Failed,
        ]
        .into_iter()
        .find(|status| status.as_str() == s)
    }

    pub fn is_terminal(self) -> bool {
        self != BatchStatus::Running
    }

    /// The status implied by job counts. Every job decided and none failed
    /// is success (so is an empty batch); all failed is failed.
    pub fn from_counts(pending: i64, succeeded: i64, failed: i64) -> Self {
        if pending > 0 {
            BatchStatus::Running
        } else if failed == 0 {
            BatchStatus::Success
        } else if succeeded == 0 {
            BatchStatus::Failed
        } else {
            BatchStatus::PartialSuccess
        }
    }
}

/// A batch with its counters, recomputed from its job rows.
#[derive(Debug, Clone, Serialize)]
pub struct Batch {
    pub id: BatchId,
    pub status: BatchStatus,
    pub total: i64,
    pub succeeded: i64,
    pub failed: i64,
    pub total_records: i64,
    pub total_size_mb: i64,
    pub requested_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// One job of a batch, as reported to operators.
#[derive(Debug, Clone, Serialize)]
pub struct JobRow {
    pub job_id: JobId,
    pub instance: String,
    pub instance_id: InstanceId,
    pub status: String,
    pub records: i64,
    pub databases: i64,
    pub total_size_mb: i64,
    pub error: Option<JobError>,
    pub attempt: i64,
    pub worker: Option<String>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// A message the broker could not deliver, kept by the control plane.
#[derive(Debug, Clone, Serialize)]
pub struct DeadLetter {
    pub id: i64,
    /// The job id for jobs.
    pub message_id: Option<String>,
    /// What the body decodes as: `job`, `result` or `unknown`.
    pub kind: String,
    pub reason: String,
    /// The message exactly as it died; never serialized (see `preview`).
    #[serde(skip)]
    pub body: Vec<u8>,
    /// The first [`DeadLetter::PREVIEW_CHARS`] characters of the body, lossy UTF-8.
    pub preview: String,
    pub dead_at: DateTime<Utc>,
    pub replayed_at: Option<DateTime<Utc>>,
}

impl DeadLetter {
    pub const KIND_JOB: &'static str = "job";
    pub const KIND_RESULT: &'static str = "result";
    pub const KIND_UNKNOWN: &'static str = "unknown";
    /// Length of [`DeadLetter::preview`], in characters.
    pub const PREVIEW_CHARS: usize = 200;

    /// The preview of a body: its first characters, invalid UTF-8 replaced.
    pub fn preview_of(body: &[u8]) -> String {
        String::from_utf8_lossy(body)
            .chars()
            .take(Self::PREVIEW_CHARS)
            .collect()
    }
}

/// A job to create with its batch.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub job_id: JobId,
    pub instance_id: InstanceId,
    pub deadline: DateTime<Utc>,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Bring the schema up to date; safe to run from several processes.
    async fn migrate(&self) -> Result<()>;

    async fn add_instance(&self, new: &NewInstance) -> Result<Instance>;
    /// Overwrite an instance's connection settings (and credential reference).
    async fn update_instance(&self, id: InstanceId, new: &NewInstance) -> Result<()>;
    /// Every instance that is not removed, ordered by name.
    async fn list_instances(&self) -> Result<Vec<Instance>>;
    async fn instance(&self, id: InstanceId) -> Result<Option<Instance>>;
    async fn instance_by_name(&self, name: &InstanceName) -> Result<Option<Instance>>;
    /// Returns false when no such instance exists.
    async fn set_instance_active(&self, name: &InstanceName, active: bool) -> Result<bool>;
    /// Soft delete: the instance leaves the registry, its history stays.
    async fn remove_instance(&self, name: &InstanceName) -> Result<bool>;

    async fn inventory(&self, instance: InstanceId) -> Result<Vec<InventoryRecord>>;
    /// Apply an inventory diff atomically.
    async fn apply_inventory(
        &self,
        instance: InstanceId,
        plan: &InventoryPlan,
        today: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<()>;
    /// Upsert one row per (instance, database, date); returns rows written.
    async fn upsert_database_stats(
        &self,
        instance: InstanceId,
        date: NaiveDate,
        rows: &[StatRow],
    ) -> Result<u64>;
    /// Recompute the instance total of `date` from that day's rows of active
    /// (or untracked) databases. `None` when there is no row for that day.
    async fn refresh_instance_total(
        &self,
        instance: InstanceId,
        date: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<Option<InstanceTotal>>;
    async fn database_stats(
        &self,
        instance: InstanceId,
        date: NaiveDate,
    ) -> Result<Vec<StoredStat>>;
    async fn instance_total(
        &self,
        instance: InstanceId,
        date: NaiveDate,
    ) -> Result<Option<InstanceTotal>>;

    /// Create a batch and its pending jobs in one transaction.
    async fn create_batch(
        &self,
        id: BatchId,
        requested_by: Option<&str>,
        jobs: &[NewJob],
    ) -> Result<Batch>;
    /// Fold one result idempotently and return the batch as recomputed.
    async fn record_result(&self, result: &JobResult) -> Result<Batch>;
    /// Fail every pending job whose deadline is before `cutoff`; returns the
    /// batches touched.
    async fn sweep_expired(&self, cutoff: DateTime<Utc>) -> Result<Vec<BatchId>>;
    async fn batch(&self, id: BatchId) -> Result<Option<Batch>>;
    async fn batch_jobs(&self, id: BatchId) -> Result<Vec<JobRow>>;
    async fn list_batches(&self, limit: i64) -> Result<Vec<Batch>>;

    /// Keep a dead letter; returns its id. `kind` is one of the
    /// `DeadLetter::KIND_*` values.
    async fn record_dead_letter(
        &self,
        message_id: Option<&str>,
        kind: &str,
        reason: &str,
        body: &[u8],
    ) -> Result<i64>;
    /// Dead letters, newest first; replayed ones only with `include_replayed`.
    async fn dead_letters(&self, include_replayed: bool, limit: i64) -> Result<Vec<DeadLetter>>;
    /// The dead letters with these ids (replayed or not), by id; unknown ids
    /// are left out.
    async fn dead_letters_by_id(&self, ids: &[i64]) -> Result<Vec<DeadLetter>>;
    /// Stamp these dead letters as replayed at `at`.
    async fn mark_replayed(&self, ids: &[i64], at: DateTime<Utc>) -> Result<()>;

    /// At most one running job per instance: take the lease unless another
    /// job holds an unexpired one (one that expires after `now`). Re-entrant
    /// for the same job, which then moves the expiry to `until`. Returns
    /// whether `job` holds the lease. [`Error::NotFound`] for an instance
    /// that was never registered.
    async fn acquire_lease(
        &self,
        instance: InstanceId,
        job: JobId,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool>;
    /// Release only if `job` holds it; otherwise a no-op.
    async fn release_lease(&self, instance: InstanceId, job: JobId) -> Result<()>;
}

/// Open the store named by the settings.
pub async fn connect(settings: &StoreSettings) -> Result<Arc<dyn Store>> {
    let Some(url) = settings.url.as_ref() else {
        return Err(Error::UnsupportedUrl);
    };
    let url = url.expose_secret();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let store = PostgresStore::connect(url, settings.max_connections).await?;
        Ok(Arc::new(store))
    } else if url.starts_with("sqlite:") {
        let store = SqliteStore::connect(url, settings.max_connections).await?;
        Ok(Arc::new(store))
    } else {
        Err(Error::UnsupportedUrl)
    }
}

#[cfg(test)]
mod tests {
    use super::BatchStatus::{self, *};

    #[test]
    fn batch_status_from_counts() {
        let check = |(p, s, f): (i64, i64, i64), want: BatchStatus| {
            assert_eq!(BatchStatus::from_counts(p, s, f), want, "{p}/{s}/{f}");
        };
        check((0, 0, 0), Success);
        check((1, 0, 0), Running);
        check((1, 5, 5), Running);
        check((0, 3, 0), Success);
        check((0, 2, 1), PartialSuccess);
        check((0, 0, 4), Failed);
    }
}
