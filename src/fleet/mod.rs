//! The fleet: the roles the programs play, and how they are assembled from
//! one [`Settings`].
//!
//! - [`worker`]: consume jobs, run them, publish results (`dbfleet-worker`);
//! - [`aggregator`]: fold results and dead letters, sweep lost jobs, and
//!   [`serve`], which runs them together (`dbfleet serve`);
//! - [`dispatcher`]: start a batch and follow it to its end;
//! - [`embedded`]: the whole fleet in one process (`dbfleet run`);
//! - [`dlq`]: list and replay dead letters.
//!
//! The binaries call the functions here and nothing below them.

pub mod aggregator;
pub mod dispatcher;
pub mod dlq;
pub mod embedded;
pub mod folder;
mod publish;
mod report;
mod role;
pub mod scheduler;
mod serve;
mod spans;
pub mod spread;
mod startup;
pub mod sync;
pub mod worker;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};

use crate::broker::{self, Broker, MemoryBroker, RabbitBroker, Topology};
use crate::config::Settings;
use crate::filters::{DatabaseFilters, FilterError};
use crate::store::{self, Migrated, Store};

pub use serve::{reconcile_syncs, scheduler, serve};
pub use startup::{wait_for_broker, wait_for_store};
pub use worker::Worker;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error(transparent)]
    Broker(#[from] broker::Error),
    #[error(transparent)]
    Filters(#[from] FilterError),
    /// The filter file exists but cannot be read. Its own variant, because
    /// `FilterError::Io` repeats its source in its message.
    #[error("cannot read filter file `{path}`: {cause}")]
    UnreadableFilters { path: String, cause: std::io::Error },
    #[error(transparent)]
    Dispatch(#[from] dispatcher::Error),
    #[error(transparent)]
    Task(#[from] crate::lifecycle::TaskError),
    #[error(
        "`{0}` needs a shared broker, but broker.url is not set (or is memory://): \
         the in-process queue only serves `dbfleet run`; set broker.url to amqp://…"
    )]
    NeedsSharedBroker(String),
}

impl Error {
    /// Whether this is a problem with the configuration (exit code 2)
    /// rather than a failure: a filter file that is missing, unreadable or
    /// invalid, a command that needs a shared broker on the in-process
    /// queue, or a store whose schema this build cannot use until `dbfleet
    /// migrate` runs. An unreachable store or broker is a failure: it may be
    /// down.
    pub fn is_config(&self) -> bool {
        matches!(
            self,
            Error::Filters(_)
                | Error::UnreadableFilters { .. }
                | Error::NeedsSharedBroker(_)
                | Error::Store(store::Error::SchemaMissing | store::Error::SchemaBehind { .. })
        )
    }
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

/// Open the control store, whose schema must serve this build (see
/// [`Store::check_schema`]). Without a `store.url`, that is the embedded
/// SQLite file under `data_dir`, which belongs to this machine alone: its
/// schema is brought up to date here.
pub async fn open_store(settings: &Settings) -> Result<Store, Error> {
    let store = connect_store(settings).await?;
    if settings.store.url.is_none() {
        store.migrate().await?;
    } else {
        store.check_schema().await?;
    }
    Ok(store)
}

/// Open the control store and bring its schema up to date: what the
/// schema's owner does (`dbfleet migrate`, and `dbfleet run` for the store
/// it runs on).
pub async fn open_store_migrating(settings: &Settings) -> Result<(Store, Migrated), Error> {
    let store = connect_store(settings).await?;
    let migrated = store.migrate().await?;
    Ok((store, migrated))
}

async fn connect_store(settings: &Settings) -> Result<Store, Error> {
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
    Ok(Store::connect(&store_settings).await?)
}

/// Connect to the broker and declare the topology; without a `broker.url`
/// (or with `memory://`), the in-process queue.
pub async fn open_broker(settings: &Settings) -> Result<Arc<dyn Broker>, Error> {
    let topology = Topology::new(&settings.broker.prefix, settings.broker.delivery_limit)
        .with_retry_delays(settings.broker.retry_delays.clone())
        .in_zone(settings.worker.zone.as_deref());
    let url = match settings.broker.url.as_ref() {
        Some(url) if url.expose_secret() != MEMORY_URL => url,
        _ => {
            if settings.store.url.is_some() {
                tracing::info!("no broker.url configured: using the in-process queue");
            }
            return Ok(Arc::new(MemoryBroker::new(topology)));
        }
    };
    let broker = RabbitBroker::connect(url, &settings.broker.tls, topology).await?;
    broker.declare().await?;
    Ok(Arc::new(broker))
}

/// Read and parse the filter file; a malformed rule is an error (ruling
/// 13), reported with every other problem of the file.
pub fn load_filters(settings: &Settings) -> Result<DatabaseFilters, Error> {
    let path = &settings.filters.path;
    let text = read_filter_file(path).map_err(|e| match e {
        FilterError::Io { path, source } => Error::UnreadableFilters {
            path,
            cause: source,
        },
        other => Error::Filters(other),
    })?;
    Ok(DatabaseFilters::from_yaml_str(
        &path.display().to_string(),
        &text,
    )?)
}

fn read_filter_file(path: &Path) -> Result<String, FilterError> {
    let shown = path.display().to_string();
    std::fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => FilterError::NotFound { path: shown },
        _ => FilterError::Io {
            path: shown,
            source: e,
        },
    })
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
        store,
        broker,
        filters,
        job: settings.job.clone(),
        timezone: settings.timezone,
        concurrency: settings.worker.concurrency,
        prefetch: settings.worker.prefetch,
        name,
        drain_timeout: settings.worker.drain_timeout,
        retry_tiers: settings.broker.retry_delays.len(),
        interactive_slots: settings.worker.interactive_slots,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_filter_file_is_named() {
        let path = std::env::temp_dir().join("dbfleet-no-such-dir/filters.yaml");
        let err = read_filter_file(&path).unwrap_err();
        assert!(matches!(err, FilterError::NotFound { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!("filter file `{}` not found", path.display())
        );
    }

    #[test]
    fn a_filter_file_is_read_whole() {
        let dir = std::env::temp_dir().join(format!("dbfleet-filters-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f.yaml");
        let text = "database_filters:\n  mysql:\n    exclude_databases: [sys]\n";
        std::fs::write(&path, text).unwrap();
        let read = read_filter_file(&path);
        std::fs::remove_dir_all(&dir).ok();
        assert_eq!(read.unwrap(), text);
        let filters = DatabaseFilters::from_yaml_str("f.yaml", text).unwrap();
        assert_eq!(filters.engines(), vec!["mysql"]);
    }
}
