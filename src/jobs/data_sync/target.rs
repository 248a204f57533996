//! One target database of a job: the definition's tables, up to
//! [`crate::sync::Limits::parallel`] at once, each on a source and a target
//! session of its own, so a long table does not hold back the others.
//!
//! The tables run as futures of the job's own task (no task of their own:
//! a job that is cancelled drops them with it, and their sessions with
//! them). Each table's run is written to the history as it starts and as
//! it ends, whatever order they end in; the job's output lists them in the
//! definition's order.

use std::sync::{Mutex, PoisonError};

use chrono::Utc;
use futures_util::stream::{self, StreamExt};

use super::{history, open, table, table_job, unrun, Context, Failure};
use crate::adapters::sync::SyncSession;
use crate::message::data_sync::{Output, Params, TableRun};
use crate::store::{Instance, SyncRun};
use crate::sync::{Endpoint, SyncDefinition, TableSpec};

/// What every table of one target shares.
struct Shared<'a> {
    ctx: &'a Context<'a>,
    def: &'a SyncDefinition,
    params: &'a Params,
    source: &'a Instance,
    target: &'a Endpoint,
    label: String,
    /// Why an end could not be reached, once a table found it so: the
    /// tables after it fail for the same reason instead of each waiting
    /// out a connect timeout.
    unreachable: Mutex<Option<String>>,
    /// What an earlier attempt of the job already synced.
    done: Vec<SyncRun>,
}

/// Sync every table of `def` from `source` into `target`, up to the
/// definition's parallel tables at once.
pub(super) async fn sync_target(
    ctx: &Context<'_>,
    def: &SyncDefinition,
    params: &Params,
    (source, target): (&Instance, &Endpoint),
    output: &mut Output,
) -> Result<(), Failure> {
    let shared = Shared {
        ctx,
        def,
        params,
        source,
        target,
        label: target.to_string(),
        unreachable: Mutex::new(None),
        done: history::done_before(ctx).await?,
    };
    let at_once = def.limits.parallel() as usize;
    let shared = &shared;
    let runs: Vec<_> = def
        .tables
        .iter()
        .enumerate()
        .map(|(i, spec)| numbered(i, sync_table(shared, spec)))
        .collect();
    let mut ended: Vec<(usize, Result<TableRun, Failure>)> =
        stream::iter(runs).buffer_unordered(at_once).collect().await;
    ended.sort_by_key(|(i, _)| *i);
    for (_, run) in ended {
        output.tables.push(run?);
    }
    Ok(())
}

/// `work`'s outcome with its place in the definition.
async fn numbered<T>(i: usize, work: impl std::future::Future<Output = T>) -> (usize, T) {
    (i, work.await)
}

/// One table on sessions of its own, recorded as it starts and ends. The
/// sessions are closed before the run is recorded as ended.
async fn sync_table(shared: &Shared<'_>, spec: &TableSpec) -> Result<TableRun, Failure> {
    let Shared { ctx, def, .. } = *shared;
    let label = shared.label.as_str();
    let job = table_job(def, spec, label, shared.params);
    let earlier = |r: &&SyncRun| r.table == spec.name && r.target == label;
    if let Some(done) = shared.done.iter().find(earlier) {
        return Ok(history::reused(done, job.mode));
    }
    let started = Utc::now();
    history::started(ctx, &def.name, (&spec.name, label), job.mode, started).await?;
    let run = match sessions(shared).await {
        Ok((mut from, mut into)) => {
            let stale =
                history::close_stale(ctx, &def.name, (&spec.name, label), job.mode, started);
            let running = table::run_table_then(&mut from, &mut into, &job, stale);
            let run = ctx.remote("sync_table", running).await;
            from.close().await;
            into.close().await;
            run
        }
        Err(why) => unrun(def, shared.params, &spec.name, label, why),
    };
    history::ended(ctx, &def.name, &run, started).await?;
    Ok(run)
}

/// A table's source and target sessions, unless an earlier table found an
/// end unreachable.
async fn sessions(shared: &Shared<'_>) -> Result<(SyncSession, SyncSession), String> {
    let known =
        |cell: &Mutex<Option<String>>| cell.lock().unwrap_or_else(PoisonError::into_inner).clone();
    if let Some(why) = known(&shared.unreachable) {
        return Err(why);
    }
    let opened = open(shared.ctx, shared.def, shared.source, shared.target).await;
    opened.map_err(|e| {
        let why = e.to_string();
        let mut cell = shared
            .unreachable
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        cell.get_or_insert_with(|| why.clone());
        why
    })
}
