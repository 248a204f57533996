//! The worker: consume jobs, run the coordinator, publish results.
//!
//! Each job is decode → load → execute → report → settle, and its fate is
//! decided in one place, [`disposition`]. A job is acked only after its
//! result is confirmed by the broker, so a crash at any point means a
//! redelivery and a re-run, never a lost job; the aggregator makes the
//! duplicate result harmless.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;

use chrono::Utc;
use chrono_tz::Tz;
use futures_util::{FutureExt, StreamExt};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::broker::{self, Broker, Delivery, Disposition, Outgoing, Queue};
use crate::coordinator::{Clock, Coordinator};
use crate::message::{
    DecodeError, ErrorClass, JobCounters, JobError, JobMessage, JobResult, JobStatus, RESULT_SCHEMA,
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
    pub store: Arc<dyn Store>,
    pub broker: Arc<dyn Broker>,
    pub coordinator: Coordinator,
    pub timezone: Tz,
    pub concurrency: u16,
    /// Reported in results; the pod name in Kubernetes.
    pub name: String,
}

/// How one delivery ended, before it is settled.
#[derive(Debug)]
pub enum Outcome {
    /// Not a job we can read.
    Undecodable(DecodeError),
    /// The result is on the broker.
    Reported(JobStatus),
    /// The result could not be published.
    Unreported(broker::Error),
}

/// The one place that decides what happens to a delivery.
pub fn disposition(outcome: &Outcome) -> Disposition {
    match outcome {
        Outcome::Undecodable(e) => Disposition::DeadLetter(e.to_string()),
        Outcome::Reported(_) => Disposition::Ack,
        Outcome::Unreported(_) => Disposition::Retry,
    }
}

impl Worker {
    /// Consume until `shutdown`, then let in-flight jobs finish.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) -> Result<(), Error> {
        let concurrency = self.concurrency.max(1);
        let mut deliveries = self.broker.consume(Queue::Jobs, concurrency).await?;
        let permits = Arc::new(Semaphore::new(usize::from(concurrency)));
        let mut running = JoinSet::new();
        tracing::info!(worker = %self.name, concurrency, "worker consuming jobs");
        let ended = loop {
            // The semaphore is never closed, so acquiring only fails on shutdown.
            let permit = tokio::select! {
                _ = shutdown.cancelled() => break Ok(()),
                permit = permits.clone().acquire_owned() => permit,
            };
            let Ok(permit) = permit else { break Ok(()) };
            let next = tokio::select! {
                _ = shutdown.cancelled() => break Ok(()),
                next = deliveries.next() => next,
            };
            match next {
                Some(Ok(delivery)) => {
                    let worker = self.clone();
                    running.spawn(async move {
                        worker.handle(delivery).await;
                        drop(permit);
                    });
                }
                Some(Err(e)) => break Err(Error::Broker(e)),
                None => break Err(Error::ConsumerCancelled),
            }
            while running.try_join_next().is_some() {}
        };
        // Deliveries must be settled on the channel they came from, so the
        // consumer stays open until every in-flight job is done.
        while running.join_next().await.is_some() {}
        drop(deliveries);
        tracing::info!(worker = %self.name, "worker stopped");
        ended
    }

    async fn handle(&self, delivery: Delivery) {
        let outcome = match JobMessage::decode(&delivery.meta.body) {
            Err(e) => Outcome::Undecodable(e),
            Ok(job) => self.process(&job, delivery.meta.attempt).await,
        };
        if let Outcome::Undecodable(e) = &outcome {
            tracing::warn!(reason = %e, "dead-lettering an unreadable job");
        }
        if let Outcome::Unreported(e) = &outcome {
            tracing::warn!(error = %e, "result not confirmed; the job will be retried");
        }
        if let Err(e) = delivery.settle(disposition(&outcome)).await {
            tracing::warn!(error = %e, "could not settle a delivery; the broker will redeliver it");
        }
    }

    async fn process(&self, job: &JobMessage, attempt: u32) -> Outcome {
        let span = tracing::info_span!("job", job_id = %job.job_id, instance_id = %job.instance_id, attempt);
        let started_at = Utc::now();
        let executed = AssertUnwindSafe(boxed(self.execute(job)))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| Err(fail(ErrorClass::Internal, "the job panicked")));
        let result = JobResult {
            schema: RESULT_SCHEMA.to_string(),
            job_id: job.job_id,
            batch_id: job.effective_batch_id(),
            instance_id: job.instance_id,
            kind: job.kind,
            status: if executed.is_ok() {
                JobStatus::Succeeded
            } else {
                JobStatus::Failed
            },
            counters: executed.as_ref().copied().unwrap_or_default(),
            error: executed.err(),
            started_at,
            finished_at: Utc::now(),
            attempt,
            worker: self.name.clone(),
        };
        span.in_scope(|| match &result.error {
            None => tracing::info!(records = result.counters.records, "job succeeded"),
            Some(e) => tracing::warn!(class = e.class.as_str(), error = %e.message, "job failed"),
        });
        match self.broker.publish(Outgoing::result(&result)).await {
            Ok(()) => Outcome::Reported(result.status),
            Err(e) => Outcome::Unreported(e),
        }
    }

    async fn execute(&self, job: &JobMessage) -> Result<JobCounters, JobError> {
        let instance = self
            .store
            .instance(job.instance_id)
            .await
            .map_err(|e| fail(ErrorClass::Internal, e))?
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
            ));
        }
        let remaining = (job.deadline - Utc::now()).to_std().unwrap_or_default();
        if remaining.is_zero() {
            return Err(fail(
                ErrorClass::Timeout,
                "the job deadline passed before it started",
            ));
        }
        let sync = boxed(
            self.coordinator
                .sync(&instance, Clock::system(self.timezone)),
        );
        tokio::time::timeout(remaining, sync)
            .await
            .unwrap_or_else(|_| Err(fail(ErrorClass::Timeout, "the job ran past its deadline")))
    }
}

type JobFuture<'a> = Pin<Box<dyn Future<Output = Result<JobCounters, JobError>> + Send + 'a>>;

/// Boxing pins down the borrow's lifetime, which rustc otherwise fails to
/// prove `Send` for when the future is spawned.
fn boxed<'a>(
    future: impl Future<Output = Result<JobCounters, JobError>> + Send + 'a,
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
        let check = |outcome: Outcome, want: Disposition| assert_eq!(disposition(&outcome), want);
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
    }
}
