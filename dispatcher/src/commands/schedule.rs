//! `dbfleet schedule …`: list, pause, resume and trigger the schedules
//! `dbfleet serve` runs.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use chrono::Utc;
use dbfleet::config::Settings;
use dbfleet::fleet::{self, dispatcher, scheduler, scheduler::TriggerError};

use super::{exit_code, operator, Usage};
use crate::cli::ScheduleCommand;
use crate::progress::Progress;
use crate::render;

pub async fn run(
    command: ScheduleCommand,
    settings: &Settings,
    out: &mut impl Write,
) -> Result<ExitCode> {
    let schedules = &settings.schedules;
    match command {
        ScheduleCommand::List { json } => {
            let store = fleet::open_store(settings).await?;
            let overview = scheduler::overview(&store, schedules, Utc::now()).await?;
            render::schedules::list(out, &overview, json)?;
        }
        ScheduleCommand::Pause { name } => switch(settings, &name, true, out).await?,
        ScheduleCommand::Resume { name } => switch(settings, &name, false, out).await?,
        ScheduleCommand::Trigger { name, wait, json } => {
            return trigger(settings, &name, wait, json, out).await;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn switch(settings: &Settings, name: &str, paused: bool, out: &mut impl Write) -> Result<()> {
    let store = fleet::open_store(settings).await?;
    let switch = (name, paused);
    let state =
        scheduler::set_paused(&store, &settings.schedules, switch, operator(), Utc::now()).await;
    render::schedules::state(out, &state.map_err(usage)?)
}

/// Start `name`'s batch now; with `wait`, follow it to its end.
async fn trigger(
    settings: &Settings,
    name: &str,
    wait: bool,
    json: bool,
    out: &mut impl Write,
) -> Result<ExitCode> {
    fleet::require_shared_broker(settings, "dbfleet schedule trigger")?;
    let store = fleet::open_store(settings).await?;
    let broker = fleet::open_broker(settings).await?;
    let scheduler = fleet::scheduler(settings, store.clone(), broker.clone());
    let started = scheduler.trigger(name, operator(), Utc::now()).await;
    broker.close().await;
    let mut batch = started.map_err(usage)?;
    if wait {
        let mut progress = Progress::start();
        let poll = dispatcher::WATCH_INTERVAL;
        let watched = dispatcher::watch(&store, batch.id, poll, |b| progress.update(b)).await;
        progress.finish();
        batch = watched.context("waiting for the batch")?;
    }
    render::batch(out, &dispatcher::report(&store, batch.id).await?, json)?;
    Ok(if wait {
        exit_code(batch.status)
    } else {
        ExitCode::SUCCESS
    })
}

/// An unknown schedule is a usage problem (exit 2); a refusal because a
/// batch is running, or a failure, exits 1.
fn usage(e: TriggerError) -> anyhow::Error {
    match e {
        TriggerError::Unknown(_) => Usage(e.to_string()).into(),
        TriggerError::Overlap(_) => e.into(),
        TriggerError::Dispatch(e) => e.into(),
    }
}
