//! One function per command; each returns the process exit code.

mod batch;
mod dlq;
mod instance;

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use dbfleet::config::Settings;
use dbfleet::fleet::{self, dispatcher::Selection, embedded};
use dbfleet::lifecycle;
use dbfleet::message::JobKind;
use dbfleet::store::BatchStatus;

use crate::cli::{Command, ConfigCommand};
use crate::progress::Progress;
use crate::render;

/// A command that cannot work as asked (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Usage(pub String);

/// Whether `e` is a usage or configuration problem rather than a failure.
pub fn is_usage(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause.is::<Usage>()
            || matches!(
                cause.downcast_ref::<fleet::Error>(),
                Some(fleet::Error::NeedsSharedBroker(_) | fleet::Error::Filters(_))
            )
    })
}

pub async fn run(command: Command, config_path: &Path, settings: Settings) -> Result<ExitCode> {
    let mut out = std::io::stdout();
    match command {
        Command::Migrate => {
            fleet::open_store(&settings).await?;
            writeln!(out, "control store is up to date")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Instance(command) => instance::run(command, &settings, &mut out).await,
        Command::Batch(command) => batch::run(command, &settings, &mut out).await,
        Command::Serve => serve(&settings).await,
        Command::Run { kind, json } => {
            let outcome = in_process(&settings, kind, Selection::AllActive).await?;
            render::summary(&mut out, &outcome.report, json)?;
            Ok(exit_code(outcome.report.batch.status))
        }
        Command::Config(ConfigCommand::Check) => {
            fleet::load_filters(&settings)?;
            writeln!(out, "{}: configuration is valid", config_path.display())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Dlq(command) => dlq::run(command, &settings, &mut out).await,
    }
}

async fn serve(settings: &Settings) -> Result<ExitCode> {
    fleet::require_shared_broker(settings, "dbfleet serve")?;
    let store = fleet::open_store(settings).await?;
    let broker = fleet::open_broker(settings).await?;
    let shutdown = lifecycle::shutdown_on_signals();
    let served = fleet::serve(settings, store, broker.clone(), shutdown).await;
    broker.close().await;
    served?;
    Ok(ExitCode::SUCCESS)
}

/// One batch of `kind` run by this process (embedded defaults), with a
/// progress bar; reconciliation problems are printed as warnings.
pub async fn in_process(
    settings: &Settings,
    kind: JobKind,
    selection: Selection<'_>,
) -> Result<embedded::RunOutcome> {
    let mut progress = Progress::start();
    let outcome = embedded::run(settings, kind, selection, |batch| progress.update(batch)).await;
    progress.finish();
    let outcome = outcome?;
    for problem in &outcome.reconciliation.problems {
        eprintln!("warning: {problem}");
    }
    Ok(outcome)
}

/// 0 on success, 3 on partial success, 1 when every job failed.
pub fn exit_code(status: BatchStatus) -> ExitCode {
    match status {
        BatchStatus::Success => ExitCode::SUCCESS,
        BatchStatus::PartialSuccess => ExitCode::from(3),
        BatchStatus::Failed | BatchStatus::Running => ExitCode::FAILURE,
    }
}
