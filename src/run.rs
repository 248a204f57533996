//! `dbfleet run`: the whole fleet in one process, for one batch.
//!
//! Migrate the store, reconcile the declared instances, start a batch over
//! every active instance, run the workers and the aggregator in-process, and
//! return when the batch is terminal. With the embedded defaults (SQLite and
//! the in-process queue) nothing but this process is needed.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::dispatcher::{self, BatchReport, Selection};
use crate::fleet;
use crate::reconcile::{self, Reconciliation};
use crate::store::{Batch, Store};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Fleet(#[from] fleet::Error),
    #[error(transparent)]
    Store(#[from] crate::store::Error),
    #[error(transparent)]
    Dispatch(#[from] dispatcher::Error),
}

/// How often progress is reported while the batch runs.
const POLL: Duration = Duration::from_millis(100);

/// What one run did.
pub struct RunOutcome {
    pub reconciliation: Reconciliation,
    pub report: BatchReport,
}

/// Run one batch over every active instance; `progress` sees the batch each
/// time its counters change.
pub async fn run(
    settings: &Settings,
    mut progress: impl FnMut(&Batch) + Send,
) -> Result<RunOutcome, Error> {
    let filters = Arc::new(fleet::load_filters(settings)?);
    let store = fleet::open_store(settings).await?;
    let broker = fleet::open_broker(settings).await?;
    let reconciliation = reconcile::reconcile(&store, &settings.instances).await?;
    for problem in &reconciliation.problems {
        tracing::warn!("{problem}");
    }

    let shutdown = CancellationToken::new();
    let name = settings
        .worker
        .name
        .clone()
        .unwrap_or_else(|| "dbfleet-run".to_string());
    let worker = Arc::new(fleet::worker(
        settings,
        store.clone(),
        broker.clone(),
        filters,
        name,
    ));
    let working = tokio::spawn(worker.run(shutdown.clone()));
    let folding = tokio::spawn({
        let (settings, store, broker, shutdown) = (
            settings.clone(),
            store.clone(),
            broker.clone(),
            shutdown.clone(),
        );
        async move { fleet::serve(&settings, store, broker, shutdown).await }
    });

    let ended = drive(settings, &store, &broker, &mut progress).await;
    shutdown.cancel();
    let _ = working.await;
    let _ = folding.await;
    broker.close().await;
    let batch = ended?;
    let report = dispatcher::report(&store, batch.id).await?;
    Ok(RunOutcome {
        reconciliation,
        report,
    })
}

async fn drive(
    settings: &Settings,
    store: &Store,
    broker: &Arc<dyn crate::broker::Broker>,
    progress: &mut (impl FnMut(&Batch) + Send),
) -> Result<Batch, Error> {
    let mut batch = dispatcher::start_batch(
        store,
        broker.as_ref(),
        Selection::AllActive,
        settings.job.deadline,
        Some("dbfleet run"),
    )
    .await?;
    progress(&batch);
    let mut seen = (batch.succeeded, batch.failed);
    while !batch.status.is_terminal() {
        tokio::time::sleep(POLL).await;
        batch = store
            .batches()
            .get(batch.id)
            .await?
            .ok_or(dispatcher::Error::NotFound(batch.id))?;
        if (batch.succeeded, batch.failed) != seen {
            seen = (batch.succeeded, batch.failed);
            progress(&batch);
        }
    }
    Ok(batch)
}
