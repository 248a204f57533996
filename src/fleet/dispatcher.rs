//! Starting batches and following them to their end.
//!
//! A batch is one job of one kind per selected target. The batch and its
//! jobs are written in one transaction first, then each job is published
//! with a confirm. A job that cannot be published is failed on the spot
//! (class `internal`), so the batch still ends and says why.
//!
//! Following a batch only reads the store: results are folded by the control
//! plane (`dbfleet serve`, or the in-process one of `dbfleet run`), never by
//! whoever waits, so one folder owns every batch. On PostgreSQL the follower
//! reads the batch again when word comes that it moved (`LISTEN`), not on a
//! timer.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::Utc;
use tracing::Instrument;

use crate::broker::Broker;
use crate::domain::{BatchId, InstanceName, JobId};
use crate::jobs;
use crate::labels::Selector;
use crate::message::{InstanceDetails, InstanceRef, JobKind, JobMessage, JobParams, Target};
use crate::store::{self, Batch, Claim, Instance, Keyed, NewJob, Origin, Store};

use super::publish::{publish_all, Publishing};
pub use super::report::{report, shared_servers, BatchReport, SharedServer};
use super::spans;

/// How often a batch being followed is read again where no word comes of
/// its changes (on SQLite, another process's folds; see
/// `store/changes.rs`).
pub const WATCH_INTERVAL: Duration = Duration::from_millis(200);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error("unknown instance(s): {0}")]
    UnknownInstances(String),
    #[error("disabled instance(s): {0} (enable them first)")]
    DisabledInstances(String),
    #[error("batch {0} not found")]
    NotFound(BatchId),
    /// A `data_sync` batch whose definition cannot run.
    #[error(transparent)]
    Sync(#[from] super::sync::PlanError),
    #[error("cannot declare the jobs queue of zone `{zone}`: {cause}")]
    Zone {
        zone: String,
        cause: crate::broker::Error,
    },
}

/// Which instances a batch covers.
#[derive(Debug, Clone, Copy)]
pub enum Selection<'a> {
    AllActive,
    Named(&'a [InstanceName]),
    /// Every active instance whose labels match; the batch records the
    /// selector.
    Matching(&'a Selector),
}

impl Selection<'_> {
    /// The selector to record with the batch, if this is one.
    fn selector(&self) -> Option<String> {
        match self {
            Selection::Matching(selector) => Some(selector.to_string()),
            Selection::AllActive | Selection::Named(_) => None,
        }
    }
}

/// A batch to start.
#[derive(Debug, Clone, Copy)]
pub struct BatchRequest<'a> {
    /// The kind of every job, and their parameters (one set for the whole
    /// batch; a kind without parameters takes `JobParams::default_for`).
    pub params: &'a JobParams,
    pub selection: Selection<'a>,
    /// How long the batch may take: a job no worker started by then fails
    /// (`batch.deadline`). Each job's own budget counts from its start.
    pub deadline: Duration,
    pub requested_by: Option<&'a str>,
    /// Publish to the interactive lane: someone waits for this batch
    /// (`instance check`, a job enqueued on its own).
    pub interactive: bool,
}

impl BatchRequest<'_> {
    pub fn kind(&self) -> JobKind {
        self.params.kind()
    }
}

/// Create a batch over the selected instances and publish its jobs.
pub async fn start_batch(
    store: &Store,
    broker: &dyn Broker,
    request: &BatchRequest<'_>,
) -> Result<Batch, Error> {
    let plan = plan(store, request).await?;
    declare_zones(broker, &plan).await?;
    let batch = store
        .batches()
        .create(
            plan.id,
            request.kind().as_str(),
            &plan.origin,
            &plan.jobs,
            &plan.summary,
        )
        .await?;
    let unpublished = publish_planned(store, broker, request, &plan).await?;
    as_published(store, batch, unpublished).await
}

/// [`start_batch`] under an idempotency key or a schedule's slot: the first
/// request with `claim` creates and publishes the batch; a retry (or
/// another control plane firing the same slot) gets that batch back and
/// publishes nothing.
pub async fn start_batch_once(
    store: &Store,
    broker: &dyn Broker,
    request: &BatchRequest<'_>,
    claim: Claim<'_>,
) -> Result<Keyed, Error> {
    if let Some(earlier) = store.batches().keyed(claim).await? {
        return Ok(earlier);
    }
    let plan = plan(store, request).await?;
    declare_zones(broker, &plan).await?;
    let kind = request.kind().as_str();
    let keyed = store
        .batches()
        .create_keyed(
            claim,
            plan.id,
            kind,
            &plan.origin,
            &plan.jobs,
            &plan.summary,
        )
        .await?;
    let Keyed::Created(batch) = keyed else {
        return Ok(keyed);
    };
    let unpublished = publish_planned(store, broker, request, &plan).await?;
    Ok(Keyed::Created(
        as_published(store, batch, unpublished).await?,
    ))
}

