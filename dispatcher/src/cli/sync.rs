//! `dbfleet sync …`: the data sync definitions (`syncs:`), their runs and
//! their history.

use clap::Subcommand;
use dbfleet::sync::SyncMode;

use super::values::limit;

#[derive(Subcommand)]
pub enum SyncCommand {
    /// Every definition: source, targets, mode, tables, enabled.
    List {
        #[arg(long)]
        json: bool,
    },
    /// One definition in full, with its latest run per target and table.
    Show {
        definition: String,
        #[arg(long)]
        json: bool,
    },
    /// Sync a definition's targets now: one `data_sync` job per target
    /// instance. On the embedded defaults it runs in this process; on a
    /// fleet it is published to the workers. Exit codes as `batch start
    /// --wait`: 0 success, 3 partial success, 1 failed.
    Run {
        definition: String,
        /// Only this target: `INSTANCE` (its targets) or `INSTANCE/DATABASE`.
        #[arg(long, value_name = "TARGET")]
        target: Option<String>,
        /// The definition's own mode when absent.
        #[arg(long, value_parser = mode)]
        mode: Option<SyncMode>,
        /// Wait until the batch ends (always, on the embedded defaults).
        #[arg(long)]
        wait: bool,
        #[arg(long)]
        json: bool,
    },
    /// Compare each target with the source, chunk by chunk (row count and
    /// a checksum of the rows), without syncing.
    Verify {
        definition: String,
        #[arg(long, value_name = "TARGET")]
        target: Option<String>,
        /// Re-copy the chunks that differ.
        #[arg(long)]
        repair: bool,
        #[arg(long)]
        wait: bool,
        #[arg(long)]
        json: bool,
    },
    /// The runs of every table, newest first.
    History {
        /// Only this definition's.
        definition: Option<String>,
        /// `INSTANCE` or `INSTANCE/DATABASE`.
        #[arg(long)]
        target: Option<String>,
        /// The source table.
        #[arg(long)]
        table: Option<String>,
        /// `running`, `success` or `failed`.
        #[arg(long, value_parser = ["running", "success", "failed"])]
        status: Option<String>,
        #[arg(long, default_value_t = 50, value_parser = limit())]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// Let runs of a definition start, whatever the configuration says,
    /// until `reset`; reconciliation keeps the switch.
    Enable { definition: String },
    /// Stop runs of a definition from starting, whatever the configuration
    /// says, until `enable` or `reset`; reconciliation keeps the switch.
    Disable { definition: String },
    /// Clear the operator's switch: the configuration's `enabled` decides
    /// again.
    Reset { definition: String },
}

fn mode(raw: &str) -> Result<SyncMode, String> {
    match raw {
        "full" => Ok(SyncMode::Full),
        "incremental" => Ok(SyncMode::Incremental),
        _ => Err("expected full or incremental".to_string()),
    }
}
