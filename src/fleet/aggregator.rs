//! The aggregator: what a result adds to its batch ([`finished_job`], folded
//! by `folder.rs`), the dead-letter queue folded into the control store, and
//! the sweeper of jobs that never report.
//!
//! Folding is idempotent (one row per job; a job's counters move only when
//! its row changes state), so any number of `dbfleet serve` replicas may
//! fold, and a redelivered or duplicated result changes nothing. The sweeper
//! is what makes every batch end: a job lost with its worker fails with
//! class `timeout` once its deadline has passed. A job that dies on the
//! dead-letter queue does not wait for its deadline: [`run_dead_letters`]
//! fails it at once, and keeps the message for `dbfleet dlq` to list and
//! replay.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use crate::broker::consume::{consume, Consume, Slot};
use crate::broker::{Broker, Delivery, Disposition, Queue, REASON_HEADER};
use crate::jobs;
use crate::message::{ErrorClass, JobError, JobMessage, JobOutput, JobResult};
use crate::store::{DeadLetter, FinishedJob, Store};

/// Time a worker has after a job's deadline to get its own (timeout) result
/// in before the sweeper writes one.
pub const SWEEP_GRACE: Duration = Duration::from_secs(30);

/// Dead letters the dead-letter consumer holds at once (its prefetch).
pub const DEAD_LETTER_PREFETCH: u16 = 50;

/// Header RabbitMQ sets on a message it dead-letters itself
/// (`delivery_limit`, `rejected`, `expired`, `maxlen`): the first time.
pub const BROKER_REASON_HEADER: &str = "x-first-death-reason";

/// The reason of the latest death, set by RabbitMQ 3.13 and later. A job
/// that went through a delayed-retry queue died there first (`expired`), so
/// this one, when present, is the reason it reached the dead queue.
pub const BROKER_LAST_REASON_HEADER: &str = "x-last-death-reason";

/// Worker name of the failed result written for a dead-lettered job.
pub const DEAD_LETTER_WORKER: &str = "dead-letter";

/// Deliveries of one dead letter after which a job's failed result is given
/// up on (the message is still kept, and the sweeper ends the batch at the
/// job's deadline): the dead queue has no delivery limit, so a result the
/// store refuses for good must not loop forever.
pub const DEAD_LETTER_RESULT_ATTEMPTS: u32 = 5;

/// Pause before handing a dead letter back after a store error, so a store
/// outage does not spin the dead queue (it has no delivery limit).
const DEAD_LETTER_RETRY_PAUSE: Duration = Duration::from_millis(500);

/// A result as the store folds it: the kind's output and what it adds to
/// the batch's summary. Every fold goes through here. A job without output
/// adds the kind's zero counters, so a batch a lone failure created still
/// shows each of them.
pub fn finished_job(result: &JobResult) -> FinishedJob {
    let tally = match &result.output {
        Some(output) => jobs::tally(output),
        None => jobs::empty_summary(result.kind),
    };
    FinishedJob {
        job_id: result.job_id,
        batch_id: result.batch_id,
        kind: result.kind.as_str().to_string(),
        instance_id: result.instance_id,
        target: result.target.clone(),
        requested_by: result.requested_by.clone(),
        status: result.status,
        error: result.error.clone(),
        warnings: result
            .warnings
            .iter()
            .map(|w| serde_json::json!({"code": w.code, "message": w.message}))
            .collect(),
        output: result.output.as_ref().map(JobOutput::to_json),
        tally,
        attempt: result.attempt,
        worker: result.worker.clone(),
        started_at: result.started_at,
        finished_at: result.finished_at,
    }
}

/// Fold the dead-letter queue into the store until `shutdown`: keep every
/// message, and fail each dead-lettered job so that its batch ends.
pub async fn run_dead_letters(store: Store, broker: Arc<dyn Broker>, shutdown: CancellationToken) {
    let spec = Consume {
        queue: Queue::Dead,
        prefetch: DEAD_LETTER_PREFETCH,
        concurrency: 1,
        drain_timeout: SWEEP_GRACE,
    };
    let handle = |delivery: Delivery, slot: Slot| {
        let store = store.clone();
        async move {
            let disposition = fold_dead_letter(&store, &delivery).await;
            if disposition == Disposition::Retry {
                tokio::select! {
                    _ = slot.abandon.cancelled() => {}
                    _ = tokio::time::sleep(DEAD_LETTER_RETRY_PAUSE) => {}
                }
            }
            if let Err(e) = delivery.settle(disposition).await {
                tracing::warn!(error = %e, "could not settle a dead letter");
            }
        }
    };
    consume(broker.as_ref(), spec, &shutdown, handle).await;
}

/// Why a message was dead-lettered: our reason header, else the broker's own
/// reason (its latest, else its first), else a generic one.
pub fn dead_letter_reason(headers: &BTreeMap<String, String>) -> String {
    if let Some(reason) = headers.get(REASON_HEADER) {
        return reason.clone();
    }
    let broker = headers
        .get(BROKER_LAST_REASON_HEADER)
        .or_else(|| headers.get(BROKER_REASON_HEADER));
    match broker {
        Some(reason) => format!("broker: {reason}"),
        None => "dead-lettered by the broker".to_string(),
    }
}

/// What a dead letter's body is: a job, a result, or neither.
pub enum DeadBody {
    Job(Box<JobMessage>),
    Result(Box<JobResult>),
    Unknown,
}

impl DeadBody {
    pub fn decode(body: &[u8]) -> Self {
        if let Ok(job) = JobMessage::decode(body) {
            DeadBody::Job(Box::new(job))
        } else if let Ok(result) = JobResult::decode(body) {
            DeadBody::Result(Box::new(result))
        } else {
            DeadBody::Unknown
        }
    }