/// A batch just created and published: as created, or as the store holds
/// it once jobs the broker would not take were failed.
pub(super) async fn as_published(
    store: &Store,
    created: Batch,
    unpublished: usize,
) -> Result<Batch, Error> {
    if unpublished == 0 {
        return Ok(created);
    }
    Ok(store.batches().get(created.id).await?.unwrap_or(created))
}

/// Declare the queues of the zones `plan`'s instances are in, before the
/// batch exists: its jobs must find their queue, or they would be lost.
pub(super) async fn declare_zones(broker: &dyn Broker, plan: &Plan) -> Result<(), Error> {
    let zones: BTreeSet<&str> = plan.chosen.iter().filter_map(|i| i.labels.zone()).collect();
    for zone in zones {
        let failed = |cause| Error::Zone {
            zone: zone.to_string(),
            cause,
        };
        broker.declare_zone(zone).await.map_err(failed)?;
    }
    Ok(())
}

/// A batch about to be created: its instances and their jobs.
pub(super) struct Plan {
    pub(super) id: BatchId,
    pub(super) chosen: Vec<Instance>,
    pub(super) jobs: Vec<NewJob>,
    pub(super) origin: Origin,
    pub(super) summary: store::Tally,
    deadline: chrono::DateTime<Utc>,
}

pub(super) async fn plan(store: &Store, request: &BatchRequest<'_>) -> Result<Plan, Error> {
    let mut chosen = select(store, request.selection).await?;
    if let JobParams::DataSync(params) = request.params {
        chosen = super::sync::targets_among(store, params, chosen).await?;
    }
    let now = Utc::now();
    let deadline = chrono::Duration::from_std(request.deadline)
        .ok()
        .and_then(|budget| now.checked_add_signed(budget))
        .unwrap_or(chrono::DateTime::<Utc>::MAX_UTC);
    let jobs: Vec<NewJob> = chosen
        .iter()
        .map(|i| NewJob {
            job_id: JobId::new(),
            instance_id: Some(i.id),
            target: i.name.to_string(),
            deadline,
        })
        .collect();
    let origin = Origin {
        requested_by: request.requested_by.map(str::to_string),
        selector: request.selection.selector(),
        params: (*request.params != JobParams::default_for(request.kind()))
            .then(|| request.params.to_json().to_string()),
    };
    Ok(Plan {
        id: BatchId::new(),
        chosen,
        jobs,
        origin,
        summary: jobs::empty_summary(request.kind()),
        deadline,
    })
}

/// Publish the jobs of a batch just created from `plan`; returns how many
/// the broker would not take.
async fn publish_planned(
    store: &Store,
    broker: &dyn Broker,
    request: &BatchRequest<'_>,
    plan: &Plan,
) -> Result<usize, Error> {
    let messages = messages(request, plan);
    publish_now(store, broker, request, plan, messages).await
}

/// Publish `messages`, jobs of the batch just created from `plan`, in the
/// batch's span; returns how many the broker would not take.
pub(super) async fn publish_now(
    store: &Store,
    broker: &dyn Broker,
    request: &BatchRequest<'_>,
    plan: &Plan,
    messages: Vec<(JobMessage, Option<String>)>,
) -> Result<usize, Error> {
    let (batch_id, kind) = (plan.id, request.kind());
    tracing::info!(batch_id = %batch_id, %kind, jobs = plan.jobs.len(), "batch created");
    let continues = spans::caller().filter(|_| plan.jobs.len() == 1);
    let batch = spans::batch(&batch_id.to_string(), kind.as_str(), plan.jobs.len());
    let publishing = Publishing {
        interactive: request.interactive,
        batch: Some(&batch),
        continues: continues.as_ref(),
    };
    publish_all(store, broker, messages.into_iter(), &publishing)
        .instrument(batch.clone())
        .await
}

