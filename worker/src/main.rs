//! `dbfleet-worker`: consume jobs until SIGTERM.
//!
//! Exit codes: 0 stopped on a signal; 1 a failure (the store or the broker
//! cannot be reached); 2 bad configuration (the file, the filter file, no
//! shared broker).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser;
use dbfleet::fleet::{self, worker};
use dbfleet::{config, lifecycle, telemetry};

/// Consume jobs from the broker, run each on its instance, publish the
/// results. Stops on SIGTERM after in-flight jobs finish.
#[derive(Parser)]
#[command(name = "dbfleet-worker", version)]
struct Args {
    /// Configuration file.
    #[arg(long, short, env = "DBFLEET_CONFIG", default_value = config::DEFAULT_PATH)]
    config: PathBuf,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let settings = match config::load(&args.config, std::env::vars()) {
        Ok(settings) => settings,
        Err(errors) => {
            eprintln!("{errors}");
            return ExitCode::from(2);
        }
    };
    let traces = telemetry::init(&settings.log, &settings.telemetry, "dbfleet-worker");
    let format = settings.log.format;
    let outcome = run(settings).await;
    traces.shutdown().await;
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => exit_for(&e, format),
    }
}

/// Report why the worker stops, once: as a log line when logs are JSON (a
/// log shipper reads stderr), else as plain `error: …`. A configuration
/// problem exits 2, any other failure 1.
fn exit_for(e: &anyhow::Error, format: config::LogFormat) -> ExitCode {
    match format {
        config::LogFormat::Json => tracing::error!(error = %format!("{e:#}"), "stopping"),
        config::LogFormat::Pretty => eprintln!("error: {e:#}"),
    }
    let config = e.chain().any(|cause| {
        cause
            .downcast_ref::<fleet::Error>()
            .is_some_and(fleet::Error::is_config)
    });
    if config {
        ExitCode::from(2)
    } else {
        ExitCode::FAILURE
    }
}

async fn run(settings: config::Settings) -> anyhow::Result<()> {
    fleet::require_shared_broker(&settings, "dbfleet-worker")?;
    let filters = Arc::new(fleet::load_filters(&settings)?);
    // Wait for the store and the broker instead of exiting: a worker that
    // starts first must not crash-loop.
    let shutdown = lifecycle::shutdown_on_signals();
    let Some(store) = fleet::wait_for_store(&settings, &shutdown).await else {
        return Ok(());
    };
    let Some(broker) = fleet::wait_for_broker(&settings, &shutdown).await else {
        return Ok(());
    };
    if let Some(addr) = settings.telemetry.metrics_addr {
        let endpoint = dbfleet::metrics::serve(addr, store.clone(), shutdown.clone()).await;
        endpoint.with_context(|| format!("cannot serve metrics on {addr}"))?;
    }
    let name = settings
        .worker
        .name
        .clone()
        .unwrap_or_else(worker::default_name);
    let worker = Arc::new(fleet::worker(
        &settings,
        store,
        broker.clone(),
        filters,
        name,
    ));
    worker.run(shutdown).await;
    broker.close().await;
    Ok(())
}
