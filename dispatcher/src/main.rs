//! `dbfleet`: the control plane's command line.
//!
//! Exit codes: 0 success; 1 failure (a failed batch, any error); 2 bad
//! usage or configuration; 3 a batch that ended `partial_success`.

mod commands;
mod progress;
mod render;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgGroup, Args, Parser, Subcommand};
use dbfleet::config;
use dbfleet::domain::{BatchId, DbType, InstanceName};

#[derive(Parser)]
#[command(
    name = "dbfleet",
    version,
    about = "Inventory and daily capacity history of a fleet of database instances."
)]
struct Cli {
    /// Configuration file.
    #[arg(long, short, global = true, env = "DBFLEET_CONFIG", default_value = config::DEFAULT_PATH)]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create or upgrade the control store's schema.
    Migrate,
    /// Register and manage monitored instances.
    #[command(subcommand)]
    Instance(InstanceCommand),
    /// Start and inspect capacity-sync batches.
    #[command(subcommand)]
    Batch(BatchCommand),
    /// Run the aggregator and the deadline sweeper until SIGTERM.
    Serve,
    /// Sync every active instance once, in this process: migrate, reconcile
    /// the declared instances, run the batch with in-process workers, print
    /// a summary. Exit codes as `batch start --wait`.
    Run {
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
}

#[derive(Subcommand)]
enum DlqCommand {
    /// List dead letters, newest first (not yet replayed ones by default).
    List {
        /// Include dead letters already replayed.
        #[arg(long)]
        all: bool,
        #[arg(long, default_value_t = 50)]
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
enum InstanceCommand {
    /// Register an instance.
    Add(AddInstance),
    /// List registered instances.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one instance.
    Show {
        name: InstanceName,
        #[arg(long)]
        json: bool,
    },
    /// Include an instance in batches again.
    Enable { name: InstanceName },
    /// Leave an instance out of batches; its history stays.
    Disable { name: InstanceName },
    /// Remove an instance from the registry; its history stays.
    Remove { name: InstanceName },
}

#[derive(Args)]
struct AddInstance {
    /// Unique name (letters, digits, `-`, `_`, `.`).
    name: InstanceName,
    /// Engine: mysql (also MariaDB) or postgresql.
    #[arg(long)]
    db_type: DbType,
    #[arg(long)]
    host: String,
    /// Port; the engine's default when omitted.
    #[arg(long)]
    port: Option<u16>,
    #[arg(long)]
    username: String,
    /// Environment variable holding the password, read by each worker.
    #[arg(long, conflicts_with = "password_file")]
    password_env: Option<String>,
    /// File holding the password (e.g. a mounted secret), read by each worker.
    #[arg(long)]
    password_file: Option<PathBuf>,
    /// Database to connect to (default: none for MySQL, `postgres` for PostgreSQL).
    #[arg(long)]
    database: Option<String>,
}

#[derive(Subcommand)]
enum BatchCommand {
    /// Start a batch over every active instance, or the named ones.
    Start {
        /// Only these instances (repeatable).
        #[arg(long = "instance", value_name = "NAME")]
        instances: Vec<InstanceName>,
        /// Wait until the batch ends; the exit code tells how it ended.
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
        #[arg(long, default_value_t = 20)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate the configuration and the filter file; list every problem.
    Check,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match config::load(&cli.config, std::env::vars()) {
        Ok(settings) => settings,
        Err(errors) => {
            eprintln!("{errors}");
            return ExitCode::from(2);
        }
    };
    dbfleet::telemetry::init(&settings.log);
    match commands::run(cli.command, &cli.config, settings).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
