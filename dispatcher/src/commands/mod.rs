//! One function per command; each returns the process exit code.

mod alert;
mod batch;
mod capacity;
mod credential;
mod dlq;
mod import;
mod instance;
mod schedule;
mod sync;

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use chrono::Utc;
use dbfleet::config::Settings;
use dbfleet::fleet::{self, dispatcher::Selection, embedded};
use dbfleet::lifecycle;
use dbfleet::message::{JobKind, JobParams};
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
            || cause
                .downcast_ref::<fleet::Error>()
                .is_some_and(fleet::Error::is_config)
    })
}

pub async fn run(command: Command, config_path: &Path, settings: Settings) -> Result<ExitCode> {
    let mut out = std::io::stdout();
    match command {
        Command::Migrate { maintain, json } => {
            let (store, migrated) = fleet::open_store_migrating(&settings).await?;
            if !json {
                writeln!(out, "{}", render::migrated(&migrated))?;
            }
            if maintain {
                let today = Utc::now().with_timezone(&settings.timezone).date_naive();
                let done = store.maintain(&settings.retention, today).await?;
                render::maintenance::maintained(&mut out, &done, json)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Instance(command) => instance::run(command, &settings, &mut out).await,
        Command::Batch(command) => batch::run(command, &settings, &mut out).await,
        Command::Credential(command) => credential::run(command, &settings, &mut out).await,
        Command::Serve => serve(&settings).await,
        Command::Run {
            kind,
            params,
            selector,
            json,
        } => {
            let selection = batch::selection(&[], selector.as_ref());
            let params = job_params(&settings, kind, params)?;
            let outcome = in_process(&settings, &params, selection).await?;
            render::summary(&mut out, &outcome.report, json)?;
            Ok(exit_code(outcome.report.batch.status))
        }
        Command::Config(ConfigCommand::Check) => {
            fleet::load_filters(&settings)?;
            writeln!(out, "{}: configuration is valid", config_path.display())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Dlq(command) => dlq::run(command, &settings, &mut out).await,
        Command::Capacity(command) => capacity::run(command, &settings, &mut out).await,
        Command::Schedule(command) => schedule::run(command, &settings, &mut out).await,
        Command::Alert(command) => alert::run(command, &settings, &mut out).await,
        Command::Sync(command) => sync::run(command, &settings, &mut out).await,
    }
}

/// The control plane until SIGTERM; it waits for the store and the broker
/// to answer first.
async fn serve(settings: &Settings) -> Result<ExitCode> {
    fleet::require_shared_broker(settings, "dbfleet serve")?;
    let shutdown = lifecycle::shutdown_on_signals();
    let Some(store) = fleet::wait_for_store(settings, &shutdown).await else {
        return Ok(ExitCode::SUCCESS);
    };
    let Some(broker) = fleet::wait_for_broker(settings, &shutdown).await else {
        return Ok(ExitCode::SUCCESS);
    };
    if let Some(addr) = settings.telemetry.metrics_addr {
        let endpoint = dbfleet::metrics::serve(addr, store.clone(), shutdown.clone()).await;
        anyhow::Context::with_context(endpoint, || format!("cannot serve metrics on {addr}"))?;
    }
    if settings.api.enabled {
        fleet::reconcile_syncs(settings, &store).await?;
        let api = dbfleet::api::serve(settings, store.clone(), broker.clone(), shutdown.clone());
        match api.await {
            Ok(_) => {}
            // A missing or empty token is the configuration's problem (2);
            // a port in use is a failure (1).
            Err(e) if e.is_config() => return Err(Usage(e.to_string()).into()),
            Err(e) => return Err(e.into()),
        }
    }
    let served = fleet::serve(settings, store, broker.clone(), shutdown).await;
    broker.close().await;
    served?;
    Ok(ExitCode::SUCCESS)
}

/// One batch of `params`' kind run by this process (embedded defaults), with a
/// progress bar; reconciliation problems are printed as warnings.
pub async fn in_process(
    settings: &Settings,
    params: &JobParams,
    selection: Selection<'_>,
) -> Result<embedded::RunOutcome> {
    let mut progress = Progress::start();
    let outcome = embedded::run(settings, params, selection, |batch| progress.update(batch)).await;
    progress.finish();
    let outcome = outcome?;
    for problem in &outcome.reconciliation.problems {
        eprintln!("warning: {problem}");
    }
    Ok(outcome)
}

/// The parameters of a batch of `kind`: `--params` checked against the
/// kind, or its defaults.
pub fn job_params(
    settings: &Settings,
    kind: JobKind,
    params: Option<serde_json::Value>,
) -> Result<JobParams> {
    let value = params.unwrap_or(serde_json::Value::Null);
    let params = JobParams::from_json(kind, value)
        .map_err(|e| Usage(format!("--params for kind `{kind}`: {e}")))?;
    let today = Utc::now().with_timezone(&settings.timezone).date_naive();
    Ok(params.settled(today))
}

/// 0 on success, 3 on partial success, 1 when every job failed.
pub fn exit_code(status: BatchStatus) -> ExitCode {
    match status {
        BatchStatus::Success => ExitCode::SUCCESS,
        BatchStatus::PartialSuccess => ExitCode::from(3),
        BatchStatus::Failed | BatchStatus::Running => ExitCode::FAILURE,
    }
}

/// Who is acting, for the records that say so (a batch's `requested_by`,
/// an import's pruning): the operating-system user, or `dbfleet` when there
/// is none (a CronJob has no `$USER`).
pub(crate) fn operator() -> &'static str {
    static USER: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    USER.get_or_init(|| {
        std::env::var("USER")
            .ok()
            .filter(|user| !user.trim().is_empty())
            .unwrap_or_else(|| "dbfleet".to_string())
    })
}
