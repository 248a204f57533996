//! `dbfleet alert …`: try the channels; show the alerts' state.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use chrono::Utc;
use dbfleet::alerts::{deliver, Notification, Retry};
use dbfleet::config::Settings;
use dbfleet::fleet;

use super::Usage;
use crate::cli::AlertCommand;
use crate::render;

pub async fn run(
    command: AlertCommand,
    settings: &Settings,
    out: &mut impl Write,
) -> Result<ExitCode> {
    match command {
        AlertCommand::Test { channel } => test(settings, channel.as_deref(), out).await,
        AlertCommand::List { sends, json } => {
            let store = fleet::open_store(settings).await?;
            let states = store.alerts().states().await?;
            let sends = store.alerts().sends(sends.max(0)).await?;
            render::alerts::list(out, &states, &sends, json)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A sample notification to each chosen channel, one line per channel.
async fn test(settings: &Settings, only: Option<&str>, out: &mut impl Write) -> Result<ExitCode> {
    let channels = &settings.alerts.channels;
    let chosen: Vec<_> = channels
        .iter()
        .filter(|c| only.is_none_or(|name| c.name == name))
        .collect();
    match (only, chosen.is_empty()) {
        (Some(name), true) => {
            return Err(Usage(format!(
                "no channel is named `{name}` under `alerts.channels`"
            ))
            .into())
        }
        (None, true) => return Err(Usage("no channels under `alerts.channels`".to_string()).into()),
        _ => {}
    }
    let sample = Notification::sample(Utc::now());
    let mut all = true;
    for channel in chosen {
        let delivery = deliver(channel, &sample, Retry::default()).await;
        match &delivery.error {
            None => writeln!(out, "{}: delivered", channel.name)?,
            Some(reason) => {
                all = false;
                writeln!(
                    out,
                    "{}: not delivered after {} attempt(s): {reason}",
                    channel.name, delivery.attempts
                )?;
            }
        }
    }
    Ok(if all {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
