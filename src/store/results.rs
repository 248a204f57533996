//! Folding job ends into their batch, in the database: results, and the
//! deadline sweep.
//!
//! Contract: idempotent, and the batch counters move only with job rows,
//! in the same write transaction: lock the batch row, read the old job rows,
//! decide with [`fold`] (`fold.rs`), write the rows, write the counters,
//! status and `finished_at`. The fold is set-wise (`fold_rows.rs`): a group
//! of results of one batch reads its job rows in one statement and writes
//! them in one more (and one for jobs without a row), whatever its size,
//! and ends where folding its results one by one would. A result for a
//! batch that does not exist creates it (jobs enqueued alone by other
//! systems), and a job row naming an instance the store does not know keeps
//! a NULL `instance_id` with the id as `target`. A job belongs to the batch
//! it was first stored in: a result naming another batch is a
//! [`Error::Conflict`].

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::batches::{batch_from_row, BATCH_COLUMNS};
use super::db::{args, Tx};
use super::fold::{fold, Counters, Slot, State};
use super::fold_rows::{decide, insert_rows, slot_of, stored_rows, tally, update_rows, warned};
use super::{Batch, BatchStatus, Batches, Error, FinishedJob, Result, Tally};
use crate::domain::{BatchId, JobId};

/// A pending job past what bounds it, at `$1`: its batch's deadline while
/// no worker started it, its lease once one did (a worker that runs it
/// renews nothing, so an expired lease means the worker died or hung).
const EXPIRED: &str = "status = 'pending' AND CASE WHEN started_at IS NULL THEN deadline \
     ELSE coalesce(lease_expires_at, deadline) END < $1";

/// Why the sweeper failed a job.
const NOT_STARTED: &str = "no result: no worker started the job before the batch deadline";
const LEASE_RAN_OUT: &str =
    "no result: its worker stopped reporting and its lease ran out (the worker died or hung)";

/// A batch just before and just after one job's end was folded into it.
/// Equal when the fold changed nothing (a duplicate, an older result).
#[derive(Debug, Clone)]
pub struct Folded {
    pub before: Batch,
    pub after: Batch,
}

impl Folded {
    /// Whether this fold brought the batch its first finished job.
    pub fn first_result(&self) -> bool {
        let done = |b: &Batch| b.succeeded + b.failed;
        done(&self.before) == 0 && done(&self.after) > 0
    }

    /// Whether this fold ended the batch.
    pub fn ended(&self) -> bool {
        !self.before.status.is_terminal() && self.after.status.is_terminal()
    }
}

