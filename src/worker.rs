//! The worker: consume jobs, run the coordinator, publish results.
//!
//! Each delivery goes decode → load → execute → report → settle, and its
//! fate is decided in one place, [`disposition`]. A job is acked only after
//! its result is confirmed by the broker, so a crash at any point means a
//! redelivery and a re-run, never a lost job; the aggregator makes the
//! duplicate result harmless.
//!
//! The consumer is supervised: when the broker connection drops or the
//! broker cancels the consumer, the worker backs off (jittered, exponential),
//! re-declares the topology, re-applies its prefetch and subscribes again.
//! On shutdown it stops taking jobs, lets in-flight ones finish until the
//! drain timeout, and hands the rest back.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use chrono_tz::Tz;
use futures_util::{FutureExt, StreamExt};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::broker::{
    self, Backoff, Broker, Deliveries, Delivery, DeliveryMeta, Disposition, Outgoing, Queue,
};
use crate::coordinator::{Clock, Coordinator, SyncError};
use crate::message::{
    DecodeError, ErrorClass, JobCounters, JobError, JobMessage, JobResult, JobStatus,
};
use crate::store::Store;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Broker(#[from] broker::Error),
    #[error("the broker cancelled the jobs consumer")]
    ConsumerCancelled,
}

pub struct Worker {
    pub store: Store,
    pub broker: Arc<dyn Broker>,
    pub coordinator: Coordinator,
    pub timezone: Tz,
    pub concurrency: u16,
    /// Reported in results; the pod name in Kubernetes.
    pub name: String,
    /// How long in-flight jobs may run after shutdown is requested.
    pub drain_timeout: Duration,
    /// Number of delayed-retry tiers before a deferred job is rejected.
    pub retry_tiers: usize,
}

/// How one delivery ended, before it is settled.
#[derive(Debug)]
pub enum Outcome {
    /// Not a job this worker can read.
    Undecodable(DecodeError),
    /// The result (success or an instance failure) is on the broker.
    Reported(JobStatus),
    /// The result could not be published.
    Unreported(broker::Error),
    /// The job could not run now (the control store is unavailable):
    /// `retries` delayed retries so far.
    Deferred { reason: String, retries: usize },
    /// Another job holds the instance's lease; wait for it (until the job's
    /// own deadline, when it fails as `timeout`).
    Busy { retries: usize },
    /// Shutdown came before the job finished.
    Abandoned,
}

/// The one place that decides what happens to a delivery.
pub fn disposition(outcome: &Outcome, retry_tiers: usize) -> Disposition {
    match outcome {
        Outcome::Undecodable(e) => Disposition::DeadLetter(e.to_string()),
        Outcome::Reported(_) => Disposition::Ack,
        // Counted by the broker's delivery limit, then dead-lettered.
        Outcome::Unreported(_) => Disposition::Retry,
        Outcome::Deferred { retries, .. } if *retries < retry_tiers => {
            Disposition::Delay { tier: *retries }
        }
        Outcome::Deferred { .. } => Disposition::Retry,
        Outcome::Busy { .. } if retry_tiers == 0 => Disposition::Retry,
        Outcome::Busy { retries } => Disposition::Delay {
            tier: (*retries).min(retry_tiers - 1),
        },
        Outcome::Abandoned => Disposition::HandBack,
    }
}

