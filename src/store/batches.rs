//! Batches and their jobs, for every job kind.
//!
//! Contract: a batch is created with all its jobs in one transaction (the
//! jobs in one bulk statement); its counters (`total`, `pending`,
//! `succeeded`, `failed`, `warned`) and `summary` always describe its job
//! rows, because they change only in the transaction that changes a job row
//! (see `fold.rs`: results, and the deadline sweep). The store does not know
//! job kinds: a job's output and what it adds to the batch summary are JSON
//! the caller builds ([`super::FinishedJob`]).

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::db::{args, Db, Row, Tx};
use super::dialect::{json_time, Column, Kind};
use super::{Error, Result, Tally};
use crate::domain::{BatchId, InstanceId, JobId};
use crate::message::{ErrorClass, JobError};

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

/// A batch with its counters.
#[derive(Debug, Clone, Serialize)]
pub struct Batch {
    pub id: BatchId,
    pub kind: String,
    pub status: BatchStatus,
    pub total: i64,
    pub pending: i64,
    pub succeeded: i64,
    pub failed: i64,
    /// Jobs that ended with warnings.
    pub warned: i64,
    /// The kind's folded counters, at the top level of the JSON (e.g.
    /// `total_records`).
    #[serde(flatten)]
    pub summary: Tally,
    pub requested_by: Option<String>,
    /// The label selector that chose the batch's instances, if one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// Who started a batch and how its targets were chosen, recorded with it.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub requested_by: Option<String>,
    /// The label selector, normalised (`Selector`'s display).
    pub selector: Option<String>,
    /// The jobs' parameters (JSON), when they are not the kind's defaults.
    pub params: Option<String>,
}

impl Origin {
    /// A batch requested by `who`, over instances chosen otherwise than by
    /// a selector.
    pub fn by(who: &str) -> Self {
        Self {
            requested_by: Some(who.to_string()),
            ..Self::default()
        }
    }
}

/// A job to create with its batch.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub job_id: JobId,
    pub instance_id: Option<InstanceId>,
    /// What the job runs on, for people (the instance name).
    pub target: String,
    pub deadline: DateTime<Utc>,
}

/// One job of a batch, as reported to operators.
#[derive(Debug, Clone, Serialize)]
pub struct JobRow {
    pub job_id: JobId,
    /// The instance's name, or the job's `target` when the instance is unknown.
    pub instance: String,
    pub instance_id: Option<InstanceId>,
    pub kind: String,
    /// `pending`, `running` (a worker started it), `succeeded`, `failed`
    /// or `cancelled` (its batch was cancelled before a worker started it).
    pub status: String,
    pub error: Option<JobError>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Value>,
    /// The kind's output; empty when the job produced none.
    #[serde(flatten)]
    pub output: Map<String, Value>,
    pub attempt: i64,
    pub worker: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl JobRow {
    /// An integer field of the output (0 when absent), e.g. `records`.
    pub fn count(&self, key: &str) -> i64 {
        self.output.get(key).and_then(Value::as_i64).unwrap_or(0)
    }
}

/// The batches of a store ([`super::Store::batches`]). Folding results and
/// the deadline sweep are in `fold.rs`.
pub struct Batches<'a> {
    pub(super) db: &'a Db,
}

pub(super) const BATCH_COLUMNS: &str = "id, kind, status, total, pending, succeeded, failed, \
     warned, summary, requested_by, selector, created_at, finished_at";

const JOB_ROWS: [Column; 4] = [
    Column {
        name: "job_id",
        kind: Kind::Uuid,
    },
    Column {
        name: "instance_id",
        kind: Kind::Int,
    },
    Column {
        name: "target",
        kind: Kind::Text,
    },
    Column {
        name: "deadline",
        kind: Kind::Time,
    },
];

fn job_rows(jobs: &[NewJob]) -> Value {
    jobs.iter()
        .map(|job| {
            json!({
                "job_id": job.job_id,
                "instance_id": job.instance_id,
                "target": job.target,
                "deadline": json_time(job.deadline),
            })
        })
        .collect()
}