impl Batches<'_> {
    /// Fold one job's end idempotently; returns its batch as it now stands.
    pub async fn record_result(&self, job: &FinishedJob) -> Result<Batch> {
        Ok(self.fold_result(job).await?.after)
    }

    /// [`Batches::record_result`], returning the batch before the fold
    /// too (read under the same lock: no extra query).
    pub async fn fold_result(&self, job: &FinishedJob) -> Result<Folded> {
        let mut folded = self.record_results(std::slice::from_ref(job)).await?;
        folded
            .pop()
            .ok_or_else(|| Error::NotFound(format!("batch {}", job.batch_id)))
    }

    /// Fold several job ends in one transaction, each idempotently as
    /// [`Batches::record_result`] would; returns each batch touched once,
    /// before and after. Batches are locked in id order, so two folders
    /// never wait on each other in a cycle. One bad result fails them all:
    /// fold the rest one by one then.
    pub async fn record_results(&self, jobs: &[FinishedJob]) -> Result<Vec<Folded>> {
        let now = Utc::now();
        let mut by_batch: BTreeMap<BatchId, Vec<&FinishedJob>> = BTreeMap::new();
        for job in jobs {
            by_batch.entry(job.batch_id).or_default().push(job);
        }
        let mut tx = self.db.write().await?;
        let mut folded = Vec::with_capacity(by_batch.len());
        for (id, jobs) in by_batch {
            folded.push(fold_into(&mut tx, id, &jobs, now).await?);
        }
        tx.commit().await?;
        Ok(folded)
    }

    /// Fail (class `timeout`) every pending job that no worker started
    /// before its batch's deadline, and every started one whose lease ran
    /// out, both before `cutoff`; returns the batches touched.
    pub async fn sweep_expired(&self, cutoff: DateTime<Utc>) -> Result<Vec<BatchId>> {
        let rows = self
            .db
            .fetch_all(
                &format!("SELECT DISTINCT batch_id FROM batch_jobs WHERE {EXPIRED}"),
                args![cutoff],
            )
            .await?;
        let batches: Vec<BatchId> = rows
            .iter()
            .map(|row| row.uuid("batch_id").map(BatchId))
            .collect::<Result<_>>()?;
        for id in &batches {
            self.time_out(*id, cutoff).await?;
        }
        Ok(batches)
    }

    /// Fail the expired pending jobs of one batch, under its lock.
    async fn time_out(&self, id: BatchId, cutoff: DateTime<Utc>) -> Result<()> {
        let now = Utc::now();
        let mut tx = self.db.write().await?;
        let batch = lock(&mut tx, id).await?;
        let expired = tx
            .fetch_all(
                &format!(
                    "UPDATE batch_jobs SET status = 'failed', error_class = 'timeout', \
                         error_message = CASE WHEN started_at IS NULL \
                             THEN '{NOT_STARTED}' ELSE '{LEASE_RAN_OUT}' END, \
                         finished_at = $3, updated_at = $3 \
                     WHERE batch_id = $1 AND {} RETURNING warnings, tally",
                    EXPIRED.replace("$1", "$2")
                ),
                args![id, cutoff, now],
            )
            .await?;
        let mut counters = Counters::of(&batch);
        for row in &expired {
            let old = Slot {
                state: State::Pending,
                finished_at: None,
                warned: warned(row)?,
                tally: tally(row)?,
            };
            let new = Slot {
                state: State::Failed,
                finished_at: Some(now),
                ..old.clone()
            };
            counters = fold(&counters, Some(&old), &new).unwrap_or(counters);
        }
        save(&mut tx, &batch, counters, now).await?;
        tx.commit().await
    }
}

/// Fold `jobs`, all of batch `id`, into it: its counters move with each job
/// row that changes, and are written once, as are the rows.
async fn fold_into(
    tx: &mut Tx,
    id: BatchId,
    jobs: &[&FinishedJob],
    now: DateTime<Utc>,
) -> Result<Folded> {
    // A job enqueued alone by another system names a batch we never
    // created; its summary starts with the job's counters, at zero.
    let before = match jobs.first() {
        Some(first) => {
            let new_batch = NewBatch {
                id,
                kind: &first.kind,
                requested_by: first.requested_by.as_deref(),
                summary: &first.tally,
            };
            lock_or_create(tx, &new_batch, now).await?
        }
        None => lock(tx, id).await?,
    };
    let stored = stored_rows(tx, jobs, id).await?;
    let outcome = decide(Counters::of(&before), &stored, jobs);
    if !outcome.changed() {
        return Ok(Folded {
            after: before.clone(),
            before,
        });
    }
    update_rows(tx, &outcome.updates, now).await?;
    insert_rows(tx, id, &outcome.inserts, now).await?;
    let after = save(tx, &before, outcome.counters, now).await?;
    Ok(Folded { before, after })
}

/// A batch a job names, which may not exist: a job enqueued alone by
/// another system makes its own.
pub(super) struct NewBatch<'a> {
    pub id: BatchId,
    pub kind: &'a str,
    pub requested_by: Option<&'a str>,
    /// Counters the batch's summary starts with, each at zero.
    pub summary: &'a Tally,
}

/// Create the batch unless it exists.
async fn ensure_batch(tx: &mut Tx, batch: &NewBatch<'_>, now: DateTime<Utc>) -> Result<()> {
    tx.execute(
        "INSERT INTO batches (id, kind, status, requested_by, summary, created_at, updated_at) \
         VALUES ($1, $2, 'running', $3, $4, $5, $5) ON CONFLICT (id) DO NOTHING",
        args![
            batch.id,
            batch.kind,
            batch.requested_by,
            batch.summary.zeroed().to_json(),
            now
        ],
    )
    .await?;
    Ok(())
}

