//! A table's run as the history keeps it (`store::sync_runs`): written
//! `running` when it starts, rewritten when it ends.

use chrono::{DateTime, Utc};

use super::super::{Context, Failure};
use crate::message::data_sync::{RunStatus, TableRun};
use crate::store::SyncRun;
use crate::sync::SyncMode;

/// Record that `table` started syncing into `target` (it may still be
/// waiting for its locks).
pub(super) async fn started(
    ctx: &Context<'_>,
    definition: &str,
    (table, target): (&str, &str),
    mode: SyncMode,
    at: DateTime<Utc>,
) -> Result<(), Failure> {
    let run = running(ctx, definition, (table, target), mode, at);
    Ok(ctx.store.sync_runs().record(&run).await?)
}

/// End the runs of `table` into `target` that other jobs left `running`.
/// Called only once this run holds the target table's lock: before, a
/// run of another job may rightly be running, or waiting as this one did.
/// A failure is logged: the next run closes them.
pub(super) async fn close_stale(
    ctx: &Context<'_>,
    definition: &str,
    (table, target): (&str, &str),
    mode: SyncMode,
    at: DateTime<Utc>,
) {
    let run = running(ctx, definition, (table, target), mode, at);
    if let Err(e) = ctx.store.sync_runs().close_stale(&run).await {
        tracing::warn!(table, target, error = %e, "ending stale sync runs failed");
    }
}

fn running(
    ctx: &Context<'_>,
    definition: &str,
    names: (&str, &str),
    mode: SyncMode,
    at: DateTime<Utc>,
) -> SyncRun {
    SyncRun {
        status: "running".to_string(),
        ended_at: None,
        ..row(ctx, definition, names, mode, at)
    }
}

/// Record how `run`, started at `at`, ended.
pub(super) async fn ended(
    ctx: &Context<'_>,
    definition: &str,
    run: &TableRun,
    at: DateTime<Utc>,
) -> Result<(), Failure> {
    let verified = run.verification.as_ref();
    let record = SyncRun {
        status: run.status.as_str().to_string(),
        ended_at: Some(Utc::now()),
        rows_read: count(run.rows_read),
        rows_applied: count(run.rows_applied),
        rows_deleted: count(run.rows_deleted),
        chunks_verified: verified.map(|v| count(v.chunks)),
        chunks_differing: verified.map(|v| count(v.differing())),
        error: run.error.clone().or_else(|| run.rejections()),
        ..row(ctx, definition, (&run.table, &run.target), run.mode, at)
    };
    Ok(ctx.store.sync_runs().record(&record).await?)
}

/// The tables an earlier attempt of this job synced cleanly (no chunk
/// found different): a retry leaves them be, so one failing table does
/// not copy the others again. None on a first attempt.
pub(super) async fn done_before(ctx: &Context<'_>) -> Result<Vec<SyncRun>, Failure> {
    if ctx.job.attempt <= 1 {
        return Ok(Vec::new());
    }
    let runs = ctx.store.sync_runs().of_job(ctx.job.job_id).await?;
    let clean = |r: &SyncRun| r.status == "success" && r.chunks_differing.unwrap_or(0) == 0;
    Ok(runs.into_iter().filter(clean).collect())
}

/// `done`, an earlier attempt's clean run, as this attempt reports it.
pub(super) fn reused(done: &SyncRun, mode: SyncMode) -> TableRun {
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    TableRun {
        table: done.table.clone(),
        target: done.target.clone(),
        mode,
        status: RunStatus::Success,
        rows_read: n(done.rows_read),
        rows_applied: n(done.rows_applied),
        rows_deleted: n(done.rows_deleted),
        position: None,
        verification: None,
        error: None,
        rows_rejected: 0,
        rejected: Vec::new(),
        permanent: false,
    }
}

fn row(
    ctx: &Context<'_>,
    definition: &str,
    (table, target): (&str, &str),
    mode: SyncMode,
    at: DateTime<Utc>,
) -> SyncRun {
    SyncRun {
        job_id: ctx.job.job_id,
        batch_id: ctx.job.batch_id,
        definition: definition.to_string(),
        target: target.to_string(),
        table: table.to_string(),
        mode: mode.as_str().to_string(),
        status: String::new(),
        started_at: at,
        ended_at: None,
        rows_read: 0,
        rows_applied: 0,
        rows_deleted: 0,
        chunks_verified: None,
        chunks_differing: None,
        error: None,
        attempt: i64::from(ctx.job.attempt),
        worker: ctx.job.worker.clone(),
    }
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
