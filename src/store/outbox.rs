//! Jobs published later: the later jobs of a batch spread over a time
//! window, parked until their time.
//!
//! Contract: a parked job is written in its batch's own transaction
//! ([`park`]), so every job of a batch is either published by its
//! dispatcher or parked here; the control plane publishes what is
//! [`Outbox::claim_due`] and deletes each row only after the broker
//! confirmed it ([`Outbox::published`]). Rows are claimed as they are read,
//! so two control planes never publish the same job; a claim expires, so
//! the job of a control plane that died between claim and confirm is
//! published by another (the only way a parked job goes out twice). A job
//! no longer pending (its batch cancelled, swept) is never published: its
//! row is dropped instead.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::db::{args, Db, Row, Tx};
use super::dialect::{json_time, Column, Kind};
use super::{Batch, NewJob, Origin, Result, Tally};
use crate::domain::{BatchId, JobId};

/// A job waiting for its time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parked {
    pub job_id: JobId,
    pub batch_id: BatchId,
    pub publish_at: DateTime<Utc>,
    /// Published to the interactive lane.
    pub interactive: bool,
    /// The network zone of its instance; `None`: the default.
    pub zone: Option<String>,
    /// The job message as it will be published.
    pub body: Vec<u8>,
}

impl super::Batches<'_> {
    /// [`super::Batches::create`], with the jobs of `parked` kept back
    /// until their time, in the same transaction.
    pub async fn create_parked(
        &self,
        id: BatchId,
        kind: &str,
        origin: &Origin,
        jobs: &[NewJob],
        summary: &Tally,
        parked: &[Parked],
    ) -> Result<Batch> {
        let mut tx = self.db.write().await?;
        let batch = super::batches::create(&mut tx, id, kind, origin, jobs, summary).await?;
        park(&mut tx, parked).await?;
        tx.commit().await?;
        Ok(batch)
    }
}

/// The parked jobs of a store ([`super::Store::outbox`]).
pub struct Outbox<'a> {
    pub(super) db: &'a Db,
}

impl Outbox<'_> {
    /// Claim up to `limit` jobs whose time has come by `now`, earliest
    /// first, until `now + claim` (when another control plane may take
    /// them); rows of jobs no longer pending are dropped first. The claim
    /// is checked again on the row it updates, so of two control planes
    /// claiming at once, each row goes to one.
    pub async fn claim_due(
        &self,
        now: DateTime<Utc>,
        claim: chrono::Duration,
        limit: i64,
    ) -> Result<Vec<Parked>> {
        self.db
            .execute(
                "DELETE FROM job_outbox WHERE publish_at <= $1 AND EXISTS ( \
                     SELECT 1 FROM batch_jobs b \
                     WHERE b.job_id = job_outbox.job_id AND b.status <> 'pending')",
                args![now],
            )
            .await?;
        let until = now.checked_add_signed(claim).unwrap_or(now);
        let rows = self
            .db
            .write_returning(
                "UPDATE job_outbox SET claimed_until = $2 \
                 WHERE job_id IN (SELECT job_id FROM job_outbox \
                         WHERE publish_at <= $1 AND (claimed_until IS NULL OR claimed_until < $1) \
                         ORDER BY publish_at, job_id LIMIT $3) \
                   AND (claimed_until IS NULL OR claimed_until < $1) \
                 RETURNING job_id, batch_id, publish_at, interactive, zone, body",
                args![now, until, limit],
            )
            .await?;
        let mut parked = rows
            .iter()
            .map(parked_from_row)
            .collect::<Result<Vec<_>>>()?;
        parked.sort_by_key(|p| (p.publish_at, p.job_id.0));
        Ok(parked)
    }

    /// Give up the claim on `job` (its publish failed, or the process
    /// stops): the next look takes it again.
    pub async fn release(&self, job: JobId) -> Result<()> {
        self.db
            .execute(
                "UPDATE job_outbox SET claimed_until = NULL WHERE job_id = $1",
                args![job],
            )
            .await?;
        Ok(())
    }

    /// Job `job`, parked for `publish_at`, is on the broker: it is parked
    /// no more. Only that version goes: a retry parked for the same job
    /// meanwhile (its next attempt, due later) stays.
    pub async fn published(&self, job: JobId, publish_at: DateTime<Utc>) -> Result<()> {
        self.db
            .execute(
                "DELETE FROM job_outbox WHERE job_id = $1 AND publish_at = $2",
                args![job, publish_at],
            )
            .await?;
        Ok(())
    }

    /// How many jobs of batch `batch` are still parked.
    pub async fn waiting(&self, batch: BatchId) -> Result<i64> {
        self.db
            .fetch_one(
                "SELECT count(*) AS n FROM job_outbox WHERE batch_id = $1",
                args![batch],
            )
            .await?
            .int("n")
    }
}

const ROWS: [Column; 6] = [
    Column {
        name: "job_id",
        kind: Kind::Uuid,
    },
    Column {
        name: "batch_id",
        kind: Kind::Uuid,
    },
    Column {
        name: "publish_at",
        kind: Kind::Time,
    },
    Column {
        name: "interactive",
        kind: Kind::Int,
    },
    Column {
        name: "zone",
        kind: Kind::Text,
    },
    Column {
        name: "body",
        kind: Kind::Text,
    },
];

/// Park `jobs` inside the caller's transaction (the batch's own), in one
/// statement.
pub(super) async fn park(tx: &mut Tx, jobs: &[Parked]) -> Result<()> {
    if jobs.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO job_outbox (job_id, batch_id, publish_at, interactive, zone, body) \
         SELECT t.job_id, t.batch_id, t.publish_at, t.interactive, t.zone, t.body FROM {}",
        tx.dialect().rows(1, &ROWS)
    );
    let rows: Value = jobs
        .iter()
        .map(|job| {
            json!({
                "job_id": job.job_id,
                "batch_id": job.batch_id,
                "publish_at": json_time(job.publish_at),
                "interactive": i64::from(job.interactive),
                "zone": job.zone,
                "body": String::from_utf8_lossy(&job.body),
            })
        })
        .collect();
    tx.execute(&sql, args![rows]).await?;
    Ok(())
}

fn parked_from_row(row: &Row) -> Result<Parked> {
    let body: String = row.get("body")?;
    Ok(Parked {
        job_id: JobId(row.uuid("job_id")?),
        batch_id: BatchId(row.uuid("batch_id")?),
        publish_at: row.get("publish_at")?,
        interactive: row.int("interactive")? != 0,
        zone: row.get("zone")?,
        body: body.into_bytes(),
    })
}
