//! The fold's one decision, with no IO: does a job's end replace what its
//! row holds, and what do the batch's counters become?
//!
//! Contract: a result replaces the stored job row when the row is absent or
//! pending, when a success follows a failure, or when it has the stored
//! status and a later `finished_at`; anything else (the same result again,
//! an older or failed duplicate) changes nothing. The counters move by the
//! row's old and new state only, so folding is O(1) per result, and only a
//! succeeded job's tally counts toward the batch summary (a failed result
//! carries none). `results.rs` runs this under the batch lock.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{Batch, Error, Result, Tally};
use crate::domain::{BatchId, InstanceId, JobId};
use crate::message::{JobError, JobStatus};

/// A job's end, as the aggregator folds it. Built from a result message by
/// the caller; the store does not know job kinds.
#[derive(Debug, Clone, PartialEq)]
pub struct FinishedJob {
    pub job_id: JobId,
    pub batch_id: BatchId,
    pub kind: String,
    pub instance_id: Option<InstanceId>,
    /// What the job ran on, for people: kept on a job row the store did not
    /// create, whose instance is unknown (the instance's own name wins).
    pub target: String,
    /// Who asked for the job, kept on a batch the store did not create.
    pub requested_by: Option<String>,
    pub status: JobStatus,
    pub error: Option<JobError>,
    /// Opaque to the store: stored as a JSON array; a job "warned" when
    /// non-empty.
    pub warnings: Vec<Value>,
    /// The kind's output object, stored as JSON.
    pub output: Option<Value>,
    /// What this job adds to the batch summary.
    pub tally: Tally,
    pub attempt: u32,
    pub worker: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
}

/// The status of a job row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    Pending,
    Succeeded,
    Failed,
}

impl State {
    pub(super) fn parse(s: &str) -> Result<Self> {
        match s {
            "pending" => Ok(State::Pending),
            "succeeded" => Ok(State::Succeeded),
            "failed" => Ok(State::Failed),
            other => Err(Error::Conflict(format!("unknown job status `{other}`"))),
        }
    }
}

impl From<JobStatus> for State {
    fn from(status: JobStatus) -> Self {
        match status {
            JobStatus::Succeeded => State::Succeeded,
            JobStatus::Failed => State::Failed,
        }
    }
}

/// A job row as the fold sees it: what is stored, or what a result brings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Slot {
    pub state: State,
    pub finished_at: Option<DateTime<Utc>>,
    pub warned: bool,
    pub tally: Tally,
}

impl Slot {
    pub(super) fn of(job: &FinishedJob) -> Self {
        Slot {
            state: job.status.into(),
            finished_at: Some(job.finished_at),
            warned: !job.warnings.is_empty(),
            tally: job.tally.clone(),
        }
    }
}

/// A batch's counters, as stored on its row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Counters {
    pub total: i64,
    pub pending: i64,
    pub succeeded: i64,
    pub failed: i64,
    pub warned: i64,
    pub summary: Tally,
}

impl Counters {
    pub(super) fn of(batch: &Batch) -> Self {
        Counters {
            total: batch.total,
            pending: batch.pending,
            succeeded: batch.succeeded,
            failed: batch.failed,
            warned: batch.warned,
            summary: batch.summary.clone(),
        }
    }

    fn of_state(&mut self, state: State) -> &mut i64 {
        match state {
            State::Pending => &mut self.pending,
            State::Succeeded => &mut self.succeeded,
            State::Failed => &mut self.failed,
        }
    }

    /// Count a job row in. Only a succeeded row's tally is in the summary.
    fn count_in(&mut self, slot: &Slot) {
        *self.of_state(slot.state) += 1;
        self.warned += i64::from(slot.warned);
        if slot.state == State::Succeeded {
            self.summary.add(&slot.tally);
        }
    }

    /// Count a job row out: the inverse of [`Counters::count_in`].
    fn count_out(&mut self, slot: &Slot) {
        *self.of_state(slot.state) -= 1;
        self.warned -= i64::from(slot.warned);
        if slot.state == State::Succeeded {
            self.summary.sub(&slot.tally);
        }
    }
}

