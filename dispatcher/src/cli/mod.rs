//! The command line, as clap parses it.

mod alert;
mod capacity;
mod schedule;
mod sync;
mod values;

pub use alert::AlertCommand;
pub use capacity::{Among, CapacityCommand, ForecastArgs, GrowthArgs, TablesArgs, TopArgs};
pub use schedule::ScheduleCommand;
pub use sync::SyncCommand;
use values::{env_var_name, format, kind, label, limit, non_empty, params, selector, window};

use std::path::PathBuf;

use clap::{ArgGroup, Args, Parser, Subcommand};
use dbfleet::config;
use dbfleet::domain::{BatchId, CredentialName, DbType, InstanceName};
use dbfleet::import::Format;
use dbfleet::labels::{Labels, Selector};
use dbfleet::message::JobKind;

#[derive(Parser)]
#[command(
    name = "dbfleet",
    version,
    about = "Inventory and daily capacity history of a fleet of database instances."
)]
pub struct Cli {
    /// Configuration file.
    #[arg(long, short, global = true, env = "DBFLEET_CONFIG", default_value = config::DEFAULT_PATH)]
    pub config: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Create or upgrade the control store's schema.
    Migrate {
        /// Then apply `retention:` as the schema's owner: on PostgreSQL,
        /// make the daily tables' monthly partitions ahead and drop the
        /// months past retention; delete old rows in bounded chunks. Run it
        /// daily (a CronJob, a cron entry).
        #[arg(long)]
        maintain: bool,
        /// Print what maintenance did as one JSON object.
        #[arg(long, requires = "maintain")]
        json: bool,
    },
    /// Register, manage and check monitored instances.
    #[command(subcommand)]
    Instance(InstanceCommand),
    /// Start and inspect batches.
    #[command(subcommand)]
    Batch(BatchCommand),
    /// Named credentials that instances share: a username and where its
    /// password is, never the password.
    #[command(subcommand)]
    Credential(CredentialCommand),
    /// Run the control plane (result folding, dead letters, deadline
    /// sweeper) until SIGTERM.
    Serve,
    /// Run one batch over every active instance, in this process: migrate,
    /// reconcile the declared instances, run the batch with in-process
    /// workers, print a summary. Exit codes as `batch start --wait`.
    Run {
        /// What to run on each instance.
        #[arg(long, value_parser = kind(), default_value = "capacity_sync")]
        kind: JobKind,
        /// The jobs' parameters, a JSON object checked against the kind's
        /// schema, e.g. `{"period":"monthly"}` for `aggregate`.
        #[arg(long, value_name = "JSON", value_parser = params)]
        params: Option<serde_json::Value>,
        /// Only the active instances whose labels match, e.g.
        /// `env=prod,team in (payments,ledger),!deprecated`.
        #[arg(long, short = 'l', value_parser = selector)]
        selector: Option<Selector>,
        /// Print the batch as one JSON object instead of the summary table.
        #[arg(long)]
        json: bool,
    },
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// List and replay dead letters: messages the broker could not deliver,
    /// kept in the control store by `serve`.
    #[command(subcommand)]
    Dlq(DlqCommand),
    /// Read the capacity history: table sizes per database.
    #[command(subcommand)]
    Capacity(CapacityCommand),
    /// The batches `dbfleet serve` starts by itself (`schedules:`): list,
    /// pause, resume, trigger.
    #[command(subcommand)]
    Schedule(ScheduleCommand),
    /// Try the alert channels; show the alerts' state and what was sent.
    #[command(subcommand)]
    Alert(AlertCommand),
    /// Keep backup databases in step with their source (`syncs:`): list,
    /// run, verify, history.
    #[command(subcommand)]
    Sync(SyncCommand),
}

/// A change of `instance label`: `KEY=VALUE` sets, `KEY-` removes (a key
/// never ends with `-`, so the two cannot be confused).
fn label_change(value: &str) -> Result<LabelChange, String> {
    if let Some(key) = value.strip_suffix('-').filter(|_| !value.contains('=')) {
        return Labels::new([(key, "")])
            .map(|_| LabelChange::Remove(key.to_string()))
            .map_err(|problems| problems.join("; "));
    }
    label(value).map(LabelChange::Set)
}

/// One change of `dbfleet instance label`.
#[derive(Debug, Clone)]
pub enum LabelChange {
    Set(Labels),
    Remove(String),
}

