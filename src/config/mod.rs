//! Configuration: one YAML file, overridden key by key from the environment
//! (`DBFLEET__SECTION__KEY`), validated as a whole.
//!
//! Loading never stops at the first problem: every unknown key, missing value
//! and bad value is collected and reported together, each naming the file and
//! the key, so that `dbfleet config check` shows everything to fix at once.

mod load;

use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;

pub use load::{load, load_from_str, ConfigError, ConfigErrors};

/// Default location of the main configuration file.
pub const DEFAULT_PATH: &str = "config/dbfleet.yaml";

/// The whole configuration of both programs.
#[derive(Debug, Clone)]
pub struct Settings {
    pub store: StoreSettings,
    pub broker: BrokerSettings,
    pub worker: WorkerSettings,
    pub job: JobSettings,
    pub aggregator: AggregatorSettings,
    /// Time zone whose calendar date is `collected_date` (IANA name).
    pub timezone: chrono_tz::Tz,
    pub filters: FilterSettings,
    pub log: LogSettings,
}

#[derive(Debug, Clone)]
pub struct StoreSettings {
    /// `postgres://…` URL of the control store. A secret: it may hold a password.
    pub url: SecretString,
    /// Upper bound of the connection pool of each process.
    pub max_connections: u32,
}

#[derive(Debug, Clone)]
pub struct BrokerSettings {
    /// `amqp://…` URL of RabbitMQ. A secret: it may hold a password.
    pub url: SecretString,
    /// Prefix of every exchange and queue name, so several fleets (or tests)
    /// share one broker.
    pub prefix: String,
    /// How many times a job may be delivered before it is dead-lettered.
    pub delivery_limit: u32,
}

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Jobs one worker process runs at once; also its prefetch.
    pub concurrency: u16,
    /// Name reported in results; defaults to the host name.
    pub name: Option<String>,
}

#[derive(Debug, Clone)]
pub struct JobSettings {
    /// Wall-clock budget of one job, from dispatch.
    pub deadline: Duration,
    pub connect_timeout: Duration,
    /// Session `statement_timeout` / `max_statement_time` on the instance.
    pub statement_timeout: Duration,
    /// Session `lock_timeout` / `lock_wait_timeout` on the instance.
    pub lock_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct AggregatorSettings {
    /// Results the aggregator folds at once (its prefetch).
    pub prefetch: u16,
    /// How often the sweeper fails jobs past their deadline.
    pub sweep_interval: Duration,
}

#[derive(Debug, Clone)]
pub struct FilterSettings {
    /// The `database_filters.yaml` file, relative to the working directory.
    pub path: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone)]
pub struct LogSettings {
    pub format: LogFormat,
    /// A `tracing` filter directive such as `info` or `dbfleet=debug`.
    pub level: String,
}