impl Batches<'_> {
    /// Create a batch and its pending jobs in one transaction. `summary` is
    /// the kind's zero tally, so an empty batch shows its counters as 0.
    pub async fn create(
        &self,
        id: BatchId,
        kind: &str,
        origin: &Origin,
        jobs: &[NewJob],
        summary: &Tally,
    ) -> Result<Batch> {
        let mut tx = self.db.write().await?;
        let batch = create(&mut tx, id, kind, origin, jobs, summary).await?;
        tx.commit().await?;
        Ok(batch)
    }

    pub async fn get(&self, id: BatchId) -> Result<Option<Batch>> {
        let sql = format!("SELECT {BATCH_COLUMNS} FROM batches WHERE id = $1");
        let row = self.db.fetch_optional(&sql, args![id]).await?;
        row.as_ref().map(batch_from_row).transpose()
    }

    /// The jobs of a batch, by instance name.
    pub async fn jobs(&self, id: BatchId) -> Result<Vec<JobRow>> {
        let rows = self
            .db
            .fetch_all(
                "SELECT j.job_id, coalesce(i.name, j.target) AS instance, j.instance_id, j.kind, \
                     CASE WHEN j.status = 'pending' AND j.started_at IS NOT NULL \
                         THEN 'running' WHEN j.error_class = 'cancelled' THEN 'cancelled' \
                         ELSE j.status END AS status, j.error_class, j.error_message, j.warnings, j.output, j.attempt, \
                     j.worker, j.started_at, j.finished_at \
                 FROM batch_jobs j LEFT JOIN instances i ON i.id = j.instance_id \
                 WHERE j.batch_id = $1 ORDER BY instance, j.job_id",
                args![id],
            )
            .await?;
        rows.iter().map(job_from_row).collect()
    }

    /// The jobs' parameters `id` was started with (JSON); `None` when they
    /// were the kind's defaults, or the batch is unknown.
    pub async fn params(&self, id: BatchId) -> Result<Option<String>> {
        let row = self
            .db
            .fetch_optional("SELECT params FROM batches WHERE id = $1", args![id])
            .await?;
        Ok(row
            .map(|r| r.get::<Option<String>>("params"))
            .transpose()?
            .flatten())
    }

    /// The newest batches first.
    pub async fn list(&self, limit: i64) -> Result<Vec<Batch>> {
        let sql = format!(
            "SELECT {BATCH_COLUMNS} FROM batches ORDER BY created_at DESC, id DESC LIMIT $1"
        );
        let rows = self.db.fetch_all(&sql, args![limit]).await?;
        rows.iter().map(batch_from_row).collect()
    }

    /// Up to `limit` batches, newest first, from just after the batch
    /// `after` (the last one of the previous page) when given. Keyed on
    /// (`created_at`, `id`), so batches started meanwhile never shift a
    /// page; a cursor batch that does not exist gives an empty page.
    pub async fn page(&self, limit: i64, after: Option<BatchId>) -> Result<Vec<Batch>> {
        let Some(after) = after else {
            return self.list(limit).await;
        };
        let sql = format!(
            "SELECT {BATCH_COLUMNS} FROM batches b WHERE EXISTS ( \
                 SELECT 1 FROM batches c WHERE c.id = $1 AND (b.created_at < c.created_at \
                     OR (b.created_at = c.created_at AND b.id < c.id))) \
             ORDER BY created_at DESC, id DESC LIMIT $2"
        );
        let rows = self.db.fetch_all(&sql, args![after, limit]).await?;
        rows.iter().map(batch_from_row).collect()
    }
}