impl Worker {
    /// Consume until `shutdown`, reconnecting as needed; then drain.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) -> Result<(), Error> {
        let concurrency = self.concurrency.max(1);
        let permits = Arc::new(Semaphore::new(usize::from(concurrency)));
        let abandon = CancellationToken::new();
        let mut running = JoinSet::new();
        let mut backoff = Backoff::default();
        let mut consumer: Option<Deliveries> = None;
        tracing::info!(worker = %self.name, concurrency, "worker starting");
        while !shutdown.is_cancelled() {
            let deliveries = match consumer.as_mut() {
                Some(deliveries) => deliveries,
                None => match self.subscribe(concurrency).await {
                    Ok(deliveries) => consumer.insert(deliveries),
                    Err(e) => {
                        pause(&mut backoff, &e, &shutdown).await;
                        continue;
                    }
                },
            };
            // The semaphore is never closed, so acquiring fails only on shutdown.
            let permit = tokio::select! {
                _ = shutdown.cancelled() => break,
                permit = permits.clone().acquire_owned() => permit,
            };
            let Ok(permit) = permit else { break };
            let next = tokio::select! {
                _ = shutdown.cancelled() => break,
                next = deliveries.next() => next,
            };
            match next {
                Some(Ok(delivery)) => {
                    backoff.reset();
                    let (worker, abandon) = (self.clone(), abandon.clone());
                    running.spawn(async move {
                        worker.handle(delivery, abandon).await;
                        drop(permit);
                    });
                }
                Some(Err(e)) => {
                    consumer = None;
                    pause(&mut backoff, &Error::Broker(e), &shutdown).await;
                }
                None => {
                    consumer = None;
                    pause(&mut backoff, &Error::ConsumerCancelled, &shutdown).await;
                }
            }
            while running.try_join_next().is_some() {}
        }
        self.drain(&mut running, &abandon).await;
        // Deliveries are settled on the channel they came from: the consumer
        // closes only now, which also returns any prefetched, unstarted job.
        drop(consumer);
        tracing::info!(worker = %self.name, "worker stopped");
        Ok(())
    }

    async fn subscribe(&self, concurrency: u16) -> Result<Deliveries, Error> {
        self.broker.declare().await?;
        let deliveries = self.broker.consume(Queue::Jobs, concurrency).await?;
        tracing::info!(worker = %self.name, "consuming jobs");
        Ok(deliveries)
    }

    /// Let in-flight jobs finish until the drain timeout, then hand back the rest.
    async fn drain(&self, running: &mut JoinSet<()>, abandon: &CancellationToken) {
        if running.is_empty() {
            return;
        }
        tracing::info!(jobs = running.len(), timeout = ?self.drain_timeout, "draining in-flight jobs");
        let all_done = async { while running.join_next().await.is_some() {} };
        if tokio::time::timeout(self.drain_timeout, all_done)
            .await
            .is_err()
        {
            tracing::warn!(
                jobs = running.len(),
                "drain timeout: handing unfinished jobs back"
            );
            abandon.cancel();
            while running.join_next().await.is_some() {}
        }
    }

    async fn handle(&self, delivery: Delivery, abandon: CancellationToken) {
        let outcome = tokio::select! {
            outcome = self.process(&delivery.meta) => outcome,
            _ = abandon.cancelled() => Outcome::Abandoned,
        };
        match &outcome {
            Outcome::Undecodable(e) => {
                tracing::warn!(reason = %e, "dead-lettering an unreadable job")
            }
            Outcome::Unreported(e) => {
                tracing::warn!(error = %e, "result not confirmed; the job will be redelivered")
            }
            Outcome::Deferred { reason, retries } => {
                tracing::warn!(%reason, retries, "job deferred; it will be retried later")
            }
            Outcome::Busy { retries } => {
                tracing::info!(retries, "instance busy with another job; waiting")
            }
            Outcome::Reported(_) | Outcome::Abandoned => {}
        }
        if let Err(e) = delivery
            .settle(disposition(&outcome, self.retry_tiers))
            .await
        {
            tracing::warn!(error = %e, "could not settle a delivery; the broker will redeliver it");
        }
    }

    async fn process(&self, meta: &DeliveryMeta) -> Outcome {
        let job = match JobMessage::decode(&meta.body) {
            Ok(job) => job,
            Err(e) => return Outcome::Undecodable(e),
        };
        let started_at = Utc::now();
        match self
            .store
            .leases()
            .acquire(job.instance_id, job.job_id, job.deadline, started_at)
            .await
        {
            Err(crate::store::Error::NotFound(_)) => {
                let unknown = fail(
                    ErrorClass::Config,
                    format!("instance {} is not registered", job.instance_id),
                );
                return self.report(&job, meta, started_at, Err(unknown)).await;
            }
            Err(e) => {
                let retries = meta.retries();
                return Outcome::Deferred {
                    reason: e.to_string(),
                    retries,
                };
            }
            Ok(false) if started_at < job.deadline => {
                return Outcome::Busy {
                    retries: meta.retries(),
                }
            }
            Ok(false) => {
                let busy = fail(
                    ErrorClass::Timeout,
                    "the instance was busy with another job until the deadline",
                );
                return self.report(&job, meta, started_at, Err(busy)).await;
            }
            Ok(true) => {}
        }
        let executed = AssertUnwindSafe(boxed(self.execute(&job)))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| Err(fail(ErrorClass::Internal, "the job panicked").into()));
        if let Err(e) = self
            .store
            .leases()
            .release(job.instance_id, job.job_id)
            .await
        {
            tracing::warn!(error = %e, "lease not released; it expires at the job deadline");
        }
        match executed {
            Ok(counters) => self.report(&job, meta, started_at, Ok(counters)).await,
            Err(SyncError::Instance(e)) => self.report(&job, meta, started_at, Err(e)).await,
            Err(SyncError::Store(e)) => Outcome::Deferred {
                reason: e.to_string(),
                retries: meta.retries(),
            },
        }
    }

    /// Publish the job's result; the outcome says whether the broker has it.
    async fn report(
        &self,
        job: &JobMessage,
        meta: &DeliveryMeta,
        started_at: chrono::DateTime<Utc>,
        executed: Result<JobCounters, JobError>,
    ) -> Outcome {
        let span = tracing::info_span!("job", job_id = %job.job_id, instance_id = %job.instance_id, attempt = meta.attempt);
        let result = JobResult::for_job(job, started_at, executed, meta.attempt, &self.name);
        span.in_scope(|| match &result.error {
            None => tracing::info!(records = result.counters.records, "job succeeded"),
            Some(e) => tracing::warn!(class = e.class.as_str(), error = %e.message, "job failed"),
        });
        match self.broker.publish(Outgoing::result(&result)).await {
            Ok(()) => Outcome::Reported(result.status),
            Err(e) => Outcome::Unreported(e),
        }
    }

    async fn execute(&self, job: &JobMessage) -> Result<JobCounters, SyncError> {
        let instance = self
            .store
            .instances()
            .get(job.instance_id)
            .await?
            .ok_or_else(|| {
                fail(
                    ErrorClass::Config,
                    format!("instance {} is not registered", job.instance_id),
                )
            })?;
        if !instance.is_active {
            return Err(fail(
                ErrorClass::Config,
                format!("instance `{}` is disabled", instance.name),
            )
            .into());
        }
        let remaining = (job.deadline - Utc::now()).to_std().unwrap_or_default();
        if remaining.is_zero() {
            return Err(fail(
                ErrorClass::Timeout,
                "the job deadline passed before it started",
            )
            .into());
        }
        let sync = boxed(
            self.coordinator
                .sync(&instance, Clock::system(self.timezone)),
        );
        tokio::time::timeout(remaining, sync)
            .await
            .unwrap_or_else(|_| {
                Err(fail(ErrorClass::Timeout, "the job ran past its deadline").into())
            })
    }
}

