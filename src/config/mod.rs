//! Configuration: one YAML file, overridden key by key from the environment
//! (`DBFLEET__SECTION__KEY`), validated as a whole.
//!
//! Loading never stops at the first problem: every unknown key, missing value
//! and bad value is collected and reported together, each naming the file and
//! the key, so that `dbfleet config check` shows everything to fix at once.

mod alert_channels;
mod alerts;
#[cfg(test)]
mod alerts_tests;
mod capacity;
mod instance_file;
mod instances;
mod load;
mod report;
mod retention;
mod schedules;
mod section;
mod settings;
mod syncs;
#[cfg(test)]
mod test_support;
mod tls;
mod value;

use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;

pub use alert_channels::ca_certificates;
pub use alerts::{
    AlertChannel, AlertRule, AlertSettings, BatchEnd, ChannelKind, Condition, Silence, Smtp,
    SmtpTls, Webhook,
};
pub use capacity::{size_mb, CapacitySettings, Ceiling};
pub use instance_file::{check_instances, parse_instances};
pub use load::{load, load_from_str};
pub use report::{ConfigError, ConfigErrors};
pub use retention::RetentionSettings;
pub use schedules::DeclaredSchedule;

/// Default location of the main configuration file.
pub const DEFAULT_PATH: &str = "config/dbfleet.yaml";

/// The whole configuration of both programs.
#[derive(Debug, Clone)]
pub struct Settings {
    pub store: StoreSettings,
    pub broker: BrokerSettings,
    pub worker: WorkerSettings,
    pub job: JobSettings,
    pub batch: BatchSettings,
    pub aggregator: AggregatorSettings,
    /// Time zone whose calendar date is `collected_date` (IANA name).
    pub timezone: chrono_tz::Tz,
    pub filters: FilterSettings,
    pub log: LogSettings,
    pub telemetry: TelemetrySettings,
    /// The HTTP API of `dbfleet serve` (`api:`).
    pub api: ApiSettings,
    /// Ceilings and history of the capacity forecasts (`capacity:`).
    pub capacity: CapacitySettings,
    /// How long each history is kept (`retention:`), applied by `dbfleet
    /// migrate --maintain`.
    pub retention: RetentionSettings,
    /// Batches `dbfleet serve` starts by itself (`schedules:`), names unique.
    pub schedules: Vec<DeclaredSchedule>,
    /// Alert rules, channels and silences (`alerts:`).
    pub alerts: AlertSettings,
    /// Data sync definitions (`syncs:`), names unique.
    pub syncs: Vec<crate::sync::SyncDefinition>,
    /// Directory of embedded state (the SQLite control store used when
    /// `store.url` is absent), relative to the working directory.
    pub data_dir: PathBuf,
    /// Instances declared in the file, in file order; names are unique.
    pub instances: Vec<DeclaredInstance>,
    /// `instance_defaults.tls_mode`: the TLS mode of an instance that
    /// names none (declared, added or imported). Default: `prefer`.
    pub instance_tls_mode: crate::tls::TlsMode,
    /// Named credentials declared in the file; names are unique.
    pub credentials: Vec<DeclaredCredential>,
}

/// A named credential declared in the configuration (`credentials:`),
/// which instances reference by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredCredential {
    pub name: crate::domain::CredentialName,
    pub username: String,
    pub password: crate::secret::PasswordRef,
}

/// An instance declared in the configuration, reconciled into the store on start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredInstance {
    pub name: crate::domain::InstanceName,
    pub db_type: crate::domain::DbType,
    pub host: String,
    /// Default: `db_type.default_port()`.
    pub port: u16,
    /// Empty when the instance names a `credential`.
    pub username: String,
    /// From `password_env` or `password_file`; neither gives `None`.
    pub password: crate::secret::PasswordRef,
    /// A named credential to log in with instead of `username` and a
    /// password reference of its own.
    pub credential: Option<crate::domain::CredentialName>,
    pub database: Option<String>,
    /// Default: `true`.
    pub active: bool,
    /// Default: none.
    pub labels: crate::labels::Labels,
    /// `tls_mode` (default: `instance_defaults.tls_mode`) and the
    /// certificate files `tls_ca_file`, `tls_cert_file`, `tls_key_file`.
    pub tls: crate::tls::TlsSettings,
}

#[derive(Debug, Clone)]
pub struct StoreSettings {
    /// `postgres://…` or `sqlite:…` URL of the control store; `None` means
    /// the embedded SQLite store under [`Settings::data_dir`]. A secret: it
    /// may hold a password.
    pub url: Option<SecretString>,
    /// Upper bound of the connection pool of each process.
    pub max_connections: u32,
}

#[derive(Debug, Clone)]
pub struct BrokerSettings {
    /// `amqp://…` URL of RabbitMQ, or `memory://`; `None` means the
    /// in-process queue. A secret: it may hold a password.
    pub url: Option<SecretString>,
    /// Prefix of every exchange and queue name, so several fleets (or tests)
    /// share one broker.
    pub prefix: String,
    /// How many times a job may be delivered before it is dead-lettered.
    pub delivery_limit: u32,
    /// Delays of the retry tiers: a job that hits a transient failure (the
    /// control store is down, its instance is busy) waits in tier `n` for
    /// its `n`-th retry. Past the last tier, it is rejected and counts toward
    /// `delivery_limit`.
    pub retry_delays: Vec<Duration>,
    /// Certificates for an `amqps://` URL.
    pub tls: BrokerTls,
}