/// [`lock`] the batch `new` names, made first if it does not exist (a job
/// enqueued alone): one statement for a batch that exists, as nearly all
/// do. Two transactions making the same batch at once both get it: the
/// second's insert waits for the first's and does nothing.
pub(super) async fn lock_or_create(
    tx: &mut Tx,
    new: &NewBatch<'_>,
    now: DateTime<Utc>,
) -> Result<Batch> {
    match lock(tx, new.id).await {
        Err(Error::NotFound(_)) => {
            ensure_batch(tx, new, now).await?;
            lock(tx, new.id).await
        }
        locked => locked,
    }
}

/// Read a batch, locking it for the rest of the transaction.
pub(super) async fn lock(tx: &mut Tx, id: BatchId) -> Result<Batch> {
    let sql = format!(
        "SELECT {BATCH_COLUMNS} FROM batches WHERE id = $1{}",
        tx.dialect().lock_row()
    );
    let row = tx.fetch_optional(&sql, args![id]).await?;
    let row = row.ok_or_else(|| Error::NotFound(format!("batch {id}")))?;
    batch_from_row(&row)
}

/// The stored row of job `id`, if any. A job belongs to one batch for good.
pub(super) async fn stored(tx: &mut Tx, id: JobId, named: BatchId) -> Result<Option<Slot>> {
    let row = tx
        .fetch_optional(
            "SELECT batch_id, status, finished_at, warnings, tally FROM batch_jobs \
             WHERE job_id = $1",
            args![id],
        )
        .await?;
    row.map(|row| slot_of(&row, id, named)).transpose()
}

/// Write a locked batch's new counters, status and `finished_at` (kept from
/// the first time the batch ended).
pub(super) async fn save(
    tx: &mut Tx,
    batch: &Batch,
    c: Counters,
    now: DateTime<Utc>,
) -> Result<Batch> {
    let status = BatchStatus::from_counts(c.pending, c.succeeded, c.failed);
    let finished_at = status
        .is_terminal()
        .then(|| batch.finished_at.unwrap_or(now));
    let sql = format!(
        "UPDATE batches SET status = $2, total = $3, pending = $4, succeeded = $5, failed = $6, \
             warned = $7, summary = $8, updated_at = $9, finished_at = $10 \
         WHERE id = $1 RETURNING {BATCH_COLUMNS}"
    );
    let args = args![
        batch.id,
        status.as_str(),
        c.total,
        c.pending,
        c.succeeded,
        c.failed,
        c.warned,
        c.summary.to_json(),
        now,
        finished_at
    ];
    let saved = batch_from_row(&tx.fetch_one(&sql, args).await?)?;
    tx.moves_batch();
    Ok(saved)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(pending: i64, succeeded: i64, failed: i64) -> Batch {
        Batch {
            id: BatchId::new(),
            kind: "probe".into(),
            status: BatchStatus::from_counts(pending, succeeded, failed),
            total: pending + succeeded + failed,
            pending,
            succeeded,
            failed,
            warned: 0,
            summary: Tally::default(),
            requested_by: None,
            selector: None,
            created_at: Utc::now(),
            finished_at: None,
        }
    }

    #[test]
    fn milestones_are_told_by_the_fold_that_made_them() {
        let check = |before: Batch, after: Batch, first: bool, ended: bool| {
            let folded = Folded { before, after };
            let found = (folded.first_result(), folded.ended());
            assert_eq!(found, (first, ended), "{folded:?}");
        };
        check(batch(3, 0, 0), batch(2, 1, 0), true, false);
        check(batch(2, 1, 0), batch(1, 1, 1), false, false);
        check(batch(1, 1, 1), batch(0, 2, 1), false, true);
        check(batch(1, 0, 0), batch(0, 0, 1), true, true);
        // A duplicate changes nothing, so it tells nothing.
        check(batch(2, 1, 0), batch(2, 1, 0), false, false);
        check(batch(0, 2, 1), batch(0, 2, 1), false, false);
        // A success replacing a failure moves no milestone.
        check(batch(0, 0, 1), batch(0, 1, 0), false, false);
    }
}