/// [`Batches::create`] inside a write transaction of the caller's.
pub(super) async fn create(
    tx: &mut Tx,
    id: BatchId,
    kind: &str,
    origin: &Origin,
    jobs: &[NewJob],
    summary: &Tally,
) -> Result<Batch> {
    let now = Utc::now();
    let total = i64::try_from(jobs.len()).unwrap_or(i64::MAX);
    let status = BatchStatus::from_counts(total, 0, 0);
    let finished_at = status.is_terminal().then_some(now);
    let sql = format!(
        "INSERT INTO batches (id, kind, status, requested_by, selector, total, pending, \
                 succeeded, failed, warned, summary, created_at, updated_at, finished_at, params) \
             VALUES ($1, $2, $3, $4, $5, $6, $6, 0, 0, 0, $7, $8, $8, $9, $10) \
             RETURNING {BATCH_COLUMNS}"
    );
    let args = args![
        id,
        kind,
        status.as_str(),
        origin.requested_by.as_deref(),
        origin.selector.as_deref(),
        total,
        summary.to_json(),
        now,
        finished_at,
        origin.params.as_deref()
    ];
    let batch = batch_from_row(&tx.fetch_one(&sql, args).await?)?;
    insert_jobs(tx, &batch, jobs, now).await?;
    Ok(batch)
}

/// The pending jobs of a new batch, in one statement.
async fn insert_jobs(
    tx: &mut Tx,
    batch: &Batch,
    jobs: &[NewJob],
    now: DateTime<Utc>,
) -> Result<()> {
    let sql = format!(
        "INSERT INTO batch_jobs (job_id, batch_id, instance_id, kind, target, status, \
             deadline, updated_at) \
         SELECT t.job_id, $1, t.instance_id, $2, t.target, 'pending', t.deadline, $3 FROM {}",
        tx.dialect().rows(4, &JOB_ROWS)
    );
    let args = args![batch.id, batch.kind.as_str(), now, job_rows(jobs)];
    tx.execute(&sql, args).await?;
    Ok(())
}

pub(super) fn batch_from_row(row: &Row) -> Result<Batch> {
    let status: String = row.get("status")?;
    Ok(Batch {
        id: BatchId(row.uuid("id")?),
        kind: row.get("kind")?,
        status: BatchStatus::parse(&status)
            .ok_or_else(|| Error::Conflict(format!("unknown batch status `{status}`")))?,
        total: row.int("total")?,
        pending: row.int("pending")?,
        succeeded: row.int("succeeded")?,
        failed: row.int("failed")?,
        warned: row.int("warned")?,
        summary: Tally::from_json(row.json("summary")?)
            .map_err(|e| Error::Conflict(format!("corrupt batch summary: {e}")))?,
        requested_by: row.get("requested_by")?,
        selector: row.get("selector")?,
        created_at: row.get("created_at")?,
        finished_at: row.get("finished_at")?,
    })
}

fn job_from_row(row: &Row) -> Result<JobRow> {
    let class: Option<String> = row.get("error_class")?;
    let message: Option<String> = row.get("error_message")?;
    // A cancelled job's row is `failed` with class `cancelled`, which is no
    // job error class: its status says it all.
    let class = class.filter(|class| class != super::cancel::CANCELLED);
    let error = class.map(|class| JobError {
        class: ErrorClass::parse(&class).unwrap_or(ErrorClass::Internal),
        message: message.unwrap_or_default(),
    });
    let warnings = match row.json("warnings")? {
        Some(Value::Array(warnings)) => warnings,
        _ => Vec::new(),
    };
    // An output that is not an object is kept under its own key.
    let output = match row.json("output")? {
        Some(Value::Object(output)) => output,
        Some(other) => Map::from_iter([("output".to_string(), other)]),
        None => Map::new(),
    };
    Ok(JobRow {
        job_id: JobId(row.uuid("job_id")?),
        instance: row.get("instance")?,
        instance_id: row.opt_int("instance_id")?.map(InstanceId),
        kind: row.get("kind")?,
        status: row.get("status")?,
        error,
        warnings,
        output,
        attempt: row.int("attempt")?,
        worker: row.get("worker")?,
        started_at: row.get("started_at")?,
        finished_at: row.get("finished_at")?,
    })
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
