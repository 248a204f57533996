//! `dbfleet batch …`: start batches of any kind, follow and inspect them.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use dbfleet::config::Settings;
use dbfleet::domain::InstanceName;
use dbfleet::fleet::dispatcher::{self, BatchReport, BatchRequest, Selection};
use dbfleet::fleet::{self};
use dbfleet::labels::Selector;
use dbfleet::message::JobKind;

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
            instances,
            selector,
            interactive,
            wait,
            json,
        } => {
            let selection = selection(&instances, selector.as_ref());
            start(settings, kind, selection, interactive, wait, json, out).await
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

async fn start(
    settings: &Settings,
    kind: JobKind,
    selection: Selection<'_>,
    interactive: bool,
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
        let report = start_and_watch(settings, kind, selection, interactive).await?;
        render::batch(out, &report, json)?;
        return Ok(exit_code(report.batch.status));
    }
    let store = fleet::open_store(settings).await?;
    let broker = fleet::open_broker(settings).await?;
    let request = request(settings, kind, selection, interactive);
    let started = dispatcher::start_batch(&store, broker.as_ref(), &request).await;
    broker.close().await;
    render::batch(out, &dispatcher::report(&store, started?.id).await?, json)?;
    Ok(ExitCode::SUCCESS)
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

fn request<'a>(
    settings: &Settings,
    kind: JobKind,
    selection: Selection<'a>,
    interactive: bool,
) -> BatchRequest<'a> {
    BatchRequest {
        kind,
        selection,
        deadline: settings.batch.deadline,
        requested_by: Some(super::operator()),
        interactive,
    }
}

/// Start a batch on the fleet and follow it until it ends. Results are
/// folded by `dbfleet serve`; this only watches.
pub async fn start_and_watch(
    settings: &Settings,
    kind: JobKind,
    selection: Selection<'_>,
    interactive: bool,
) -> Result<BatchReport> {
    let store = fleet::open_store(settings).await?;
    let broker = fleet::open_broker(settings).await?;
    let request = request(settings, kind, selection, interactive);
    let mut progress = Progress::start();
    let ended =
        dispatcher::run_to_end(&store, broker.as_ref(), &request, |b| progress.update(b)).await;
    progress.finish();
    broker.close().await;
    let ended = ended.context("waiting for the batch")?;
    Ok(dispatcher::report(&store, ended.id).await?)
}
