//! The job rows of a fold, set-wise: a group of results costs the same few
//! statements whatever its size.
//!
//! Contract: the stored rows of the group's jobs are read in one statement,
//! each result is then decided in the group's order with [`fold`] against
//! the row as the results before it left it (so a group ends exactly where
//! folding its results one by one does), and only each job's last winning
//! result is written: the rows that existed in one `UPDATE … FROM`, the
//! rows of jobs enqueued alone in one `INSERT … SELECT`, both taking their
//! rows from one JSON parameter ([`super::dialect::Dialect::rows`]). Two
//! statements per result made the fold round-trip bound; this keeps it
//! bound by the batch lock only. `results.rs` runs it under that lock.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::db::{args, Row, Tx};
use super::dialect::{json_time, Column, Kind};
use super::fold::{fold, Counters, Slot, State};
use super::{Error, FinishedJob, Result, Tally};
use crate::domain::{BatchId, JobId};

/// What a group's fold writes: the batch's counters after it, and each
/// changed job's last winning result, split by whether its row existed.
#[derive(Debug)]
pub(super) struct Outcome<'a> {
    pub counters: Counters,
    pub updates: Vec<&'a FinishedJob>,
    pub inserts: Vec<&'a FinishedJob>,
}

impl Outcome<'_> {
    pub(super) fn changed(&self) -> bool {
        !(self.updates.is_empty() && self.inserts.is_empty())
    }
}

/// Decide a group of results of one batch, in order, against the rows
/// stored before it (`stored`, by job, all of that batch): each result
/// sees the effect of the ones before it on its job.
pub(super) fn decide<'a>(
    counters: Counters,
    stored: &HashMap<JobId, Slot>,
    jobs: &[&'a FinishedJob],
) -> Outcome<'a> {
    let mut current: HashMap<JobId, Option<Slot>> = HashMap::new();
    let mut winners: Vec<&'a FinishedJob> = Vec::new();
    let mut at: HashMap<JobId, usize> = HashMap::new();
    let mut counters = counters;
    for &job in jobs {
        let slot = current
            .entry(job.job_id)
            .or_insert_with(|| stored.get(&job.job_id).cloned());
        let new = Slot::of(job);
        let Some(next) = fold(&counters, slot.as_ref(), &new) else {
            continue;
        };
        (counters, *slot) = (next, Some(new));
        match at.get(&job.job_id) {
            Some(&i) => winners[i] = job,
            None => {
                at.insert(job.job_id, winners.len());
                winners.push(job);
            }
        }
    }
    let (updates, inserts) = winners
        .into_iter()
        .partition(|job| stored.contains_key(&job.job_id));
    Outcome {
        counters,
        updates,
        inserts,
    }
}

/// The bulk rows of a list of job ids.
const IDS: [Column; 1] = [column("job_id", Kind::Uuid)];

/// The stored rows of `jobs`, all named batch `named`, in one statement. A
/// job belongs to one batch for good: a row of another is a conflict.
pub(super) async fn stored_rows(
    tx: &mut Tx,
    jobs: &[&FinishedJob],
    named: BatchId,
) -> Result<HashMap<JobId, Slot>> {
    let sql = format!(
        "SELECT job_id, batch_id, status, finished_at, warnings, tally FROM batch_jobs \
         WHERE job_id IN (SELECT t.job_id FROM {})",
        tx.dialect().rows(1, &IDS)
    );
    let ids: Value = jobs
        .iter()
        .map(|job| serde_json::json!({ "job_id": job.job_id }))
        .collect();
    let rows = tx.fetch_all(&sql, args![ids]).await?;
    rows.iter()
        .map(|row| {
            let id = JobId(row.uuid("job_id")?);
            Ok((id, slot_of(row, id, named)?))
        })
        .collect()
}

/// A stored job row as the fold sees it, once it is known to belong to
/// batch `named`.
pub(super) fn slot_of(row: &Row, id: JobId, named: BatchId) -> Result<Slot> {
    let batch = BatchId(row.uuid("batch_id")?);
    if batch != named {
        return Err(Error::Conflict(format!(
            "job {id} belongs to batch {batch}, not {named}"
        )));
    }
    let status: String = row.get("status")?;
    Ok(Slot {
        state: State::parse(&status)?,
        finished_at: row.get("finished_at")?,
        warned: warned(row)?,
        tally: tally(row)?,
    })
}

