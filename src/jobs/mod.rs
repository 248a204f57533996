//! Job kinds: what a worker does with a job once it holds its instance.
//!
//! Each kind is one module with one type implementing [`Job`]: what it runs,
//! what it outputs, and how its output folds into its batch's summary. Its
//! wire types (`Params`, `Output`) live beside the envelope in
//! [`crate::message`]. [`run`], [`tally`] and [`empty_summary`] are the one
//! place that maps a kind to its implementation.
//!
//! A job reaches the world only through its [`Context`]: the instance it runs
//! on (already resolved and leased by the worker), the control store, the
//! database filters, the session limits and the clock. It never sees the
//! broker: publishing its result, acking and retrying are the worker's.

pub mod aggregate;
pub mod capacity;
pub mod data_sync;
pub mod probe;
pub mod table_sizes;

use std::future::Future;
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use tracing::Instrument;

use crate::adapters::{self, ConnectOptions, Connection};
use crate::config::JobSettings;
use crate::domain::{BatchId, JobId};
use crate::filters::DatabaseFilters;
use crate::inventory::InventoryRecord;
use crate::message::{ErrorClass, JobError, JobKind, JobOutput, JobParams, Warning};
use crate::retry::RetryPolicy;
use crate::store::{self, Filing, Instance, Store, Tally};

pub use aggregate::Aggregate;
pub use capacity::CapacitySync;
pub use data_sync::DataSync;
pub use probe::Probe;
pub use table_sizes::TableSizes;

/// One kind of job.
pub trait Job {
    type Params: Sync;
    type Output: Send;

    /// Do the work on `ctx`'s instance.
    fn run(
        ctx: &Context<'_>,
        params: &Self::Params,
    ) -> impl Future<Output = Result<Self::Output, Failure>> + Send;

    /// What one job's output adds to its batch's summary.
    fn tally(output: &Self::Output) -> Tally;

    /// A batch's summary before any of its jobs reported: the counters that
    /// [`Job::tally`] adds to, each at zero.
    fn empty_summary() -> Tally;

    /// What people should know about an output that is not a failure.
    fn warnings(_output: &Self::Output) -> Vec<Warning> {
        Vec::new()
    }

    /// Whether a job holds its instance's lease while it runs (at most one
    /// such job per instance). A kind whose work is scoped narrower holds
    /// its own lease instead, so it never keeps the instance's other jobs
    /// waiting.
    const INSTANCE_LEASE: bool = true;

    /// Whether a job reads its instance's stored inventory
    /// ([`Context::stored_inventory`]): the worker then reads it in the
    /// transaction that records the start, which spares the job a store
    /// round trip and a commit of its own.
    const READS_INVENTORY: bool = false;

    /// Whether a failed job runs again, and when ([`crate::retry`]); only
    /// asked after a failure that may pass. None: a failure is final.
    fn retry_policy(
        _ctx: &Context<'_>,
        _params: &Self::Params,
    ) -> impl Future<Output = Option<RetryPolicy>> + Send {
        std::future::ready(None)
    }
}

/// Why a job did not finish.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The instance failed (unreachable, refused, a query failed): the job
    /// fails, the batch records it.
    #[error("{}: {}", .0.class.as_str(), .0.message)]
    Instance(JobError),
    /// dbfleet's own control store failed: transient, the job is retried.
    #[error(transparent)]
    Store(#[from] store::Error),
}

impl From<JobError> for Failure {
    fn from(e: JobError) -> Self {
        Failure::Instance(e)
    }
}

impl From<adapters::Error> for Failure {
    fn from(e: adapters::Error) -> Self {
        Failure::Instance(JobError::new(e.class(), e))
    }
}

/// The instant a job runs at, and the calendar day it files data under.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub now: DateTime<Utc>,
    pub today: NaiveDate,
}

impl Clock {
    /// Now, with the calendar day taken in the configured time zone.
    pub fn system(tz: Tz) -> Self {
        Self::at(Utc::now(), tz)
    }

    pub fn at(now: DateTime<Utc>, tz: Tz) -> Self {
        Self {
            now,
            today: now.with_timezone(&tz).date_naive(),
        }
    }
}

/// Which job a context runs, as the history of a kind names it.
#[derive(Debug, Clone)]
pub struct JobIdentity {
    pub job_id: JobId,
    pub batch_id: BatchId,
    pub attempt: u32,
    pub worker: String,
}