    /// The `kind` stored with the dead letter.
    pub fn kind(&self) -> &'static str {
        match self {
            DeadBody::Job(_) => DeadLetter::KIND_JOB,
            DeadBody::Result(_) => DeadLetter::KIND_RESULT,
            DeadBody::Unknown => DeadLetter::KIND_UNKNOWN,
        }
    }
}

/// The failed result that ends a dead-lettered job. It is failed, so the
/// store never lets it overwrite a success.
pub fn dead_letter_result(job: &JobMessage, reason: &str, attempt: u32) -> JobResult {
    let error = JobError::new(ErrorClass::Internal, format!("dead-lettered: {reason}"));
    JobResult::failed(job, error, attempt, DEAD_LETTER_WORKER)
}

/// The one place that decides what happens to a dead letter. The job's
/// failed result goes first: it is idempotent, so a retry after the dead
/// letter could not be kept only folds it again, and the dead letter is
/// kept once.
async fn fold_dead_letter(store: &Store, delivery: &Delivery) -> Disposition {
    let meta = &delivery.meta;
    let reason = dead_letter_reason(&meta.headers);
    let body = DeadBody::decode(&meta.body);
    let message_id = match &body {
        DeadBody::Job(job) => Some(job.job_id.to_string()),
        _ => meta.message_id.clone().filter(|id| !id.is_empty()),
    };
    if let DeadBody::Job(job) = &body {
        let result = dead_letter_result(job, &reason, meta.attempt);
        match store.batches().fold_result(&finished_job(&result)).await {
            Ok(folded) => {
                let batch_id = folded.after.id;
                tracing::warn!(job_id = %job.job_id, %batch_id, %reason, "dead-lettered job failed");
                super::folder::log_milestone(&folded);
            }
            Err(e) if meta.attempt < DEAD_LETTER_RESULT_ATTEMPTS => {
                tracing::warn!(error = %e, job_id = %job.job_id, "dead-lettered job not failed; retrying");
                return Disposition::Retry;
            }
            Err(e) => {
                tracing::error!(
                    error = %e, job_id = %job.job_id, attempt = meta.attempt,
                    "giving up failing a dead-lettered job; the sweeper fails it at its deadline"
                );
            }
        }
    }
    let kept = store
        .dead_letters()
        .record(message_id.as_deref(), body.kind(), &reason, &meta.body)
        .await;
    match kept {
        Ok(id) => {
            tracing::info!(id, kind = body.kind(), %reason, "dead letter kept");
            Disposition::Ack
        }
        Err(e) => {
            tracing::warn!(error = %e, "dead letter not kept; it will be redelivered");
            Disposition::Retry
        }
    }
}

/// Fail overdue jobs every `interval` until `shutdown`.
pub async fn sweep(store: Store, interval: Duration, grace: Duration, shutdown: CancellationToken) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let cutoff = Utc::now() - chrono::Duration::from_std(grace).unwrap_or_default();
        match store.batches().sweep_expired(cutoff).await {
            Ok(batches) if !batches.is_empty() => {
                tracing::warn!(
                    batches = batches.len(),
                    "failed jobs that never reported by their deadline"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "sweep failed; retrying next tick"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{InstanceId, JobId};
    use crate::message::{capacity_sync, InstanceRef, JobParams, JobStatus, Target};

    fn headers(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn dead_letter_reason_prefers_ours_then_the_brokers() {
        let ours = headers(&[
            (REASON_HEADER, "bad json"),
            (BROKER_REASON_HEADER, "rejected"),
        ]);
        assert_eq!(dead_letter_reason(&ours), "bad json");
        let broker = headers(&[(BROKER_REASON_HEADER, "delivery_limit")]);
        assert_eq!(dead_letter_reason(&broker), "broker: delivery_limit");
        // Expired from a retry queue first, then over the delivery limit.
        let twice = headers(&[
            (BROKER_REASON_HEADER, "expired"),
            (BROKER_LAST_REASON_HEADER, "delivery_limit"),
        ]);
        assert_eq!(dead_letter_reason(&twice), "broker: delivery_limit");
        assert_eq!(
            dead_letter_reason(&headers(&[("x-other", "1")])),
            "dead-lettered by the broker"
        );
    }

    #[test]
    fn dead_bodies_are_classified_by_what_they_decode_as() {
        let job = JobMessage::new(
            JobId::new(),
            None,
            Target::Instance(InstanceRef::Id(InstanceId(7))),
            JobParams::CapacitySync(capacity_sync::Params {}),
            Utc::now(),
            None,
        );
        assert_eq!(DeadBody::decode(&job.encode()).kind(), "job");
        let result = dead_letter_result(&job, "why", 3);
        assert_eq!(DeadBody::decode(&result.encode()).kind(), "result");
        assert_eq!(DeadBody::decode(b"not json").kind(), "unknown");
        assert_eq!(DeadBody::decode(b"{}").kind(), "unknown");

        assert_eq!(result.status, JobStatus::Failed);
        assert_eq!(result.attempt, 3);
        assert_eq!(result.worker, DEAD_LETTER_WORKER);
        assert_eq!(
            result.error,
            Some(JobError {
                class: ErrorClass::Internal,
                message: "dead-lettered: why".into()
            })
        );
        let folded = finished_job(&result);
        assert_eq!(folded.output, None);
        assert_eq!(folded.tally, jobs::empty_summary(result.kind));
        assert_eq!(folded.tally.get("total_records"), 0);
    }
}
