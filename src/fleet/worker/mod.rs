//! The worker: consume jobs, run each on its instance, publish the result.
//!
//! Each delivery goes decode → resolve the instance → lease → run the kind →
//! file → report → settle, and its fate is decided in one place,
//! [`disposition`]. A job's slot is free once the kind has run: filing,
//! reporting and settling are its tail ([`Slot::finish_later`]).
//! A job is acked only after its result is confirmed by the broker (or its
//! next attempt is committed to the store, for a kind that retries), so a
//! crash at any point means a redelivery and a re-run, never a lost job; the
//! aggregator makes the duplicate result harmless. Consuming (reconnects,
//! concurrency, drain) is [`crate::broker::consume`]'s.
//!
//! `disposition.rs` decides each delivery's fate; `start.rs` takes a job's
//! lease and records its start; `end.rs` files what a job found and
//! publishes its result; `retry.rs` parks the next attempt of a job whose
//! kind retries it.

mod disposition;
mod end;
mod retry;
mod start;

use disposition::log;
pub use disposition::{disposition, Outcome};
use end::Unfiled;
use start::{from_details, Started};

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use futures_util::FutureExt;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::broker::consume::Slot;
use crate::broker::{self, Broker, Delivery, DeliveryMeta, Queue};
use crate::config::JobSettings;
use crate::filters::DatabaseFilters;
use crate::jobs::{self, Clock, Context, Failure, JobIdentity, Ran};
use crate::message::{
    DecodeError, ErrorClass, Finished, InstanceDetails, InstanceRef, JobError, JobMessage,
    JobResult, Target,
};
use crate::store::{self, Instance, Store};

use super::spans;

pub struct Worker {
    pub store: Store,
    pub broker: Arc<dyn Broker>,
    pub filters: Arc<DatabaseFilters>,
    pub job: JobSettings,
    pub timezone: Tz,
    pub concurrency: u16,
    /// Unsettled deliveries at most: above `concurrency`, so a slot takes
    /// its next job while the last one's result is being confirmed.
    pub prefetch: u16,
    /// Reported in results; the pod name in Kubernetes.
    pub name: String,
    /// How long in-flight jobs may run after shutdown is requested.
    pub drain_timeout: Duration,
    /// Number of delayed-retry tiers before a deferred job is rejected.
    pub retry_tiers: usize,
    /// Slots of the interactive lane, besides `concurrency`.
    pub interactive_slots: u16,
}

