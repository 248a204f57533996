//! Wiring: how the programs assemble the store, the broker and the
//! long-running loops from one [`Settings`]. The binaries call these and
//! nothing else.

use std::path::PathBuf;
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};

use tokio_util::sync::CancellationToken;

use crate::aggregator;
use crate::broker::{self, Broker, MemoryBroker, RabbitBroker, Topology};
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
    #[error(
        "`{0}` needs a shared broker, but broker.url is not set (or is memory://): \
         the in-process queue only serves `dbfleet run`; set broker.url to amqp://…"
    )]
    NeedsSharedBroker(String),
}

/// `broker.url` value that selects the in-process queue explicitly.
pub const MEMORY_URL: &str = "memory://";

/// The SQLite file of the embedded store.
pub fn embedded_store_path(settings: &Settings) -> PathBuf {
    settings.data_dir.join("dbfleet.sqlite")
}

/// Whether the broker is the in-process queue (no `broker.url`, or `memory://`).
pub fn uses_memory_broker(settings: &Settings) -> bool {
    settings
        .broker
        .url
        .as_ref()
        .is_none_or(|url| url.expose_secret() == MEMORY_URL)
}

/// The in-process queue lives and dies with one process: commands that hand
/// jobs to other processes need a real broker.
pub fn require_shared_broker(settings: &Settings, command: &str) -> Result<(), Error> {
    if uses_memory_broker(settings) {
        return Err(Error::NeedsSharedBroker(command.to_string()));
    }
    Ok(())
}

/// Open the control store and bring its schema up to date. Without a
/// `store.url`, that is the embedded SQLite file under `data_dir`.
pub async fn open_store(settings: &Settings) -> Result<Store, Error> {
    let mut store_settings = settings.store.clone();
    if store_settings.url.is_none() {
        let path = embedded_store_path(settings);
        if settings.broker.url.is_none() {
            tracing::info!(
                "no store.url or broker.url configured: using the embedded defaults \
                 (SQLite store at {}, in-process queue)",
                path.display()
            );
        } else {
            tracing::info!(
                "no store.url configured: using the embedded SQLite store at {}",
                path.display()
            );
        }
        store_settings.url = Some(SecretString::from(format!("sqlite:{}", path.display())));
    }
    let store = Store::connect(&store_settings).await?;
    store.migrate().await?;
    Ok(store)
}

/// Connect to the broker and declare the topology; without a `broker.url`
/// (or with `memory://`), the in-process queue.
pub async fn open_broker(settings: &Settings) -> Result<Arc<dyn Broker>, Error> {
    let topology = Topology::new(&settings.broker.prefix, settings.broker.delivery_limit)
        .with_retry_delays(settings.broker.retry_delays.clone());
    let url = match settings.broker.url.as_ref() {
        Some(url) if url.expose_secret() != MEMORY_URL => url,
        _ => {
            if settings.store.url.is_some() {
                tracing::info!("no broker.url configured: using the in-process queue");
            }
            return Ok(Arc::new(MemoryBroker::new(topology)));
        }
    };
    let broker = RabbitBroker::connect(url, topology).await?;
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
    store: Store,
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
        drain_timeout: settings.worker.drain_timeout,
        retry_tiers: settings.broker.retry_delays.len(),
    }
}

/// Run the aggregator, the dead-letter folder and the deadline sweeper until
/// `shutdown`. If either consumer ends (an error, or the broker cancelled
/// it), everything stops and the first error is returned.
pub async fn serve(
    settings: &Settings,
    store: Store,
    broker: Arc<dyn Broker>,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let sweeper = tokio::spawn(aggregator::sweep(
        store.clone(),
        settings.aggregator.sweep_interval,
        aggregator::SWEEP_GRACE,
        shutdown.clone(),
    ));
    let mut dead_letters = tokio::spawn(aggregator::run_dead_letters(
        store.clone(),
        broker.clone(),
        shutdown.clone(),
    ));
    let folding = aggregator::run(
        store,
        broker,
        settings.aggregator.prefetch,
        shutdown.clone(),
    );
    tokio::pin!(folding);
    let (folded, dead) = tokio::select! {
        folded = &mut folding => {
            shutdown.cancel();
            (folded, (&mut dead_letters).await)
        }
        dead = &mut dead_letters => {
            shutdown.cancel();
            ((&mut folding).await, dead)
        }
    };
    let _ = sweeper.await;
    let dead = match dead {
        Ok(dead) => dead,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Ok(()),
    };
    folded?;
    Ok(dead?)
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

/// Resolves on SIGTERM or Ctrl-C.
#[cfg(unix)]
pub async fn wait_for_signal() {
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
pub async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}
