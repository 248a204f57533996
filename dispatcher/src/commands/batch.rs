//! `dbfleet batch …`: start batches of any kind, follow and inspect them.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use dbfleet::broker::Broker;
use dbfleet::config::Settings;
use dbfleet::domain::InstanceName;
use dbfleet::fleet::dispatcher::{self, BatchReport, BatchRequest, Selection};
use dbfleet::fleet::{self, spread};
use dbfleet::labels::Selector;
use dbfleet::message::JobParams;
use dbfleet::store::{Batch, Store};

use super::{exit_code, Usage};
use crate::cli::BatchCommand;
use crate::progress::Progress;
use crate::render;

pub async fn run(
    command: BatchCommand,
    settings: &Settings,
    out: &mut impl Write,
) -> Result<ExitCode> {
    match command {
        BatchCommand::Start {
            kind,
            params,
            instances,
            selector,
            interactive,
            spread,
            wait,
            json,
        } => {
            let selection = selection(&instances, selector.as_ref());
            let launch = Launch {
                params: super::job_params(settings, kind, params)?,
                selection,
                interactive,
                spread,
            };
            start(settings, launch, wait, json, out).await
        }
        BatchCommand::Show { id, json } => {
            let store = fleet::open_store(settings).await?;
            render::batch(out, &dispatcher::report(&store, id).await?, json)?;
            Ok(ExitCode::SUCCESS)
        }
        BatchCommand::List { limit, json } => {
            let store = fleet::open_store(settings).await?;
            let batches = store.batches().list(limit).await?;
            render::batches(out, &batches, json)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A batch to start: its kind, instances, lane and window.
pub struct Launch<'a> {
    pub params: JobParams,
    pub selection: Selection<'a>,
    pub interactive: bool,
    pub spread: Option<Duration>,
}

async fn start(
    settings: &Settings,
    launch: Launch<'_>,
    wait: bool,
    json: bool,
    out: &mut impl Write,
) -> Result<ExitCode> {
    if fleet::uses_memory_broker(settings) {
        return Err(Usage(
            "`dbfleet batch start` hands jobs to workers through a shared broker, and \
             broker.url is not set (or is memory://), so no worker would ever see them: \
             run the batch in this process with `dbfleet run`, or set broker.url to amqp://…"
                .to_string(),
        )
        .into());
    }
    if wait {
        let report = start_and_watch(settings, launch).await?;
        render::batch(out, &report, json)?;
        return Ok(exit_code(report.batch.status));
    }
    let store = fleet::open_store(settings).await?;
    let report = launch_once(settings, &store, &launch).await?;
    render::batch(out, &report, json)?;
    Ok(ExitCode::SUCCESS)
}

/// Start `launch`'s batch and report it as it stands, without waiting.
pub async fn launch_once(
    settings: &Settings,
    store: &Store,
    launch: &Launch<'_>,
) -> Result<BatchReport> {
    let broker = fleet::open_broker(settings).await?;
    let started = launched(store, broker.as_ref(), settings, launch).await;
    broker.close().await;
    Ok(dispatcher::report(store, started?.id).await?)
}

/// Named instances, a selector's, or every active one.
pub fn selection<'a>(
    instances: &'a [InstanceName],
    selector: Option<&'a Selector>,
) -> Selection<'a> {
    match selector {
        Some(selector) => Selection::Matching(selector),
        None if instances.is_empty() => Selection::AllActive,
        None => Selection::Named(instances),
    }
}

/// Start `launch`'s batch: at once, or spread over its window.
async fn launched(
    store: &Store,
    broker: &dyn Broker,
    settings: &Settings,
    launch: &Launch<'_>,
) -> Result<Batch, dispatcher::Error> {
    let request = BatchRequest {
        params: &launch.params,
        selection: launch.selection,
        deadline: settings.batch.deadline,
        requested_by: Some(super::operator()),
        interactive: launch.interactive,
    };
    match launch.spread {
        Some(window) => spread::start_spread_batch(store, broker, &request, window).await,
        None => dispatcher::start_batch(store, broker, &request).await,
    }
}

/// Start a batch on the fleet and follow it until it ends. Results are
/// folded by `dbfleet serve`; this only watches.
pub async fn start_and_watch(settings: &Settings, launch: Launch<'_>) -> Result<BatchReport> {
    let store = fleet::open_store(settings).await?;
    let broker = fleet::open_broker(settings).await?;
    let started = launched(&store, broker.as_ref(), settings, &launch).await;
    let ended = match started {
        Ok(batch) => {
            let mut progress = Progress::start();
            progress.update(&batch);
            let poll = dispatcher::WATCH_INTERVAL;
            let watched = dispatcher::watch(&store, batch.id, poll, |b| progress.update(b)).await;
            progress.finish();
            watched
        }
        Err(e) => Err(e),
    };
    broker.close().await;
    let ended = ended.context("waiting for the batch")?;
    Ok(dispatcher::report(&store, ended.id).await?)
}