#[derive(Subcommand)]
pub enum DlqCommand {
    /// List dead letters, newest first (not yet replayed ones by default).
    List {
        /// Include dead letters already replayed.
        #[arg(long)]
        all: bool,
        #[arg(long, default_value_t = 50, value_parser = limit())]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// Publish dead letters again: jobs (with a fresh deadline) to the jobs
    /// queue, results to the results queue. A body that is neither is only
    /// replayed when named by ID (to the jobs queue, as it is).
    #[command(group(ArgGroup::new("which").required(true).args(["all", "ids"])))]
    Replay {
        /// Every dead letter not replayed yet.
        #[arg(long)]
        all: bool,
        /// Dead letters to replay, by ID (replayed again if already replayed).
        #[arg(value_name = "ID")]
        ids: Vec<i64>,
    },
}

#[derive(Subcommand)]
pub enum InstanceCommand {
    /// Register an instance.
    Add(Box<AddInstance>),
    /// Register (or update) every instance of a YAML or CSV file, in one
    /// transaction: nothing is written if any row is bad (exit code 2).
    Import(ImportInstances),
    /// List registered instances.
    List {
        /// Only instances whose labels match (e.g. `env=prod,!deprecated`).
        #[arg(long, short = 'l', value_parser = selector)]
        selector: Option<Selector>,
        #[arg(long)]
        json: bool,
    },
    /// Set (`KEY=VALUE`) or remove (`KEY-`) labels of an instance
    /// registered outside the configuration (declared instances take their
    /// labels from it).
    Label {
        name: InstanceName,
        #[arg(required = true, value_name = "KEY=VALUE|KEY-", value_parser = label_change)]
        changes: Vec<LabelChange>,
    },
    /// Show one instance.
    Show {
        name: InstanceName,
        #[arg(long)]
        json: bool,
    },
    /// Check that dbfleet can work on instances: connect with each one's
    /// own settings, report its server and name every missing privilege
    /// with the statement that grants it. Exit code 0 when all is well, 3
    /// when something is missing, 1 when no instance could be checked.
    Check {
        /// Only these instances (default: every active one).
        names: Vec<InstanceName>,
        /// Only the active instances whose labels match.
        #[arg(long, short = 'l', value_parser = selector, conflicts_with = "names")]
        selector: Option<Selector>,
        #[arg(long)]
        json: bool,
    },
    /// Include an instance in batches again. On an instance declared in
    /// the configuration this is an override: `dbfleet run` keeps it
    /// whatever `active:` says, until `instance reset`.
    Enable { name: InstanceName },
    /// Leave an instance out of batches; its history stays. On a declared
    /// instance this is an override, as for `enable`.
    Disable { name: InstanceName },
    /// Clear the override of `enable`/`disable` on a declared instance:
    /// the configuration's `active:` applies again, now.
    Reset { name: InstanceName },
    /// Remove an instance from the registry; its history stays.
    Remove { name: InstanceName },
}

#[derive(Args)]
pub struct AddInstance {
    /// Unique name: letters and digits of any script, `-`, `_`, `.`.
    pub name: InstanceName,
    /// Engine: mysql (also MariaDB) or postgresql.
    #[arg(long)]
    pub db_type: DbType,
    #[arg(long, value_parser = non_empty)]
    pub host: String,
    /// Port; the engine's default when omitted.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub port: Option<u16>,
    #[arg(long, value_parser = non_empty, required_unless_present = "credential")]
    pub username: Option<String>,
    /// Environment variable holding the password, read by each worker.
    #[arg(long, conflicts_with = "password_file", value_parser = env_var_name)]
    pub password_env: Option<String>,
    /// File holding the password (e.g. a mounted secret), read by each worker.
    #[arg(long)]
    pub password_file: Option<PathBuf>,
    /// Log in with this named credential (`dbfleet credential add`)
    /// instead of a username and password of the instance's own.
    #[arg(long, conflicts_with_all = ["username", "password_env", "password_file"])]
    pub credential: Option<CredentialName>,
    /// Database to connect to (default: none for MySQL, `postgres` for PostgreSQL).
    #[arg(long)]
    pub database: Option<String>,
    /// TLS mode in the engine's words: PostgreSQL disable, prefer, require,
    /// verify-ca, verify-full; MySQL/MariaDB disabled, preferred, required,
    /// verify_ca, verify_identity (default: `instance_defaults.tls_mode`).
    #[arg(long)]
    pub tls_mode: Option<String>,
    /// PEM file of the CA that signs the server's certificate, on the workers.
    #[arg(long)]
    pub tls_ca_file: Option<PathBuf>,
    /// PEM client certificate, on the workers (with `--tls-key-file`).
    #[arg(long, requires = "tls_key_file")]
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of the client certificate, on the workers.
    #[arg(long, requires = "tls_cert_file")]
    pub tls_key_file: Option<PathBuf>,
    /// A label (repeatable): `--label env=prod --label team=payments`.
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = label)]
    pub labels: Vec<Labels>,
}

