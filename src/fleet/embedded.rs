//! The whole fleet in one process, for one batch: `dbfleet run`, and
//! `dbfleet instance check` on the embedded defaults.
//!
//! Migrate the store, reconcile the declared instances, start a worker and
//! the control plane's loops in this process, run one batch to its end, and
//! stop them. With the embedded defaults (SQLite and the in-process queue)
//! nothing but this process is needed. If a loop fails or panics while the
//! batch runs, the run stops and says which.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::dispatcher::{self, BatchReport, BatchRequest, Selection};
use super::{load_filters, open_broker, open_store_migrating, serve, worker, Error};
use crate::config::Settings;
use crate::lifecycle::Tasks;
use crate::message::JobParams;
use crate::reconcile::{self, Reconciliation};
use crate::store::Batch;

/// What one run did.
pub struct RunOutcome {
    pub reconciliation: Reconciliation,
    pub report: BatchReport,
}

/// Run one batch of `params`' kind over `selection` in this process; `progress`
/// sees the batch each time its counters change.
pub async fn run(
    settings: &Settings,
    params: &JobParams,
    selection: Selection<'_>,
    progress: impl FnMut(&Batch) + Send,
) -> Result<RunOutcome, Error> {
    let filters = Arc::new(load_filters(settings)?);
    let (store, _) = open_store_migrating(settings).await?;
    let broker = open_broker(settings).await?;
    // Its problems are the caller's to report, once, with the outcome.
    let mut reconciliation =
        reconcile::reconcile_fleet(&store, &settings.instances, &settings.credentials).await?;
    let syncs = super::sync::reconcile(&store, &settings.syncs).await?;
    reconciliation.problems.extend(syncs);
    let mut tasks = Tasks::new(CancellationToken::new());
    let name = settings.worker.name.clone();
    let name = name.unwrap_or_else(|| "dbfleet-run".to_string());
    let worker = Arc::new(worker(
        settings,
        store.clone(),
        broker.clone(),
        filters,
        name,
    ));
    tasks.spawn_loop("the worker", worker.run(tasks.shutdown().clone()));
    serve::spawn(&mut tasks, settings, store.clone(), broker.clone());

    let request = BatchRequest {
        params,
        selection,
        deadline: settings.batch.deadline,
        requested_by: Some("dbfleet run"),
        interactive: false,
    };
    let ended = tokio::select! {
        ended = dispatcher::run_to_end(&store, broker.as_ref(), &request, progress) => ended.map_err(Error::from),
        failure = tasks.first_failure() => Err(failure.into()),
    };
    let stopped = tasks.stop().await;
    broker.close().await;
    let batch = ended?;
    stopped?;
    let report = dispatcher::report(&store, batch.id).await?;
    Ok(RunOutcome {
        reconciliation,
        report,
    })
}