pub(super) fn warned(row: &Row) -> Result<bool> {
    Ok(matches!(row.json("warnings")?, Some(Value::Array(w)) if !w.is_empty()))
}

pub(super) fn tally(row: &Row) -> Result<Tally> {
    Tally::from_json(row.json("tally")?)
        .map_err(|e| Error::Conflict(format!("corrupt job tally: {e}")))
}

const fn column(name: &'static str, kind: Kind) -> Column {
    Column { name, kind }
}

/// The bulk rows of results: what a job row takes from its result.
const RESULTS: [Column; 14] = [
    column("job_id", Kind::Uuid),
    column("instance_id", Kind::Int),
    column("kind", Kind::Text),
    column("target", Kind::Text),
    column("status", Kind::Text),
    column("error_class", Kind::Text),
    column("error_message", Kind::Text),
    column("output", Kind::Json),
    column("warnings", Kind::Json),
    column("tally", Kind::Json),
    column("attempt", Kind::Int),
    column("worker", Kind::Text),
    column("started_at", Kind::Time),
    column("finished_at", Kind::Time),
];

/// Write the winning results of jobs that have a row, in one statement.
pub(super) async fn update_rows(
    tx: &mut Tx,
    jobs: &[&FinishedJob],
    now: DateTime<Utc>,
) -> Result<()> {
    if jobs.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "UPDATE batch_jobs SET status = t.status, error_class = t.error_class, \
             error_message = t.error_message, output = t.output, warnings = t.warnings, \
             tally = t.tally, attempt = t.attempt, worker = t.worker, \
             started_at = t.started_at, finished_at = t.finished_at, updated_at = $2 \
         FROM {} WHERE batch_jobs.job_id = t.job_id",
        tx.dialect().rows(1, &RESULTS)
    );
    tx.execute(&sql, args![result_rows(jobs), now]).await?;
    Ok(())
}

/// The first rows of jobs the dispatcher never created (jobs enqueued
/// alone), in one statement; a job's deadline is when it ended. A job
/// naming an instance the store does not know keeps a NULL `instance_id`
/// and its own target, or the id as target.
pub(super) async fn insert_rows(
    tx: &mut Tx,
    batch: BatchId,
    jobs: &[&FinishedJob],
    now: DateTime<Utc>,
) -> Result<()> {
    if jobs.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO batch_jobs (job_id, batch_id, instance_id, kind, target, status, \
             error_class, error_message, output, warnings, tally, attempt, worker, deadline, \
             started_at, finished_at, updated_at) \
         SELECT t.job_id, $2, i.id, t.kind, coalesce(i.name, t.target), t.status, \
             t.error_class, t.error_message, t.output, t.warnings, t.tally, t.attempt, \
             t.worker, t.finished_at, t.started_at, t.finished_at, $3 \
         FROM {} LEFT JOIN instances i ON i.id = t.instance_id",
        tx.dialect().rows(1, &RESULTS)
    );
    tx.execute(&sql, args![result_rows(jobs), batch, now])
        .await?;
    Ok(())
}

/// The JSON rows of [`RESULTS`].
fn result_rows(jobs: &[&FinishedJob]) -> Value {
    jobs.iter().map(|job| result_row(job)).collect()
}

fn result_row(job: &FinishedJob) -> Value {
    let error = job.error.as_ref();
    let target = match (&job.target, job.instance_id) {
        (target, _) if !target.is_empty() => target.clone(),
        (_, Some(id)) => format!("instance id {id}"),
        (_, None) => String::new(),
    };
    serde_json::json!({
        "job_id": job.job_id,
        "instance_id": job.instance_id,
        "kind": job.kind,
        "target": target,
        "status": job.status.as_str(),
        "error_class": error.map(|e| e.class.as_str()),
        "error_message": error.map(|e| e.message.as_str()),
        "output": job.output,
        "warnings": job.warnings,
        "tally": job.tally.to_json(),
        "attempt": attempt(job),
        "worker": job.worker,
        "started_at": json_time(job.started_at),
        "finished_at": json_time(job.finished_at),
    })
}