/// Everything a job may use, and the writes it stages.
pub struct Context<'a> {
    /// The job being run; a job run outside a worker gets ids of its own.
    pub job: JobIdentity,
    pub instance: &'a Instance,
    pub store: &'a Store,
    pub filters: &'a DatabaseFilters,
    pub limits: &'a JobSettings,
    pub clock: Clock,
    /// Written when the job ends, with the lease released, in one commit.
    filing: Mutex<Filing>,
    /// The instance's inventory as its start read it, if it did.
    inventory: Mutex<Option<Vec<InventoryRecord>>>,
}

impl<'a> Context<'a> {
    pub fn new(
        instance: &'a Instance,
        store: &'a Store,
        filters: &'a DatabaseFilters,
        limits: &'a JobSettings,
        clock: Clock,
    ) -> Self {
        let job = JobIdentity {
            job_id: JobId::new(),
            batch_id: BatchId::new(),
            attempt: 1,
            worker: "local".to_string(),
        };
        Self {
            job,
            instance,
            store,
            filters,
            limits,
            clock,
            filing: Mutex::new(Filing::new(clock.today, clock.now)),
            inventory: Mutex::new(None),
        }
    }

    /// This context for the job `job`.
    pub fn for_job(mut self, job: JobIdentity) -> Self {
        self.job = job;
        self
    }

    /// This context with the instance's inventory as the job's start read
    /// it (None: the start did not).
    pub fn with_inventory(self, records: Option<Vec<InventoryRecord>>) -> Self {
        *self
            .inventory
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = records;
        self
    }

    /// The instance's stored inventory: as the job's start read it, under
    /// the lease, or read now. The first call takes the start's copy.
    pub async fn stored_inventory(&self) -> store::Result<Vec<InventoryRecord>> {
        let read = self
            .inventory
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match read {
            Some(records) => Ok(records),
            None => self.store.inventory().records(self.instance.id).await,
        }
    }

    /// Stage writes for the end of the job. What is staged is filed even
    /// when the job fails later, so stage only what stays true.
    pub fn stage(&self, write: impl FnOnce(&mut Filing)) {
        write(&mut self.filing.lock().unwrap_or_else(PoisonError::into_inner));
    }