/// A named credential's username and where its password is.
#[derive(Args)]
pub struct Login {
    #[arg(long, value_parser = non_empty)]
    pub username: String,
    /// Environment variable holding the password, read by each worker.
    #[arg(long, conflicts_with = "password_file", value_parser = env_var_name)]
    pub password_env: Option<String>,
    /// File holding the password (e.g. a mounted secret), read by each worker.
    #[arg(long)]
    pub password_file: Option<PathBuf>,
}

#[derive(Args)]
pub struct ImportInstances {
    /// YAML with an `instances:` list shaped like the configuration's, or
    /// CSV whose header names the same keys as columns (name, engine,
    /// host, port, username, password_env, password_file, database,
    /// active, labels as `key=value;key=value`, credential, tls_mode,
    /// tls_ca_file, tls_cert_file, tls_key_file); an empty cell is an
    /// absent key.
    pub file: PathBuf,
    /// Also disable (never remove) every active instance registered outside
    /// the configuration that the file does not name; the instances record
    /// who did it.
    #[arg(long)]
    pub prune: bool,
    /// Report what the import would create, update and disable; write
    /// nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The file's format; by default CSV for a `.csv` file, else YAML.
    #[arg(long, value_parser = format())]
    pub format: Option<Format>,
    /// Print the names created, updated and unchanged as one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand)]
pub enum CredentialCommand {
    /// Register a named credential; `--replace` overwrites one of that name
    /// (every instance that uses it logs in with the new one).
    Add {
        name: CredentialName,
        #[command(flatten)]
        login: Login,
        #[arg(long)]
        replace: bool,
    },
    /// List named credentials and how many instances use each.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one named credential.
    Show {
        name: CredentialName,
        #[arg(long)]
        json: bool,
    },
    /// Remove a named credential no instance uses.
    Remove { name: CredentialName },
}

#[derive(Subcommand)]
pub enum BatchCommand {
    /// Start a batch over every active instance, or the named ones.
    Start {
        /// What to run on each instance.
        #[arg(long, value_parser = kind(), default_value = "capacity_sync")]
        kind: JobKind,
        /// The jobs' parameters, a JSON object checked against the kind's
        /// schema, e.g. `{"period":"monthly"}` for `aggregate`.
        #[arg(long, value_name = "JSON", value_parser = params)]
        params: Option<serde_json::Value>,
        /// Only these instances (repeatable).
        #[arg(long = "instance", value_name = "NAME")]
        instances: Vec<InstanceName>,
        /// Only the active instances whose labels match, e.g.
        /// `env=prod,team in (payments,ledger),!deprecated`.
        #[arg(long, short = 'l', value_parser = selector, conflicts_with = "instances")]
        selector: Option<Selector>,
        /// Publish to the interactive lane, which workers serve in slots of
        /// their own (`worker.interactive_slots`): for a few jobs someone
        /// waits for while a large batch runs.
        #[arg(long)]
        interactive: bool,
        /// Publish the jobs at even steps over this window (`30m`, `2h`)
        /// instead of all at once: the first now, the rest kept in the
        /// control store and published by `dbfleet serve` when their time
        /// comes. The batch's deadline counts from the end of the window.
        #[arg(long, value_name = "DURATION", value_parser = window)]
        spread: Option<std::time::Duration>,
        /// Wait until the batch ends (`dbfleet serve` folds its results);
        /// the exit code tells how it ended.
        #[arg(long)]
        wait: bool,
        /// Print the batch as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Show a batch and its jobs.
    Show {
        id: BatchId,
        #[arg(long)]
        json: bool,
    },
    /// List recent batches.
    List {
        #[arg(long, default_value_t = 20, value_parser = limit())]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration and the filter file; list every problem.
    Check,
}
