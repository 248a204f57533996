//! `dbfleet sync …`: every command first reconciles the configuration's
//! definitions into the store, so what it shows and runs is what the file
//! says (and the operator's switches).

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use chrono::Utc;
use dbfleet::config::Settings;
use dbfleet::fleet::{self, dispatcher::Selection, sync};
use dbfleet::store::{RunFilter, Store};

use super::batch::{start_and_watch, Launch};
use super::{exit_code, in_process, operator, Usage};
use crate::cli::SyncCommand;
use crate::render;

pub async fn run(
    command: SyncCommand,
    settings: &Settings,
    out: &mut impl Write,
) -> Result<ExitCode> {
    let store = reconciled(settings).await?;
    match command {
        SyncCommand::List { json } => {
            render::syncs::list(out, &store.syncs().list().await?, json)?;
        }
        SyncCommand::Show { definition, json } => show(&store, &definition, json, out).await?,
        SyncCommand::Run {
            definition,
            target,
            mode,
            wait,
            json,
        } => {
            let request = sync::SyncRequest {
                definition: &definition,
                target: target.as_deref(),
                mode,
                ..Default::default()
            };
            return start(settings, &store, &request, (wait, json), out).await;
        }
        SyncCommand::Verify {
            definition,
            target,
            repair,
            wait,
            json,
        } => {
            let request = sync::SyncRequest {
                definition: &definition,
                target: target.as_deref(),
                verify_only: true,
                repair,
                ..Default::default()
            };
            return start(settings, &store, &request, (wait, json), out).await;
        }
        history @ SyncCommand::History { .. } => show_history(&store, history, out).await?,
        SyncCommand::Enable { definition } => switch(&store, &definition, Some(true), out).await?,
        SyncCommand::Disable { definition } => {
            switch(&store, &definition, Some(false), out).await?
        }
        SyncCommand::Reset { definition } => switch(&store, &definition, None, out).await?,
    }
    Ok(ExitCode::SUCCESS)
}

/// One definition and the latest run of each of its tables and targets.
async fn show(store: &Store, definition: &str, json: bool, out: &mut impl Write) -> Result<()> {
    let Some(stored) = store.syncs().get(definition).await? else {
        return Err(Usage(format!("there is no sync definition `{definition}`")).into());
    };
    let filter = RunFilter {
        definition: Some(definition),
        limit: 1000,
        ..RunFilter::default()
    };
    let runs = store.sync_runs().history(&filter).await?;
    render::syncs::show(out, &stored, &runs, json)
}

async fn show_history(store: &Store, command: SyncCommand, out: &mut impl Write) -> Result<()> {
    let SyncCommand::History {
        definition,
        target,
        table,
        status,
        limit,
        json,
    } = command
    else {
        return Ok(());
    };
    let filter = RunFilter {
        definition: definition.as_deref(),
        target: target.as_deref(),
        table: table.as_deref(),
        status: status.as_deref(),
        limit,
    };
    render::syncs::history(out, &store.sync_runs().history(&filter).await?, json)
}

/// The store, with the configuration's definitions reconciled into it;
/// their problems are printed as warnings. On the embedded defaults the
/// store is migrated first, as `dbfleet run` does.
async fn reconciled(settings: &Settings) -> Result<Store> {
    let store = if fleet::uses_memory_broker(settings) {
        fleet::open_store_migrating(settings).await?.0
    } else {
        fleet::open_store(settings).await?
    };
    for problem in sync::reconcile(&store, &settings.syncs).await? {
        eprintln!("warning: {problem}");
    }
    Ok(store)
}

/// Run `request`: in this process on the embedded defaults, else on the
/// fleet's workers.
async fn start(
    settings: &Settings,
    store: &Store,
    request: &sync::SyncRequest<'_>,
    (wait, json): (bool, bool),
    out: &mut impl Write,
) -> Result<ExitCode> {
    let stored = store.syncs().get(request.definition).await?;
    let plan = sync::plan(stored.as_ref(), request).map_err(|e| Usage(e.to_string()))?;
    let selection = Selection::Named(&plan.instances);
    if fleet::uses_memory_broker(settings) {
        let outcome = in_process(settings, &plan.params, selection).await?;
        render::summary(out, &outcome.report, json)?;
        return Ok(exit_code(outcome.report.batch.status));
    }
    let launch = Launch {
        params: plan.params,
        selection,
        interactive: false,
        spread: None,
    };
    if wait {
        let report = start_and_watch(settings, launch).await?;
        render::batch(out, &report, json)?;
        return Ok(exit_code(report.batch.status));
    }
    let started = super::batch::launch_once(settings, store, &launch).await?;
    render::batch(out, &started, json)?;
    Ok(ExitCode::SUCCESS)
}

async fn switch(
    store: &Store,
    definition: &str,
    enabled: Option<bool>,
    out: &mut impl Write,
) -> Result<()> {
    let syncs = store.syncs();
    if !syncs
        .set_enabled(definition, enabled, operator(), Utc::now())
        .await?
    {
        return Err(Usage(format!("there is no sync definition `{definition}`")).into());
    }
    let now = syncs.get(definition).await?.is_some_and(|s| s.is_enabled());
    let state = if now { "enabled" } else { "disabled" };
    let how = match enabled {
        Some(_) => "by the operator's switch (`dbfleet sync reset` clears it)",
        None => "as the configuration says",
    };
    writeln!(out, "sync `{definition}`: {state}, {how}")?;
    Ok(())
}
