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
        SyncCommand::Show { definition, json } => {
            let Some(stored) = store.syncs().get(&definition).await? else {
                return Err(Usage(format!("there is no sync definition `{definition}`")).into());
            };
            let filter = RunFilter {
                definition: Some(&definition),
                limit: 1000,
                ..RunFilter::default()
            };
            let runs = store.sync_runs().history(&filter).await?;
            render::syncs::show(out, &stored, &runs, json)?;
        }
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
            return start(settings, &store, &request, wait, json, out).await;
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
            return start(settings, &store, &request, wait, json, out).await;
        }
        SyncCommand::History {
            definition,
            target,
            table,
            status,
            limit,
            json,
        } => {
            let filter = RunFilter {
                definition: definition.as_deref(),
                target: target.as_deref(),
                table: table.as_deref(),
                status: status.as_deref(),
                limit,
            };
            render::syncs::history(out, &store.sync_runs().history(&filter).await?, json)?;
        }
        SyncCommand::Enable { definition } => switch(&store, &definition, None, out).await?,
        SyncCommand::Disable { definition } => {
            switch(&store, &definition, Some(false), out).await?
        }
    }
    Ok(ExitCode::SUCCESS)
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
    wait: bool,
    json: bool,
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
    if !store
        .syncs()
        .set_enabled(definition, enabled, operator(), Utc::now())
        .await?
    {
        return Err(Usage(format!("there is no sync definition `{definition}`")).into());
    }
    let state = if enabled == Some(false) {
        "disabled"
    } else {
        "enabled"
    };
    writeln!(out, "sync `{definition}`: {state}")?;
    Ok(())
}