/// `broker.tls`: files for an `amqps://` broker, paths only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BrokerTls {
    /// PEM file of CA certificates trusted besides the system's.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate, for a broker that verifies its peers.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert_file`.
    pub key_file: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Jobs one worker process runs at once.
    pub concurrency: u16,
    /// Jobs the broker hands one worker before it has acked them; at least
    /// `concurrency`. Above it (twice it by default), a job slot takes its
    /// next job while the broker confirms the last one's result.
    pub prefetch: u16,
    /// Name reported in results; defaults to the host name.
    pub name: Option<String>,
    /// On SIGTERM, how long in-flight jobs may run before they are handed
    /// back to the broker.
    pub drain_timeout: Duration,
    /// Jobs of the interactive lane (`instance check`, single jobs) run at
    /// once, in slots of their own besides `concurrency`.
    pub interactive_slots: u16,
    /// The network zone whose jobs this worker takes (instances labelled
    /// `zone: <it>`); `None`: the default zone, instances without one.
    pub zone: Option<String>,
}

#[derive(Debug, Clone)]
pub struct JobSettings {
    /// Wall-clock budget of one job, counted from the moment a worker
    /// starts it: a job waiting in the queue is not late.
    pub deadline: Duration,
    pub connect_timeout: Duration,
    /// Session `statement_timeout` / `max_statement_time` on the instance.
    pub statement_timeout: Duration,
    /// Session `lock_timeout` / `lock_wait_timeout` on the instance.
    pub lock_timeout: Duration,
    /// Jobs that may run at once on one host, across the whole fleet (so
    /// a batch never opens 50 sessions on a server that hosts 50 instance
    /// records); 0: no cap. Every worker of a fleet must use the same.
    pub max_per_host: u32,
    /// `jobs.<kind>.deadline`: a kind's own budget instead of `deadline`.
    pub kind_deadlines: Vec<(crate::message::JobKind, Duration)>,
}

/// A data sync's budget when `jobs.data_sync.deadline` is not set: a
/// first copy of a large table takes hours, and a run that stops resumes
/// from its checkpoint anyway.
pub const DATA_SYNC_DEADLINE: Duration = Duration::from_secs(6 * 3600);

impl JobSettings {
    /// The budget of a job of `kind`: `jobs.<kind>.deadline`, else the
    /// kind's own default (data sync: [`DATA_SYNC_DEADLINE`]), else
    /// `job.deadline`.
    pub fn deadline_of(&self, kind: crate::message::JobKind) -> Duration {
        let set = self.kind_deadlines.iter().find(|(k, _)| *k == kind);
        match (set, kind) {
            (Some((_, deadline)), _) => *deadline,
            (None, crate::message::JobKind::DataSync) => DATA_SYNC_DEADLINE.max(self.deadline),
            (None, _) => self.deadline,
        }
    }
}

#[derive(Debug, Clone)]
pub struct BatchSettings {
    /// How long a batch may take, from its start: a job no worker started by
    /// then fails with class `timeout`. It bounds the queue's tail, so a
    /// fleet larger than workers × job time still finishes every job.
    pub deadline: Duration,
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

#[derive(Debug, Clone, PartialEq)]
pub struct TelemetrySettings {
    /// Where `serve` and each worker answer `/metrics`, `/healthz` and
    /// `/readyz`; `None`: nowhere (one-shot commands never do).
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// The OTLP/HTTP collector's base URL (`http://collector:4318`); spans
    /// go to its `/v1/traces`. `None`: traces are not exported (trace
    /// context still travels with every job).
    pub otlp_endpoint: Option<String>,
    /// The share of traces kept, decided where a trace starts (0.0–1.0).
    pub sample_ratio: f64,
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        Self {
            metrics_addr: None,
            otlp_endpoint: None,
            sample_ratio: 1.0,
        }
    }
}

/// `api:`: the JSON HTTP API that `dbfleet serve` answers under `/api/v1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiSettings {
    /// Serve the API at all. Default: `false`, so upgrading never opens a
    /// port nobody asked for; when `true` a token reference is required.
    pub enabled: bool,
    /// Where the API listens. Default: `127.0.0.1:8080` (loopback: put a
    /// TLS-terminating proxy in front to expose it).
    pub listen: std::net::SocketAddr,
    /// Where the bearer token is (`token_env` or `token_file`): a
    /// reference, never the token itself, resolved when `serve` starts.
    pub token: Option<crate::secret::PasswordRef>,
    /// Reads need the token too. Default: `false` (writes always do).
    pub read_requires_token: bool,
    /// Largest request body accepted, in bytes; above it: 413. Default 64 KiB.
    pub body_limit: usize,
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 8080)),
            token: None,
            read_requires_token: false,
            body_limit: 64 * 1024,
        }
    }
}

#[derive(Debug, Clone)]
pub struct LogSettings {
    pub format: LogFormat,
    /// A `tracing` filter directive such as `info` or `dbfleet=debug`.
    pub level: String,
}
