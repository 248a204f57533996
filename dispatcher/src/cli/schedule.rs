//! `dbfleet schedule …`: the configuration's schedules, as `dbfleet serve`
//! runs them.

use clap::Subcommand;

#[derive(Subcommand)]
pub enum ScheduleCommand {
    /// Every schedule of the configuration: its cron, whether it is paused,
    /// its last run and when the next one starts.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Stop a schedule from starting batches until it is resumed (on every
    /// `serve` replica: the switch is in the control store).
    Pause { name: String },
    /// Let a paused schedule start batches again, from its next time on:
    /// the runs its pause skipped are not made up.
    Resume { name: String },
    /// Start a schedule's batch now, whatever its cron says; refused while
    /// a batch of its kind is still running.
    Trigger {
        name: String,
        /// Wait until the batch ends; the exit code tells how it ended.
        #[arg(long)]
        wait: bool,
        /// Print the batch as one JSON object.
        #[arg(long)]
        json: bool,
    },
}
