//! `dbfleet alert …`: the channels and the state of the alert rules.

use clap::Subcommand;

#[derive(Subcommand)]
pub enum AlertCommand {
    /// Send a sample notification to each channel of `alerts.channels` (or
    /// one); exit 0 only when every one took it, 1 naming each that did
    /// not and why.
    Test {
        /// Only this channel.
        #[arg(long)]
        channel: Option<String>,
    },
    /// The state of each rule and subject, and the last notifications sent.
    List {
        /// Notifications shown at most.
        #[arg(long, default_value_t = 20)]
        sends: i64,
        #[arg(long)]
        json: bool,
    },
}