/// Wait out one backoff step, unless shutdown comes first.
async fn pause(backoff: &mut Backoff, error: &Error, shutdown: &CancellationToken) {
    let delay = backoff.next_delay();
    tracing::warn!(error = %error, retry_in = ?delay, "jobs consumer lost; reconnecting");
    tokio::select! {
        _ = tokio::time::sleep(delay) => {}
        _ = shutdown.cancelled() => {}
    }
}

type JobFuture<'a> = Pin<Box<dyn Future<Output = Result<JobCounters, SyncError>> + Send + 'a>>;

/// Boxing pins down the borrow's lifetime, which rustc otherwise fails to
/// prove `Send` for when the future is spawned.
fn boxed<'a>(
    future: impl Future<Output = Result<JobCounters, SyncError>> + Send + 'a,
) -> JobFuture<'a> {
    Box::pin(future)
}

fn fail(class: ErrorClass, message: impl std::fmt::Display) -> JobError {
    JobError {
        class,
        message: message.to_string(),
    }
}

/// A worker name from the environment: the pod or host name.
pub fn default_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| format!("worker-{}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_outcome_has_one_disposition() {
        let check = |outcome: Outcome, want: Disposition| {
            assert_eq!(disposition(&outcome, 3), want, "{outcome:?}")
        };
        check(Outcome::Reported(JobStatus::Succeeded), Disposition::Ack);
        check(Outcome::Reported(JobStatus::Failed), Disposition::Ack);
        check(
            Outcome::Unreported(broker::Error::Nacked("x".into())),
            Disposition::Retry,
        );
        check(
            Outcome::Undecodable(DecodeError::MissingSchema),
            Disposition::DeadLetter("missing or non-string `schema` field".into()),
        );
        let deferred = |retries| Outcome::Deferred {
            reason: "store down".into(),
            retries,
        };
        check(deferred(0), Disposition::Delay { tier: 0 });
        check(deferred(2), Disposition::Delay { tier: 2 });
        check(deferred(3), Disposition::Retry);
        check(Outcome::Abandoned, Disposition::HandBack);
        check(Outcome::Busy { retries: 0 }, Disposition::Delay { tier: 0 });
        check(Outcome::Busy { retries: 9 }, Disposition::Delay { tier: 2 });
        assert_eq!(
            disposition(&Outcome::Busy { retries: 1 }, 0),
            Disposition::Retry
        );
    }
}
