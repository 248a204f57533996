//! Wiring: how the programs assemble the store, the broker and the
//! long-running loops from one [`Settings`]. The binaries call these and
//! nothing else.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::aggregator;
use crate::broker::{self, Broker, RabbitBroker, Topology};
use crate::config::Settings;
use crate::coordinator::Coordinator;
use crate::filters::{DatabaseFilters, FilterError};
use crate::store::{self, Store};
use crate::worker::{self, Worker};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error(transparent)]
    Broker(#[from] broker::Error),
    #[error(transparent)]
    Filters(#[from] FilterError),
    #[error(transparent)]
    Worker(#[from] worker::Error),
    #[error(transparent)]
    Aggregator(#[from] aggregator::Error),
}

/// Open the control store and bring its schema up to date.
pub async fn open_store(settings: &Settings) -> Result<Arc<dyn Store>, Error> {
    let store = store::connect(&settings.store).await?;
    store.migrate().await?;
    Ok(store)
}

/// Connect to the broker and declare the topology.
pub async fn open_broker(settings: &Settings) -> Result<Arc<dyn Broker>, Error> {
    let topology = Topology::new(&settings.broker.prefix, settings.broker.delivery_limit);
    let broker = RabbitBroker::connect(&settings.broker.url, topology).await?;
    broker.declare().await?;
    Ok(Arc::new(broker))
}

/// Load the filter file, logging each ignored rule.
pub fn load_filters(settings: &Settings) -> Result<DatabaseFilters, Error> {
    let (filters, warnings) = DatabaseFilters::load(&settings.filters.path)?;
    for warning in warnings {
        tracing::warn!(file = %settings.filters.path.display(), "{warning}");
    }
    Ok(filters)
}

/// Build a worker over an open store and broker.
pub fn worker(
    settings: &Settings,
    store: Arc<dyn Store>,
    broker: Arc<dyn Broker>,
    filters: Arc<DatabaseFilters>,
    name: String,
) -> Worker {
    Worker {
        coordinator: Coordinator::new(store.clone(), filters, settings.job.clone()),
        store,
        broker,
        timezone: settings.timezone,
        concurrency: settings.worker.concurrency,
        name,
    }
}

/// Run the aggregator and the deadline sweeper until `shutdown`.
pub async fn serve(
    settings: &Settings,
    store: Arc<dyn Store>,
    broker: Arc<dyn Broker>,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let sweeper = tokio::spawn(aggregator::sweep(
        store.clone(),
        settings.aggregator.sweep_interval,
        aggregator::SWEEP_GRACE,
        shutdown.clone(),
    ));
    let folded = aggregator::run(
        store,
        broker,
        settings.aggregator.prefetch,
        shutdown.clone(),
    )
    .await;
    shutdown.cancel();
    let _ = sweeper.await;
    Ok(folded?)
}

/// A token cancelled on SIGTERM or Ctrl-C.
pub fn shutdown_on_signals() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown requested");
        cancel.cancel();
    });
    token
}

#[cfg(unix)]
async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}
