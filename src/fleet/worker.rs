//! The worker: consume jobs, run each on its instance, publish the result.
//!
//! Each delivery goes decode → resolve the instance → lease → run the kind →
//! report → settle, and its fate is decided in one place, [`disposition`].
//! A job is acked only after its result is confirmed by the broker, so a
//! crash at any point means a redelivery and a re-run, never a lost job; the
//! aggregator makes the duplicate result harmless. Consuming (reconnects,
//! concurrency, drain) is [`crate::broker::consume`]'s.

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
use crate::broker::{self, Broker, Delivery, DeliveryMeta, Disposition, Outgoing, Queue};
use crate::config::JobSettings;
use crate::domain::InstanceId;
use crate::filters::DatabaseFilters;
use crate::jobs::{self, Clock, Context, Failure, Ran};
use crate::labels::Labels;
use crate::message::{
    DecodeError, ErrorClass, Finished, InstanceDetails, InstanceRef, JobError, JobMessage,
    JobResult, JobStatus, Target,
};
use crate::store::{self, HostSlot, Instance, Start, StartingJob, Store, Tally};

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

/// How one delivery ended, before it is settled.
#[derive(Debug)]
pub enum Outcome {
    /// Not a job anyone can read.
    Undecodable(DecodeError),
    /// A job of a kind this build does not know, which a newer worker may:
    /// `retries` delayed retries so far.
    UnknownKind { kind: String, retries: usize },
    /// The result (success or an instance failure) is on the broker.
    Reported(JobStatus),
    /// The result could not be published.
    Unreported(broker::Error),
    /// The job could not run now (the control store is unavailable):
    /// `retries` delayed retries so far.
    Deferred { reason: String, retries: usize },
    /// Another job holds the instance's lease; wait for it (until the
    /// batch's deadline, when the job fails as `timeout`).
    Busy { retries: usize },
    /// Shutdown came before the job finished.
    Abandoned,
    /// Its batch was cancelled before the job started; its row already
    /// says so, and nothing ran.
    Cancelled,
}

