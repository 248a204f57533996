//! Cancelling a batch: its jobs no worker has started end at once, the
//! ones running finish.
//!
//! Contract: in one transaction under the batch lock, every pending job
//! without a start record becomes `failed` with class `cancelled` (job
//! listings show it as status `cancelled`), and the batch's counters move
//! with the rows, as for any job's end: a cancelled job counts among the
//! failed, so a batch cancelled before anything ran ends `failed`. A
//! worker that then receives such a job finds it ended and cancelled
//! (`Runs::start` answers [`super::Start::Cancelled`]) and does not run it;
//! a batch already ended is left as it is.

use chrono::Utc;

use super::db::{args, Tx};
use super::fold::Counters;
use super::results::{lock, save};
use super::{Batch, Batches, Result};
use crate::domain::{BatchId, JobId};

/// The `error_class` of a cancelled job's row.
pub(super) const CANCELLED: &str = "cancelled";

/// What [`Batches::cancel`] did.
#[derive(Debug, Clone)]
pub enum Cancel {
    /// The batch as it stands now, and how many jobs were cancelled.
    Cancelled { batch: Batch, jobs: i64 },
    /// The batch had already ended; nothing changed.
    Finished(Batch),
}

impl Batches<'_> {
    /// Cancel batch `id`'s jobs that no worker has started; `who` is kept
    /// in their error message.
    pub async fn cancel(&self, id: BatchId, who: &str) -> Result<Cancel> {
        let mut tx = self.db.write().await?;
        let batch = lock(&mut tx, id).await?;
        if batch.status.is_terminal() {
            return Ok(Cancel::Finished(batch));
        }
        let now = Utc::now();
        let jobs = tx
            .execute(
                "UPDATE batch_jobs SET status = 'failed', error_class = $2, error_message = $3, \
                     finished_at = $4, updated_at = $4 \
                 WHERE batch_id = $1 AND status = 'pending' AND started_at IS NULL",
                args![id, CANCELLED, format!("cancelled by {who}"), now],
            )
            .await?;
        let jobs = i64::try_from(jobs).unwrap_or(i64::MAX);
        let mut counters = Counters::of(&batch);
        counters.pending -= jobs;
        counters.failed += jobs;
        let batch = save(&mut tx, &batch, counters, now).await?;
        tx.commit().await?;
        Ok(Cancel::Cancelled { batch, jobs })
    }
}

/// Whether job `id` was cancelled (before any worker started it).
pub(super) async fn is_cancelled(tx: &mut Tx, id: JobId) -> Result<bool> {
    let row = tx
        .fetch_optional(
            "SELECT 1 AS one FROM batch_jobs WHERE job_id = $1 AND error_class = $2",
            args![id, CANCELLED],
        )
        .await?;
    Ok(row.is_some())
}