/// Whether a result `new` replaces the stored job row `old`.
fn replaces(old: &Slot, new: &Slot) -> bool {
    match (old.state, new.state) {
        (State::Pending, _) | (State::Failed, State::Succeeded) => true,
        (was, now) if was == now => matches!(
            (old.finished_at, new.finished_at),
            (Some(stored), Some(incoming)) if incoming > stored
        ),
        _ => false,
    }
}

/// The one decision of a fold: does `new` replace the job row `old` (`None`:
/// never stored), and what are the batch's counters then? `None` when
/// nothing changes.
pub(super) fn fold(counters: &Counters, old: Option<&Slot>, new: &Slot) -> Option<Counters> {
    let mut next = counters.clone();
    match old {
        None => next.total += 1,
        Some(old) if replaces(old, new) => next.count_out(old),
        Some(_) => return None,
    }
    next.count_in(new);
    Some(next)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(minute: u32) -> Option<DateTime<Utc>> {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, minute, 0).single()
    }

    /// A job row: its state, when it ended, whether it warned, its records.
    fn slot(state: State, minute: Option<u32>, warned: bool, records: i64) -> Slot {
        Slot {
            state,
            finished_at: minute.and_then(at),
            warned,
            tally: Tally::from_pairs([("records", records)]),
        }
    }

    /// Counters: total, pending, succeeded, failed, warned, summed records.
    fn counters(
        (total, pending, succeeded, failed, warned, records): (i64, i64, i64, i64, i64, i64),
    ) -> Counters {
        Counters {
            total,
            pending,
            succeeded,
            failed,
            warned,
            summary: Tally::from_pairs([("records", records)]),
        }
    }

    #[test]
    fn each_result_moves_the_counters_at_most_once() {
        use State::*;
        // Before: 4 jobs, 1 pending, 2 succeeded (5 records), 1 failed, 1 warned.
        let before = counters((4, 1, 2, 1, 1, 5));
        let check = |old: Option<Slot>, new: Slot, want: Option<(i64, i64, i64, i64, i64, i64)>| {
            let got = fold(&before, old.as_ref(), &new);
            assert_eq!(got, want.map(counters), "{old:?} then {new:?}");
        };
        let absent = None;
        // A new job row counts in, with its tally when it succeeded.
        check(
            absent.clone(),
            slot(Succeeded, Some(10), false, 2),
            Some((5, 1, 3, 1, 1, 7)),
        );
        check(
            absent,
            slot(Failed, Some(10), true, 0),
            Some((5, 1, 2, 2, 2, 5)),
        );
        // A pending row ends.
        let pending = Some(slot(Pending, None, false, 0));
        check(
            pending.clone(),
            slot(Succeeded, Some(10), true, 3),
            Some((4, 0, 3, 1, 2, 8)),
        );
        check(
            pending,
            slot(Failed, Some(10), false, 0),
            Some((4, 0, 2, 2, 1, 5)),
        );
        // A success replaces a failure, even an older success.
        let failed = Some(slot(Failed, Some(10), true, 0));
        check(
            failed.clone(),
            slot(Succeeded, Some(5), false, 4),
            Some((4, 1, 3, 0, 0, 9)),
        );
        // The same status replaces only when later.
        check(
            failed.clone(),
            slot(Failed, Some(20), false, 0),
            Some((4, 1, 2, 1, 0, 5)),
        );
        check(failed, slot(Failed, Some(10), false, 0), None);
        let succeeded = Some(slot(Succeeded, Some(10), false, 3));
        check(
            succeeded.clone(),
            slot(Succeeded, Some(20), true, 8),
            Some((4, 1, 2, 1, 2, 10)),
        );
        check(succeeded.clone(), slot(Succeeded, Some(10), false, 9), None);
        check(succeeded.clone(), slot(Succeeded, Some(5), false, 9), None);
        // A failure never replaces a success, however late.
        check(succeeded, slot(Failed, Some(30), false, 0), None);
        // A failed row's tally never counted, so it is not taken out.
        let failed_with_tally = Some(slot(Failed, Some(10), false, 6));
        check(
            failed_with_tally,
            slot(Succeeded, Some(20), false, 1),
            Some((4, 1, 3, 0, 1, 6)),
        );
        // A stored end without a time is not replaced by the same status.
        check(
            Some(slot(Failed, None, false, 0)),
            slot(Failed, Some(10), false, 0),
            None,
        );
    }
}
