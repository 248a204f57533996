//! The aggregator: fold results into batch status, and sweep jobs that never
//! report.
//!
//! Folding is idempotent (one row per job, counters recomputed from rows), so
//! any number of aggregators may run, and a redelivered or duplicated result
//! changes nothing. The sweeper is what makes every batch end: a job lost
//! with its worker fails with class `timeout` once its deadline has passed.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::broker::{self, Broker, Delivery, Disposition, Queue};
use crate::message::JobResult;
use crate::store::Store;

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

/// Fold results until `shutdown`.
pub async fn run(
    store: Arc<dyn Store>,
    broker: Arc<dyn Broker>,
    prefetch: u16,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let mut deliveries = broker.consume(Queue::Results, prefetch.max(1)).await?;
    loop {
        let next = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            next = deliveries.next() => next,
        };
        match next {
            Some(Ok(delivery)) => fold(store.as_ref(), delivery).await,
            Some(Err(e)) => return Err(Error::Broker(e)),
            None => return Err(Error::ConsumerCancelled),
        }
    }
}

async fn fold(store: &dyn Store, delivery: Delivery) {
    let disposition = match JobResult::decode(&delivery.meta.body) {
        Err(e) => {
            tracing::warn!(reason = %e, "dead-lettering an unreadable result");
            Disposition::DeadLetter(e.to_string())
        }
        Ok(result) => match store.record_result(&result).await {
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

/// Fail overdue jobs every `interval` until `shutdown`.
pub async fn sweep(
    store: Arc<dyn Store>,
    interval: Duration,
    grace: Duration,
    shutdown: CancellationToken,
) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let cutoff = Utc::now() - chrono::Duration::from_std(grace).unwrap_or_default();
        match store.sweep_expired(cutoff).await {
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
