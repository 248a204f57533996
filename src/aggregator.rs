//! The aggregator: fold results into batch status, fold the dead-letter queue
//! into the control store, and sweep jobs that never report.
//!
//! Folding is idempotent (one row per job; counters move only when a job row
//! changes), so any number of aggregators may run, and a redelivered or
//! duplicated result changes nothing. [`finished_job`] is the one place a
//! result message becomes what the store folds. The sweeper is what makes
//! every batch end: a job lost with its worker fails with class `timeout`
//! once its deadline has passed.
//! A job that dies on the dead-letter queue does not wait for its deadline:
//! [`run_dead_letters`] fails it at once, and keeps the message for
//! `dbfleet dlq` to list and replay.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use crate::broker::{self, Broker, Delivery, Disposition, Queue, REASON_HEADER};
use crate::message::{ErrorClass, JobCounters, JobError, JobMessage, JobResult, JobStatus};
use crate::store::{DeadLetter, FinishedJob, Store, Tally};

/// Time a worker has after a job's deadline to get its own (timeout) result
/// in before the sweeper writes one.
pub const SWEEP_GRACE: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Broker(#[from] broker::Error),
    #[error("the broker cancelled the results consumer")]
    ConsumerCancelled,
}

/// Dead letters folded at once (the dead-letter consumer's prefetch).
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

/// Fold results until `shutdown`, resubscribing whenever the consumer is
/// lost (a broker restart, a broker-side cancel).
pub async fn run(
    store: Store,
    broker: Arc<dyn Broker>,
    prefetch: u16,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    broker::supervised::consume(
        broker.as_ref(),
        Queue::Results,
        prefetch,
        &shutdown,
        |delivery| fold(&store, delivery),
    )
    .await;
    Ok(())
}

async fn fold(store: &Store, delivery: Delivery) {
    let disposition = match JobResult::decode(&delivery.meta.body) {
        Err(e) => {
            tracing::warn!(reason = %e, "dead-lettering an unreadable result");
            Disposition::DeadLetter(e.to_string())
        }
        Ok(result) => match store.batches().record_result(&finished_job(&result)).await {
            Ok(batch) => {
                tracing::debug!(batch_id = %batch.id, status = batch.status.as_str(), "result folded");
                Disposition::Ack
            }
            Err(e) => {
                tracing::warn!(error = %e, job_id = %result.job_id, "result not folded; it will be redelivered");
                Disposition::Retry
            }
        },
    };
    if let Err(e) = delivery.settle(disposition).await {
        tracing::warn!(error = %e, "could not settle a result");
    }
}

/// Fold the dead-letter queue into the store until `shutdown`: keep every
/// message, and fail each dead-lettered job so that its batch ends.
pub async fn run_dead_letters(
    store: Store,
    broker: Arc<dyn Broker>,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    // Supervised: a dropped connection or a cancelled consumer is
    // re-subscribed with backoff, so this only returns on shutdown.
    let handle = |delivery: Delivery| {
        let (store, shutdown) = (store.clone(), shutdown.clone());
        async move {
            let disposition = fold_dead_letter(&store, &delivery).await;
            if disposition == Disposition::Retry {
                tokio::select! {
                    _ = shutdown.cancelled() => {}
                    _ = tokio::time::sleep(DEAD_LETTER_RETRY_PAUSE) => {}
                }
            }
            if let Err(e) = delivery.settle(disposition).await {
                tracing::warn!(error = %e, "could not settle a dead letter");
            }
        }
    };
    broker::supervised::consume(
        broker.as_ref(),
        Queue::Dead,
        DEAD_LETTER_PREFETCH,
        &shutdown,
        handle,
    )
    .await;
    Ok(())
}

