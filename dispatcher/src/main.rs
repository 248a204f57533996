//! `dbfleet`: the control plane's command line.
//!
//! Exit codes: 0 success; 1 failure (a failed batch, any error); 2 bad
//! usage or configuration; 3 a batch that ended `partial_success`, or an
//! `instance check` that found something to fix.

mod cli;
mod commands;
mod progress;
mod render;

use std::process::ExitCode;

use clap::Parser;
use dbfleet::config;

use crate::cli::Cli;

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
    let traces = dbfleet::telemetry::init(&settings.log, &settings.telemetry, "dbfleet");
    let outcome = commands::run(cli.command, &cli.config, settings).await;
    traces.shutdown().await;
    match outcome {
        Ok(code) => code,
        Err(e) => exit_for(&e),
    }
}

/// How an error ends the process. A reader that went away (`dbfleet … |
/// head`) is not an error: the output it wanted is written.
fn exit_for(e: &anyhow::Error) -> ExitCode {
    let closed = e
        .chain()
        .filter_map(|cause| cause.downcast_ref::<std::io::Error>())
        .any(|io| io.kind() == std::io::ErrorKind::BrokenPipe);
    if closed {
        return ExitCode::SUCCESS;
    }
    eprintln!("error: {e:#}");
    if commands::is_usage(e) {
        ExitCode::from(2)
    } else {
        ExitCode::FAILURE
    }
}
