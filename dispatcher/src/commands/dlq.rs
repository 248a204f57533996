//! `dbfleet dlq …`: dead letters kept by the control plane.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use dbfleet::config::Settings;
use dbfleet::fleet::{self, dlq};

use crate::cli::DlqCommand;
use crate::render;

pub async fn run(
    command: DlqCommand,
    settings: &Settings,
    out: &mut impl Write,
) -> Result<ExitCode> {
    match command {
        DlqCommand::List { all, limit, json } => {
            let store = fleet::open_store(settings).await?;
            let letters = dlq::list(&store, all, limit).await?;
            render::dead_letters(out, &letters, json)?;
        }
        DlqCommand::Replay { all, ids } => {
            fleet::require_shared_broker(settings, "dbfleet dlq replay")?;
            let store = fleet::open_store(settings).await?;
            let broker = fleet::open_broker(settings).await?;
            let selection = if all {
                dlq::Selection::AllPending
            } else {
                dlq::Selection::Ids(&ids)
            };
            let done =
                dlq::replay(&store, broker.as_ref(), selection, settings.batch.deadline).await;
            broker.close().await;
            render::replayed(out, &done?)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