/// Why a message was dead-lettered: our reason header, else the broker's own
/// reason (its latest, else its first), else a generic one.
pub fn dead_letter_reason(headers: &std::collections::BTreeMap<String, String>) -> String {
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

/// The batch summary keys of a capacity sync: records written, and MiB sized.
pub const TOTAL_RECORDS: &str = "total_records";
pub const TOTAL_SIZE_MB: &str = "total_size_mb";

/// What a capacity sync adds to its batch's summary.
pub fn capacity_tally(counters: &JobCounters) -> Tally {
    Tally::from_pairs([
        (TOTAL_RECORDS, i64::from(counters.records)),
        (TOTAL_SIZE_MB, counters.total_size_mb),
    ])
}

/// A result message as the store folds it: the one place that maps a
/// capacity-sync result to a job's output and tally. A success keeps its
/// counters as the output and adds [`capacity_tally`] to the batch; a failure
/// has neither.
pub fn finished_job(result: &JobResult) -> FinishedJob {
    let succeeded = result.status == JobStatus::Succeeded;
    FinishedJob {
        job_id: result.job_id,
        batch_id: result.batch_id,
        kind: result.kind.as_str().to_string(),
        instance_id: Some(result.instance_id),
        status: result.status,
        error: result.error.clone(),
        warnings: Vec::new(),
        // Serializing plain integer counters cannot fail.
        output: succeeded
            .then(|| serde_json::to_value(result.counters).ok())
            .flatten(),
        tally: if succeeded {
            capacity_tally(&result.counters)
        } else {
            Tally::default()
        },
        attempt: result.attempt,
        worker: result.worker.clone(),
        started_at: result.started_at,
        finished_at: result.finished_at,
    }
}

/// What a dead letter's body is: a job, a result, or neither.
pub enum DeadBody {
    Job(JobMessage),
    Result(JobResult),
    Unknown,
}

impl DeadBody {
    pub fn decode(body: &[u8]) -> Self {
        if let Ok(job) = JobMessage::decode(body) {
            DeadBody::Job(job)
        } else if let Ok(result) = JobResult::decode(body) {
            DeadBody::Result(result)
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
    let error = JobError {
        class: ErrorClass::Internal,
        message: format!("dead-lettered: {reason}"),
    };
    JobResult::for_job(job, Utc::now(), Err(error), attempt, DEAD_LETTER_WORKER)
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
        match store.batches().record_result(&finished_job(&result)).await {
            Ok(batch) => {
                tracing::warn!(job_id = %job.job_id, batch_id = %batch.id, %reason, "dead-lettered job failed");
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
    match store
        .dead_letters()
        .record(message_id.as_deref(), body.kind(), &reason, &meta.body)
        .await
    {
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
    use std::collections::BTreeMap;

    use super::*;
    use crate::message::JobStatus;

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
            crate::domain::JobId::new(),
            None,
            crate::domain::InstanceId(7),
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
    }

    #[test]
    fn a_result_folds_as_its_output_and_tally_only_when_it_succeeded() {
        let job = JobMessage::new(
            crate::domain::JobId::new(),
            None,
            crate::domain::InstanceId(7),
            Utc::now(),
            None,
        );
        let counters = JobCounters {
            databases: 3,
            records: 2,
            total_size_mb: 40,
            ..JobCounters::default()
        };
        let ok = JobResult::for_job(&job, Utc::now(), Ok(counters), 2, "w-1");
        let folded = finished_job(&ok);
        assert_eq!(
            (folded.job_id, folded.batch_id, folded.instance_id),
            (job.job_id, job.effective_batch_id(), Some(job.instance_id))
        );
        assert_eq!(
            (folded.kind.as_str(), folded.status),
            ("capacity_sync", JobStatus::Succeeded)
        );
        assert_eq!((folded.attempt, folded.worker.as_str()), (2, "w-1"));
        assert_eq!(folded.output, serde_json::to_value(counters).ok());
        assert_eq!(
            folded.tally,
            Tally::from_pairs([(TOTAL_RECORDS, 2), (TOTAL_SIZE_MB, 40)])
        );
        assert!(folded.warnings.is_empty());

        let failed = finished_job(&dead_letter_result(&job, "why", 1));
        assert_eq!(failed.status, JobStatus::Failed);
        assert_eq!((failed.output, failed.tally), (None, Tally::default()));
        assert_eq!(failed.error.map(|e| e.class), Some(ErrorClass::Internal));
    }
}