impl Worker {
    /// Consume both lanes until `shutdown`, reconnecting as needed; then
    /// drain. The interactive lane has slots of its own, so a job someone
    /// waits for starts at once however long the batch lane's queue is.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let concurrency = usize::from(self.concurrency.max(1));
        let batches = broker::consume::Consume {
            queue: Queue::Jobs,
            prefetch: self.prefetch.max(self.concurrency).max(1),
            concurrency,
            drain_timeout: self.drain_timeout,
        };
        let slots = self.interactive_slots.max(1);
        let interactive = broker::consume::Consume {
            queue: Queue::Interactive,
            prefetch: slots.saturating_mul(2),
            concurrency: usize::from(slots),
            drain_timeout: self.drain_timeout,
        };
        let prefetch = batches.prefetch;
        tracing::info!(worker = %self.name, concurrency, prefetch, slots, "worker starting");
        let handle = |delivery: Delivery, slot: Slot| self.clone().handle(delivery, slot);
        let broker = self.broker.as_ref();
        tokio::join!(
            broker::consume::consume(broker, batches, &shutdown, handle),
            broker::consume::consume(broker, interactive, &shutdown, handle),
        );
        tracing::info!(worker = %self.name, "worker stopped");
    }

    /// Run the job in its slot; file what it found, publish its result,
    /// wait for the confirm and ack outside it ([`Worker::finish`]), so the
    /// slot takes its next job meanwhile.
    async fn handle(self: Arc<Self>, delivery: Delivery, slot: Slot) {
        let (job, span) = match self.decode(&delivery.meta) {
            Ok(job) => job,
            Err(outcome) => return self.settle(delivery, outcome).await,
        };
        let step = tokio::select! {
            step = self.process_job(&job, &delivery.meta).instrument(span.clone()) => step,
            _ = slot.abandon.cancelled() => Step::Settle(Outcome::Abandoned),
        };
        match step {
            Step::Settle(outcome) => self.settle(delivery, outcome).instrument(span).await,
            Step::Publish(result, unfiled) => {
                slot.finish_later(self.finish(delivery, result, unfiled, span));
            }
        }
    }

    async fn settle(&self, delivery: Delivery, outcome: Outcome) {
        log(&outcome);
        if let Err(e) = delivery
            .settle(disposition(&outcome, self.retry_tiers))
            .await
        {
            tracing::warn!(error = %e, "could not settle a delivery; the broker will redeliver it");
        }
    }

    /// The job a delivery carries, and the span it is processed in; or
    /// what to do with a delivery that carries none.
    fn decode(&self, meta: &DeliveryMeta) -> Result<(JobMessage, tracing::Span), Outcome> {
        match JobMessage::decode(&meta.body) {
            Ok(job) => {
                let span = spans::process_job(self.broker.as_ref(), meta, &job);
                Ok((job, span))
            }
            Err(DecodeError::UnknownKind(kind)) => {
                let retries = meta.retries();
                Err(Outcome::UnknownKind { kind, retries })
            }
            Err(e) => Err(Outcome::Undecodable(e)),
        }
    }

    async fn process_job(&self, job: &JobMessage, meta: &DeliveryMeta) -> Step {
        let started_at = Utc::now();
        // Every run counts: the retries of its kind's policy and the
        // broker's redeliveries.
        let attempt = job.attempt.saturating_add(meta.attempt.saturating_sub(1));
        let deferred = |e: store::Error| {
            Step::Settle(Outcome::Deferred {
                reason: e.to_string(),
                retries: meta.retries(),
            })
        };
        let details = job.details.as_ref();
        let cached = details.filter(|_| self.broker.published_by_this_fleet(meta));
        let instance = match self.instance(&job.target, cached).await {
            Ok(Ok(instance)) => instance,
            Ok(Err(unusable)) => {
                return Step::Publish(self.report(job, attempt, started_at, unusable), None)
            }
            Err(e) => return deferred(e),
        };
        let span = tracing::Span::current();
        span.record("instance_id", instance.id.0);
        span.record("instance", instance.name.as_str());
        span.record("engine", instance.db_type.as_str());
        if started_at >= job.deadline {
            let late = "the batch deadline passed before a worker could start the job";
            let finished = ended(&instance, Err(JobError::new(ErrorClass::Timeout, late)));
            return Step::Publish(self.report(job, attempt, started_at, finished), None);
        }
        let metrics = crate::metrics::metrics();
        metrics.jobs_in_flight.inc();
        let leased = self.leased(job, &instance, attempt, started_at).await;
        metrics.jobs_in_flight.dec();
        let (finished, unfiled) = match leased {
            Ok(Leased::Ran(finished, unfiled)) => {
                let took = (Utc::now() - started_at).to_std().unwrap_or_default();
                metrics.job_ran(job.kind().as_str(), instance.db_type.as_str(), took);
                (*finished, unfiled)
            }
            Ok(Leased::Retrying(next, error)) => {
                return Step::Settle(Outcome::Retrying {
                    attempt,
                    next,
                    error,
                })
            }
            Ok(Leased::Busy) => {
                let retries = meta.retries();
                return Step::Settle(Outcome::Busy { retries });
            }
            Ok(Leased::Cancelled) => return Step::Settle(Outcome::Cancelled),
            Err(e) => return deferred(e),
        };
        Step::Publish(self.report(job, attempt, started_at, finished), unfiled)
    }

    /// The registered, active instance the job targets; a job naming any
    /// other fails (class `config`) without running. The instance settings
    /// the dispatcher sent with the job spare the store a read; settings
    /// sent by another system are not trusted, so the store decides.
    async fn instance(
        &self,
        target: &Target,
        details: Option<&InstanceDetails>,
    ) -> store::Result<Result<Instance, Finished>> {
        let Target::Instance(wanted) = target;
        let found = match (wanted, details) {
            (InstanceRef::Id(id), Some(details)) => Some(from_details(*id, details)),
            (InstanceRef::Id(id), None) => self.store.instances().get(*id).await?,
            (InstanceRef::Name(name), _) => self.store.instances().by_name(name).await?,
        };
        let unusable = |target: String, message: String| Finished {
            instance_id: None,
            target,
            outcome: Err(JobError::new(ErrorClass::Config, message)),
        };
        Ok(match found {
            None => Err(unusable(
                wanted.to_string(),
                format!("{wanted} is not registered"),
            )),
            Some(i) if !i.is_active => Err(Finished {
                instance_id: Some(i.id),
                ..unusable(
                    i.name.to_string(),
                    format!("instance `{}` is disabled", i.name),
                )
            }),
            Some(i) => Ok(i),
        })
    }

    /// Take the instance's lease and record the start (one transaction),
    /// run the job within its own deadline, counted from now. What it
    /// staged is filed with the lease's release (one transaction): off the
    /// slot, before its result is published, for a job that ended; here,
    /// before its next attempt is parked, for one its kind retries.
    async fn leased(
        &self,
        job: &JobMessage,
        instance: &Instance,
        attempt: u32,
        now: DateTime<Utc>,
    ) -> store::Result<Leased> {
        let start = tracing::info_span!("start");
        let inventory = match self
            .started(job, instance, attempt, now)
            .instrument(start)
            .await?
        {
            Started::Yes(inventory) => inventory,
            Started::Busy => return Ok(Leased::Busy),
            Started::Cancelled => return Ok(Leased::Cancelled),
        };
        let clock = Clock::system(self.timezone);
        let ctx = Context::new(instance, &self.store, &self.filters, &self.job, clock)
            .for_job(JobIdentity {
                job_id: job.job_id,
                batch_id: job.effective_batch_id(),
                attempt,
                worker: self.name.clone(),
            })
            .with_inventory(inventory);
        let executed = self.execute(&ctx, job).await;
        let next = match &executed {
            Err(Failure::Instance(e)) => Self::next_attempt(&ctx, job, e).await,
            _ => None,
        };
        let unfiled = Box::new(Unfiled {
            instance: instance.id,
            job: job.job_id,
            filing: ctx.into_filing(),
        });
        let outcome = match (executed, next) {
            (Ok(ran), _) => Ok(ran),
            (Err(Failure::Instance(e)), None) => Err(e),
            (executed, next) => {
                self.file(&unfiled).await?;
                return self.settled(job, instance, executed, next).await;
            }
        };
        let finished = Box::new(ended(instance, outcome));
        Ok(Leased::Ran(finished, Some(unfiled)))
    }

    /// Run the job within its own deadline; a panic is the job's failure.
    async fn execute(&self, ctx: &Context<'_>, job: &JobMessage) -> Result<Ran, Failure> {
        let budget = self.job.deadline_of(job.kind());
        let timed = async {
            tokio::time::timeout(budget, jobs::run(ctx, &job.params))
                .await
                .unwrap_or_else(|_| {
                    let late = format!(
                        "the job ran past its deadline ({} from its start)",
                        humantime::format_duration(budget)
                    );
                    Err(JobError::new(ErrorClass::Timeout, late).into())
                })
        };
        AssertUnwindSafe(boxed(timed))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| Err(JobError::new(ErrorClass::Internal, "the job panicked").into()))
    }

    /// The job's result, to publish. Its end is logged and counted once
    /// it is filed ([`Worker::finish`]): a filing that fails runs it again.
    fn report(
        &self,
        job: &JobMessage,
        attempt: u32,
        started_at: DateTime<Utc>,
        finished: Finished,
    ) -> Box<JobResult> {
        let result = JobResult::for_job(job, started_at, finished, attempt, &self.name);
        let took = (result.finished_at - started_at).num_milliseconds();
        tracing::Span::current().record("duration_ms", took);
        Box::new(result)
    }
}