/// The one place that decides what happens to a delivery.
pub fn disposition(outcome: &Outcome, retry_tiers: usize) -> Disposition {
    match outcome {
        Outcome::Undecodable(e) => Disposition::DeadLetter(e.to_string()),
        // Give a newer worker the retry tiers' time to take it.
        Outcome::UnknownKind { retries, .. } if *retries < retry_tiers => {
            Disposition::Delay { tier: *retries }
        }
        Outcome::UnknownKind { kind, .. } => {
            Disposition::DeadLetter(DecodeError::UnknownKind(kind.clone()).to_string())
        }
        Outcome::Reported(_) | Outcome::Cancelled => Disposition::Ack,
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

    /// Run the job in its slot; publish its result, wait for the confirm
    /// and ack outside it, so the slot takes its next job meanwhile.
    async fn handle(self: Arc<Self>, delivery: Delivery, slot: Slot) {
        let step = tokio::select! {
            step = self.process(&delivery.meta) => step,
            _ = slot.abandon.cancelled() => Step::Settle(Outcome::Abandoned),
        };
        match step {
            Step::Settle(outcome) => self.settle(delivery, outcome).await,
            Step::Publish(result) => slot.finish_later(async move {
                let outcome = match self.broker.publish(Outgoing::result(&result)).await {
                    Ok(()) => Outcome::Reported(result.status),
                    Err(e) => Outcome::Unreported(e),
                };
                self.settle(delivery, outcome).await;
            }),
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

    async fn process(&self, meta: &DeliveryMeta) -> Step {
        let job = match JobMessage::decode(&meta.body) {
            Ok(job) => job,
            Err(DecodeError::UnknownKind(kind)) => {
                let retries = meta.retries();
                return Step::Settle(Outcome::UnknownKind { kind, retries });
            }
            Err(e) => return Step::Settle(Outcome::Undecodable(e)),
        };
        let span = job_span(&job, meta.attempt);
        self.process_job(&job, meta).instrument(span).await
    }

    async fn process_job(&self, job: &JobMessage, meta: &DeliveryMeta) -> Step {
        let started_at = Utc::now();
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
            Ok(Err(unusable)) => return self.report(job, meta, started_at, unusable),
            Err(e) => return deferred(e),
        };
        let span = tracing::Span::current();
        span.record("instance_id", instance.id.0);
        span.record("instance", instance.name.as_str());
        if started_at >= job.deadline {
            let late = "the batch deadline passed before a worker could start the job";
            let finished = ended(&instance, Err(JobError::new(ErrorClass::Timeout, late)));
            return self.report(job, meta, started_at, finished);
        }
        let metrics = crate::metrics::metrics();
        metrics.jobs_in_flight.inc();
        let leased = self.leased(job, &instance, meta.attempt, started_at).await;
        metrics.jobs_in_flight.dec();
        let finished = match leased {
            Ok(Leased::Ran(finished)) => {
                let took = (Utc::now() - started_at).to_std().unwrap_or_default();
                metrics.job_ran(job.kind().as_str(), instance.db_type.as_str(), took);
                *finished
            }
            Ok(Leased::Busy) => {
                let retries = meta.retries();
                return Step::Settle(Outcome::Busy { retries });
            }
            Ok(Leased::Cancelled) => return Step::Settle(Outcome::Cancelled),
            Err(e) => return deferred(e),
        };
        self.report(job, meta, started_at, finished)
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
    /// run the job within its own deadline, counted from now, then file
    /// what it staged and release the lease (one transaction).
    async fn leased(
        &self,
        job: &JobMessage,
        instance: &Instance,
        attempt: u32,
        now: DateTime<Utc>,
    ) -> store::Result<Leased> {
        match self.started(job, instance, attempt, now).await? {
            Started::Yes => {}
            Started::Busy => return Ok(Leased::Busy),
            Started::Cancelled => return Ok(Leased::Cancelled),
        }
        let clock = Clock::system(self.timezone);
        let ctx = Context::new(instance, &self.store, &self.filters, &self.job, clock);
        let executed = self.execute(&ctx, job).await;
        let filing = ctx.into_filing();
        if let Err(e) = self
            .store
            .runs()
            .end(instance.id, job.job_id, &filing)
            .await
        {
            if !filing.is_empty() {
                // Nothing the job found is stored: it runs again.
                return Err(e);
            }
            tracing::warn!(error = %e, "lease not released; it expires on its own");
        }
        match executed {
            Ok(ran) => Ok(Leased::Ran(Box::new(ended(instance, Ok(ran))))),
            Err(Failure::Instance(e)) => Ok(Leased::Ran(Box::new(ended(instance, Err(e))))),
            Err(Failure::Store(e)) => Err(e),
        }
    }

    /// Take the lease and record the start. A host at its cap is waited for
    /// here a little ([`HOST_WAIT`]), since its slots free up within a job's
    /// time, before the job goes back to the broker's retry tiers.
    async fn started(
        &self,
        job: &JobMessage,
        instance: &Instance,
        attempt: u32,
        mut now: DateTime<Utc>,
    ) -> store::Result<Started> {
        let summary = jobs::empty_summary(job.kind());
        let waiting = std::time::Instant::now();
        loop {
            let start = self.starting(job, instance, attempt, now, &summary);
            match self.store.runs().start(&start).await? {
                Start::Started => return Ok(Started::Yes),
                Start::Busy => return Ok(Started::Busy),
                Start::Cancelled => return Ok(Started::Cancelled),
                Start::HostFull if waiting.elapsed() < HOST_WAIT => {
                    let pause = rand::Rng::gen_range(&mut rand::thread_rng(), 50..250);
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                    now = Utc::now();
                }
                Start::HostFull => {
                    let (host, cap) = (&instance.host, self.job.max_per_host);
                    tracing::info!(host, cap, "the host runs its cap of jobs; waiting");
                    return Ok(Started::Busy);
                }
            }
        }
    }

    /// The start of `job` on `instance`: its lease lasts the job's own
    /// deadline plus a grace.
    fn starting<'a>(
        &'a self,
        job: &'a JobMessage,
        instance: &'a Instance,
        attempt: u32,
        now: DateTime<Utc>,
        summary: &'a Tally,
    ) -> StartingJob<'a> {
        let lease = chrono::Duration::from_std(self.job.deadline + LEASE_GRACE)
            .unwrap_or(chrono::Duration::MAX);
        StartingJob {
            job_id: job.job_id,
            batch_id: job.effective_batch_id(),
            kind: job.kind().as_str(),
            instance_id: instance.id,
            target: instance.name.as_str(),
            requested_by: job.requested_by.as_deref(),
            worker: &self.name,
            attempt,
            started_at: now,
            lease_until: now
                .checked_add_signed(lease)
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
            start_by: job.deadline,
            summary,
            host: (self.job.max_per_host > 0).then_some(HostSlot {
                key: &instance.host,
                limit: self.job.max_per_host,
            }),
        }
    }

    /// Run the job within its own deadline; a panic is the job's failure.
    async fn execute(&self, ctx: &Context<'_>, job: &JobMessage) -> Result<Ran, Failure> {
        let budget = self.job.deadline;
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

    /// The job's result, to publish; its end is logged in the job's span.
    fn report(
        &self,
        job: &JobMessage,
        meta: &DeliveryMeta,
        started_at: DateTime<Utc>,
        finished: Finished,
    ) -> Step {
        let result = JobResult::for_job(job, started_at, finished, meta.attempt, &self.name);
        let took = (result.finished_at - started_at).num_milliseconds();
        tracing::Span::current().record("duration_ms", took);
        let class = result.error.as_ref().map(|e| e.class.as_str());
        crate::metrics::metrics().job_ended(job.kind().as_str(), class);
        match &result.error {
            None => tracing::info!(warnings = result.warnings.len(), "job succeeded"),
            Some(e) => tracing::warn!(class = e.class.as_str(), error = %e.message, "job failed"),
        }
        Step::Publish(Box::new(result))
    }
}

/// The span every line of one job is logged in: its ids and kind at once,
/// its instance once resolved, its duration once it ends.
fn job_span(job: &JobMessage, attempt: u32) -> tracing::Span {
    tracing::info_span!(
        "job",
        job_id = %job.job_id,
        batch_id = %job.effective_batch_id(),
        kind = %job.kind(),
        attempt,
        instance_id = tracing::field::Empty,
        instance = tracing::field::Empty,
        duration_ms = tracing::field::Empty,
    )
}

/// An active instance as the dispatcher described it with the job.
fn from_details(id: InstanceId, d: &InstanceDetails) -> Instance {
    Instance {
        id,
        name: d.name.clone(),
        db_type: d.engine,
        host: d.host.clone(),
        port: d.port,
        database: d.database.clone(),
        username: d.username.clone(),
        password: d.auth.clone(),
        credential: None,
        tls: d.tls.clone().unwrap_or_default(),
        is_active: true,
        managed: false,
        active_override: None,
        labels: Labels::default(),
        disabled_by: None,
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

/// How long a job waits in its slot for a host at its cap, before it goes
/// back to the broker.
const HOST_WAIT: Duration = Duration::from_secs(2);

/// How long a started job's lease outlives its own deadline: time to report
/// a timeout itself before the sweeper takes it for lost.
const LEASE_GRACE: Duration = Duration::from_secs(30);

/// What is left of a delivery once its job is done.
enum Step {
    /// Settle it as the outcome says.
    Settle(Outcome),
    /// Publish this result, then settle by whether the broker confirmed it.
    Publish(Box<JobResult>),
}

/// What happened once the worker went for the instance's lease.
enum Leased {
    Ran(Box<Finished>),
    Busy,
    /// Its batch was cancelled before it started: not run.
    Cancelled,
}

/// Whether a job may run now.
enum Started {
    Yes,
    Busy,
    Cancelled,
}

fn log(outcome: &Outcome) {
    match outcome {
        Outcome::Undecodable(e) => tracing::warn!(reason = %e, "dead-lettering an unreadable job"),
        Outcome::UnknownKind { kind, retries } => {
            tracing::warn!(%kind, retries, "a job of a kind this worker does not know; leaving it to another")
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
        Outcome::Cancelled => tracing::info!("job cancelled before it started; not run"),
        Outcome::Reported(_) | Outcome::Abandoned => {}
    }
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
        let unknown = |retries| Outcome::UnknownKind {
            kind: "table_sizes".into(),
            retries,
        };
        check(unknown(0), Disposition::Delay { tier: 0 });
        check(unknown(2), Disposition::Delay { tier: 2 });
        check(
            unknown(3),
            Disposition::DeadLetter("unknown kind `table_sizes`".into()),
        );
        assert_eq!(
            disposition(&unknown(0), 0),
            Disposition::DeadLetter("unknown kind `table_sizes`".into())
        );
    }
}