/// PostgreSQL keeps `attempt` as `integer`.
fn attempt(job: &FinishedJob) -> i64 {
    i64::from(job.attempt).min(i64::from(i32::MAX))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::message::JobStatus;

    /// A result of job `job`: succeeded or failed, at `minute`, with
    /// `records` in its tally.
    fn result(job: JobId, ok: bool, minute: u32, records: i64) -> FinishedJob {
        let at = Utc.with_ymd_and_hms(2026, 3, 1, 12, minute, 0).unwrap();
        FinishedJob {
            job_id: job,
            batch_id: BatchId(uuid::Uuid::nil()),
            kind: "probe".into(),
            instance_id: None,
            target: String::new(),
            requested_by: None,
            status: if ok {
                JobStatus::Succeeded
            } else {
                JobStatus::Failed
            },
            error: None,
            warnings: Vec::new(),
            output: None,
            tally: Tally::from_pairs([("records", records)]),
            attempt: 1,
            worker: "w".into(),
            started_at: at,
            finished_at: at,
        }
    }

    fn pending() -> Slot {
        Slot {
            state: State::Pending,
            finished_at: None,
            warned: false,
            tally: Tally::default(),
        }
    }

    /// The counters of folding `jobs` one by one, as a single-result group
    /// each would.
    fn one_by_one(
        mut counters: Counters,
        stored: &HashMap<JobId, Slot>,
        jobs: &[&FinishedJob],
    ) -> Counters {
        let mut stored = stored.clone();
        for &job in jobs {
            if let Some(next) = fold(&counters, stored.get(&job.job_id), &Slot::of(job)) {
                counters = next;
                stored.insert(job.job_id, Slot::of(job));
            }
        }
        counters
    }

    /// Jobs a, b and c pending, and a group of results of a, b and a job
    /// with no row: duplicates, an older result after a newer one, and a
    /// failure then a success.
    fn group() -> (HashMap<JobId, Slot>, [FinishedJob; 5]) {
        let (a, b, c, alone) = (JobId::new(), JobId::new(), JobId::new(), JobId::new());
        let stored = HashMap::from([(a, pending()), (b, pending()), (c, pending())]);
        let results = [
            result(a, true, 5, 9),
            result(a, true, 10, 4),
            result(b, false, 10, 0),
            result(b, true, 30, 2),
            result(alone, true, 11, 3),
        ];
        (stored, results)
    }

    fn counters() -> Counters {
        Counters {
            total: 3,
            pending: 3,
            ..Counters::default()
        }
    }

    #[test]
    fn a_group_ends_where_its_results_one_by_one_do() {
        let (stored, [a_old, a_new, b_failed, b_ok, lone]) = group();
        let group = [
            &a_old, &b_failed, &a_new, &lone, &b_ok, &a_old, &a_new, &lone,
        ];
        let outcome = decide(counters(), &stored, &group);
        let c = &outcome.counters;
        assert_eq!(*c, one_by_one(counters(), &stored, &group));
        let found = (c.total, c.pending, c.succeeded, c.summary.get("records"));
        assert_eq!(found, (4, 1, 3, 9));
    }

    #[test]
    fn each_job_is_written_once_with_its_last_winning_result() {
        let (stored, [a_old, a_new, b_failed, b_ok, lone]) = group();
        let group = [
            &a_old, &b_failed, &a_new, &lone, &b_ok, &a_old, &a_new, &lone,
        ];
        let outcome = decide(counters(), &stored, &group);
        let ends = |jobs: &[&FinishedJob]| -> Vec<(JobId, DateTime<Utc>)> {
            jobs.iter().map(|j| (j.job_id, j.finished_at)).collect()
        };
        assert_eq!(ends(&outcome.updates), ends(&[&a_new, &b_ok]));
        assert_eq!(ends(&outcome.inserts), ends(&[&lone]));
        // Once written, nothing of the group wins again.
        let written = [&a_new, &b_ok, &lone].map(|j| (j.job_id, Slot::of(j)));
        let again = decide(outcome.counters.clone(), &HashMap::from(written), &group);
        assert!(!again.changed());
        assert_eq!(again.counters, outcome.counters);
    }
}