    /// What the job staged, for the worker to file as the job ends.
    pub fn into_filing(self) -> Filing {
        self.filing
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// File what the job staged, for a job run outside a worker (no lease
    /// to release).
    pub async fn file(self) -> store::Result<()> {
        let (store, instance) = (self.store, self.instance.id);
        store.runs().file(instance, &self.into_filing()).await
    }

    /// Open a session on the instance, its password resolved from its
    /// reference just now. The caller closes it.
    pub async fn connect(&self) -> Result<Connection, Failure> {
        self.connect_to(self.instance.database.as_deref()).await
    }

    /// [`Context::connect`] to `database` (`None`: the engine's default).
    pub async fn connect_to(&self, database: Option<&str>) -> Result<Connection, Failure> {
        let options = self.options(self.instance, database)?;
        let connecting = Connection::connect(self.instance.db_type, &options);
        Ok(self.remote("connect", connecting).await?)
    }

    /// How to open a session on `i`'s `database` (`None`: the engine's
    /// default) under the job's limits, its password resolved just now.
    pub fn options(&self, i: &Instance, database: Option<&str>) -> Result<ConnectOptions, Failure> {
        let password = i
            .password
            .resolve()
            .map_err(|e| JobError::new(ErrorClass::Config, e))?;
        Ok(ConnectOptions {
            host: i.host.clone(),
            port: i.port,
            username: i.username.clone(),
            password,
            database: database.map(str::to_string),
            connect_timeout: self.limits.connect_timeout,
            statement_timeout: self.limits.statement_timeout,
            lock_timeout: self.limits.lock_timeout,
            tls: i.tls.clone(),
        })
    }

    /// Run `work`, one phase of the job on the server, in a span of its
    /// own (so a trace shows where the time went) and count its time as
    /// time on the server, by engine and phase.
    pub async fn remote<T>(&self, phase: &'static str, work: impl Future<Output = T>) -> T {
        let started = std::time::Instant::now();
        let span = tracing::info_span!("remote", otel.name = phase, phase);
        let done = work.instrument(span).await;
        let engine = self.instance.db_type.as_str();
        crate::metrics::metrics().remote_phase(engine, phase, started.elapsed());
        done
    }
}

/// What a job that ran produced.
pub type Ran = (JobOutput, Vec<Warning>);

/// Run the job `params` describes.
pub async fn run(ctx: &Context<'_>, params: &JobParams) -> Result<Ran, Failure> {
    match params {
        JobParams::CapacitySync(p) => {
            execute::<CapacitySync>(ctx, p, JobOutput::CapacitySync).await
        }
        JobParams::Probe(p) => execute::<Probe>(ctx, p, JobOutput::Probe).await,
        JobParams::TableSizes(p) => execute::<TableSizes>(ctx, p, JobOutput::TableSizes).await,
        JobParams::Aggregate(p) => execute::<Aggregate>(ctx, p, JobOutput::Aggregate).await,
        JobParams::DataSync(p) => execute::<DataSync>(ctx, p, JobOutput::DataSync).await,
    }
}

/// What `output` adds to its batch's summary.
pub fn tally(output: &JobOutput) -> Tally {
    match output {
        JobOutput::CapacitySync(o) => CapacitySync::tally(o),
        JobOutput::Probe(o) => Probe::tally(o),
        JobOutput::TableSizes(o) => TableSizes::tally(o),
        JobOutput::Aggregate(o) => Aggregate::tally(o),
        JobOutput::DataSync(o) => DataSync::tally(o),
    }
}

/// The retry policy of the job `params` describes, after it failed with
/// `error`: none for a failure that would only fail again (a wrong
/// configuration, an engine dbfleet does not support).
pub async fn retry_policy(
    ctx: &Context<'_>,
    params: &JobParams,
    error: &JobError,
) -> Option<RetryPolicy> {
    if matches!(error.class, ErrorClass::Config | ErrorClass::Unsupported) {
        return None;
    }
    match params {
        JobParams::CapacitySync(p) => CapacitySync::retry_policy(ctx, p).await,
        JobParams::Probe(p) => Probe::retry_policy(ctx, p).await,
        JobParams::TableSizes(p) => TableSizes::retry_policy(ctx, p).await,
        JobParams::Aggregate(p) => Aggregate::retry_policy(ctx, p).await,
        JobParams::DataSync(p) => DataSync::retry_policy(ctx, p).await,
    }
}

/// Whether a job of `kind` holds its instance's lease ([`Job::INSTANCE_LEASE`]).
pub fn takes_instance_lease(kind: JobKind) -> bool {
    match kind {
        JobKind::CapacitySync => CapacitySync::INSTANCE_LEASE,
        JobKind::Probe => Probe::INSTANCE_LEASE,
        JobKind::TableSizes => TableSizes::INSTANCE_LEASE,
        JobKind::Aggregate => Aggregate::INSTANCE_LEASE,
        JobKind::DataSync => DataSync::INSTANCE_LEASE,
    }
}

/// Whether a job of `kind` reads its instance's stored inventory
/// ([`Job::READS_INVENTORY`]).
pub fn reads_inventory(kind: JobKind) -> bool {
    match kind {
        JobKind::CapacitySync => CapacitySync::READS_INVENTORY,
        JobKind::Probe => Probe::READS_INVENTORY,
        JobKind::TableSizes => TableSizes::READS_INVENTORY,
        JobKind::Aggregate => Aggregate::READS_INVENTORY,
        JobKind::DataSync => DataSync::READS_INVENTORY,
    }
}

/// The summary of a batch of `kind` before any job reported.
pub fn empty_summary(kind: JobKind) -> Tally {
    match kind {
        JobKind::CapacitySync => CapacitySync::empty_summary(),
        JobKind::Probe => Probe::empty_summary(),
        JobKind::TableSizes => TableSizes::empty_summary(),
        JobKind::Aggregate => Aggregate::empty_summary(),
        JobKind::DataSync => DataSync::empty_summary(),
    }
}

async fn execute<J: Job>(
    ctx: &Context<'_>,
    params: &J::Params,
    wrap: fn(J::Output) -> JobOutput,
) -> Result<Ran, Failure> {
    let output = J::run(ctx, params).await?;
    let warnings = J::warnings(&output);
    Ok((wrap(output), warnings))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Outputs are flattened into a job's row next to its generic fields
    /// (`dbfleet batch show --json`); no kind may shadow one of them.
    #[test]
    fn no_output_field_shadows_a_job_row_field() {
        let reserved = [
            "job_id",
            "instance",
            "instance_id",
            "kind",
            "status",
            "error",
            "warnings",
            "attempt",
            "worker",
            "started_at",
            "finished_at",
        ];
        for output in [
            capacity::tests::sample_output(),
            probe::tests::sample_output(),
            aggregate::tests::sample_output(),
        ] {
            let json = output.to_json();
            for key in json.as_object().into_iter().flat_map(|o| o.keys()) {
                assert!(
                    !reserved.contains(&key.as_str()),
                    "{} output field `{key}`",
                    output.kind()
                );
            }
            assert_eq!(
                tally(&output).0.keys().collect::<Vec<_>>(),
                empty_summary(output.kind()).0.keys().collect::<Vec<_>>(),
                "a tally adds to the counters its empty summary starts at"
            );
        }
    }
}