/// Each job of `plan` as a message, with its instance's zone. Collected, not
/// lazy: a lazy iterator would hold a closure over borrowed rows across the
/// publish awaits, which keeps the future from being `Send` for every
/// lifetime (as an HTTP handler's must be).
pub(super) fn messages(
    request: &BatchRequest<'_>,
    plan: &Plan,
) -> Vec<(JobMessage, Option<String>)> {
    let batch_id = plan.id;
    plan.chosen
        .iter()
        .zip(&plan.jobs)
        .map(|(instance, job)| {
            let message = JobMessage {
                details: Some(details(instance)),
                ..JobMessage::new(
                    job.job_id,
                    Some(batch_id),
                    Target::Instance(InstanceRef::Id(instance.id)),
                    request.params.clone(),
                    plan.deadline,
                    request.requested_by.map(str::to_string),
                )
            };
            (message, instance.labels.zone().map(str::to_string))
        })
        .collect()
}

/// What a worker needs of `instance`, sent with its job so the worker need
/// not read the store for it.
fn details(instance: &Instance) -> InstanceDetails {
    InstanceDetails {
        name: instance.name.clone(),
        engine: instance.db_type,
        host: instance.host.clone(),
        port: instance.port,
        database: instance.database.clone(),
        username: instance.username.clone(),
        auth: instance.password.clone(),
        tls: Some(instance.tls.clone()),
        cluster: instance
            .labels
            .get(crate::labels::CLUSTER)
            .map(str::to_string),
    }
}

/// The instances a selection names: every active one, or exactly the named
/// ones, each of which must exist and be active.
async fn select(store: &Store, selection: Selection<'_>) -> Result<Vec<Instance>, Error> {
    let instances = store.instances().list().await?;
    let names = match selection {
        Selection::AllActive => return Ok(instances.into_iter().filter(|i| i.is_active).collect()),
        Selection::Matching(selector) => {
            let chosen = instances
                .into_iter()
                .filter(|i| i.is_active && selector.matches(&i.labels));
            return Ok(chosen.collect());
        }
        Selection::Named(names) => names,
    };
    let wanted: BTreeSet<&str> = names.iter().map(InstanceName::as_str).collect();
    let known: BTreeSet<&str> = instances.iter().map(|i| i.name.as_str()).collect();
    let unknown: Vec<&str> = wanted.difference(&known).copied().collect();
    if !unknown.is_empty() {
        return Err(Error::UnknownInstances(unknown.join(", ")));
    }
    let chosen: Vec<Instance> = instances
        .into_iter()
        .filter(|i| wanted.contains(i.name.as_str()))
        .collect();
    let disabled: Vec<&str> = chosen
        .iter()
        .filter(|i| !i.is_active)
        .map(|i| i.name.as_str())
        .collect();
    if !disabled.is_empty() {
        return Err(Error::DisabledInstances(disabled.join(", ")));
    }
    Ok(chosen)
}

/// Start a batch and follow it to its end; `progress` sees the batch when
/// it starts and each time its counters move.
pub async fn run_to_end(
    store: &Store,
    broker: &dyn Broker,
    request: &BatchRequest<'_>,
    mut progress: impl FnMut(&Batch) + Send,
) -> Result<Batch, Error> {
    let batch = start_batch(store, broker, request).await?;
    progress(&batch);
    watch(store, batch.id, WATCH_INTERVAL, progress).await
}

/// Read the batch until it is terminal: each time word comes that it moved
/// (PostgreSQL; on SQLite, moved by this process), or every `poll` (a move
/// by another process on SQLite, or without word); `progress` sees it each
/// time its counters move.
pub async fn watch(
    store: &Store,
    id: BatchId,
    poll: Duration,
    mut progress: impl FnMut(&Batch) + Send,
) -> Result<Batch, Error> {
    // Listening before the first read: a change after it is never missed.
    let mut changes = store.batch_changes().await;
    let mut seen = None;
    loop {
        let batch = store.batches().get(id).await?.ok_or(Error::NotFound(id))?;
        let counts = (batch.succeeded, batch.failed);
        if seen != Some(counts) {
            seen = Some(counts);
            progress(&batch);
        }
        if batch.status.is_terminal() {
            return Ok(batch);
        }
        changes.wait(id, poll).await;
    }
}

/// [`watch`] without progress.
pub async fn wait(store: &Store, id: BatchId, poll: Duration) -> Result<Batch, Error> {
    watch(store, id, poll, |_| {}).await
}