/// How a job on `instance` ended.
fn ended(instance: &Instance, outcome: Result<Ran, JobError>) -> Finished {
    Finished {
        instance_id: Some(instance.id),
        target: instance.name.to_string(),
        outcome,
    }
}

/// What is left of a delivery once its job is done.
enum Step {
    /// Settle it as the outcome says.
    Settle(Outcome),
    /// File what the job found (if anything), publish this result, then
    /// settle by whether the store took it and the broker confirmed it.
    Publish(Box<JobResult>, Option<Box<Unfiled>>),
}

/// What happened once the worker went for the instance's lease.
enum Leased {
    /// It ended; what it staged is still to be filed, unless the worker
    /// filed it already.
    Ran(Box<Finished>, Option<Box<Unfiled>>),
    /// It failed, and its next attempt is parked.
    Retrying(retry::NextAttempt, JobError),
    Busy,
    /// Its batch was cancelled before it started: not run.
    Cancelled,
}

type JobFuture<'a> = Pin<Box<dyn Future<Output = Result<Ran, Failure>> + Send + 'a>>;

/// Boxing pins down the borrow's lifetime, which rustc otherwise fails to
/// prove `Send` for when the future is spawned.
fn boxed<'a>(future: impl Future<Output = Result<Ran, Failure>> + Send + 'a) -> JobFuture<'a> {
    Box::pin(future)
}

/// A worker name from the environment: the pod or host name.
pub fn default_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| format!("worker-{}", std::process::id()))
}
