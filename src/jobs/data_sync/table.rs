//! One table of a sync definition into one target: the target table's
//! lock and a source slot (`waits.rs`), shape, target table, then the copy
//! (`copy.rs`) and the verification (`verify.rs`).
//!
//! A run never fails the job by itself: whatever stops it is a `Failed`
//! [`TableRun`] whose error names the table and the cause, and the pages
//! already applied stay applied with their checkpoint.

use std::time::Duration;

use crate::adapters::sync::{fingerprint_change, Checkpoint, Column, SyncSession, TableShape};
use crate::adapters::Error;
use crate::message::data_sync::{RunStatus, TableRun};
use crate::sync::{SyncMode, TableSpec};

mod copy;
mod limits;
mod matching;
mod verify;
mod waits;

use self::copy::Copy;
use self::matching::matching;

/// What to do with one table.
#[derive(Debug, Clone)]
pub struct TableJob<'a> {
    /// The definition's name: with the target table, the checkpoint's key.
    pub definition: &'a str,
    pub spec: &'a TableSpec,
    /// `instance/database` of the target, for reports and errors.
    pub target_label: String,
    pub mode: SyncMode,
    pub mirror: bool,
    pub batch_size: u32,
    pub initial_days: u32,
    pub settle: Duration,
    pub verify: bool,
    pub verify_only: bool,
    pub repair: bool,
    /// Refused rows tolerated before the run fails (see
    /// [`crate::sync::Limits`]).
    pub max_rejected_rows: u64,
    /// Rows read from the source per second, at most, over the copy.
    pub rows_per_second: Option<u32>,
    /// The widest span of the first (time) cursor column one incremental
    /// statement reads; `None`: up to the horizon at once.
    pub max_gap: Option<Duration>,
    /// How long to wait for the target table's lock while another sync
    /// holds it; zero: fail at once.
    pub lock_wait: Duration,
    /// The definition's source slots, one of which the run holds while it
    /// reads; `None`: read without one.
    pub source_slots: Option<u32>,
}

/// The checkpoint's phases.
mod phase {
    /// A full copy under way: the position is the last key applied, the
    /// horizon where incremental runs start once it ends.
    pub const COPY: &str = "copy";
    /// Incremental runs start at the first cursor column's position value
    /// (inclusive), or at the beginning without one.
    pub const SINCE: &str = "since";
    /// Incremental runs continue strictly after `(cursor…, key…)`.
    pub const AFTER: &str = "after";
    /// A full copy ended, and the table has no cursor.
    pub const DONE: &str = "done";
}

/// The table as both sides have it, resolved once per run.
struct Plan {
    pub source_table: String,
    pub target_table: String,
    pub source: TableShape,
    /// The target's column for each source column, in source order.
    pub target_columns: Vec<Column>,
    /// Positions of the key columns in `source.columns`.
    pub key: Vec<usize>,
    /// Positions of the cursor columns in `source.columns`.
    pub cursor: Vec<usize>,
    pub fingerprint: String,
}

impl Plan {
    pub fn source_key(&self) -> Vec<&Column> {
        self.key.iter().map(|&i| &self.source.columns[i]).collect()
    }

    pub fn target_key(&self) -> Vec<&Column> {
        self.key.iter().map(|&i| &self.target_columns[i]).collect()
    }

    pub fn target_all(&self) -> Vec<&Column> {
        self.target_columns.iter().collect()
    }

    /// The first cursor column when it is a date or time: the one a clock
    /// horizon bounds.
    pub fn time_cursor(&self) -> Option<(&Column, &Column)> {
        let &i = self.cursor.first()?;
        let column = &self.source.columns[i];
        column
            .kind
            .is_time()
            .then(|| (column, &self.target_columns[i]))
    }
}

/// The failure of one step, worded once with the table and the target.
fn failed(job: &TableJob<'_>, what: &str, e: Error) -> String {
    format!(
        "{what} (table {} into {}): {e}",
        job.spec.name, job.target_label
    )
}

/// Syncs (and verifies) one table. Never panics and never returns an
/// error: a failure is a `Failed` run naming the table and the cause.
pub async fn run_table(
    source: &mut SyncSession,
    target: &mut SyncSession,
    job: &TableJob<'_>,
) -> TableRun {
    run_table_then(source, target, job, async {}).await
}

/// [`run_table`], awaiting `locked` as soon as the run holds its target
/// table's lock: what only the table's one running sync may do.
pub async fn run_table_then(
    source: &mut SyncSession,
    target: &mut SyncSession,
    job: &TableJob<'_>,
    locked: impl std::future::Future<Output = ()>,
) -> TableRun {
    let mut run = TableRun {
        table: job.spec.name.clone(),
        target: job.target_label.clone(),
        mode: job.mode,
        status: RunStatus::Success,
        rows_read: 0,
        rows_applied: 0,
        rows_deleted: 0,
        position: None,
        verification: None,
        error: None,
        rows_rejected: 0,
        rejected: Vec::new(),
        permanent: false,
    };
    if let Err(e) = under_lock(source, target, job, (locked, &mut run)).await {
        run.status = RunStatus::Failed;
        run.error = Some(e);
    }
    run
}

/// The run under the target table's lock, released whatever happens.
async fn under_lock(
    source: &mut SyncSession,
    target: &mut SyncSession,
    job: &TableJob<'_>,
    (locked, run): (impl std::future::Future<Output = ()>, &mut TableRun),
) -> Result<(), String> {
    let table = job.spec.target_name().to_string();
    target
        .ensure_checkpoints()
        .await
        .map_err(|e| failed(job, "creating dbfleet_sync_checkpoints", e))?;
    waits::target_lock(target, job, &table).await?;
    locked.await;
    let result = reading(source, target, job, run).await;
    if let Err(e) = target.unlock(&table).await {
        tracing::warn!(table = %table, error = %e, "releasing a sync lock failed");
    }
    result
}

/// The run holding a source slot, given back whatever happens.
async fn reading(
    source: &mut SyncSession,
    target: &mut SyncSession,
    job: &TableJob<'_>,
    run: &mut TableRun,
) -> Result<(), String> {
    let slot = waits::source_slot(source, job).await?;
    let result = match source_shape(source, job).await {
        Ok(shape) => synced(source, target, job, shape, run).await,
        Err(e) => Err(e),
    };
    if let Some(slot) = slot {
        waits::release_slot(source, job, slot).await;
    }
    result
}

async fn synced(
    source: &mut SyncSession,
    target: &mut SyncSession,
    job: &TableJob<'_>,
    source_shape: TableShape,
    run: &mut TableRun,
) -> Result<(), String> {
    let mut checkpoint = target
        .checkpoint(job.definition, job.spec.target_name())
        .await
        .map_err(|e| failed(job, "reading the checkpoint", e))?;
    let plan = match plan(target, job, source_shape, checkpoint.as_ref()).await {
        Ok(plan) => plan,
        Err(e) => {
            run.permanent = true;
            return Err(e);
        }
    };
    if !job.verify_only {
        let mut copy = Copy {
            source: &mut *source,
            target: &mut *target,
            job,
            plan: &plan,
            run: &mut *run,
            bulk: false,
            started: std::time::Instant::now(),
        };
        let done = match job.mode {
            SyncMode::Full => copy.full(checkpoint).await?,
            SyncMode::Incremental => copy.incremental(checkpoint).await?,
        };
        if job.mirror && job.mode == SyncMode::Incremental {
            copy.reconcile().await?;
        }
        checkpoint = Some(done);
    }
    run.position = checkpoint
        .as_ref()
        .and_then(|k| k.position.as_ref())
        .map(|p| p.iter().cloned().map(Some).collect());
    if job.verify || job.verify_only {
        let horizon = verified_below(job, checkpoint.as_ref());
        run.verification = Some(verify::run(source, target, job, &plan, horizon).await?);
    }
    Ok(())
}

/// Incremental tables are verified below the horizon their rows were
/// synced to: rows newer than it may rightly differ.
fn verified_below(job: &TableJob<'_>, checkpoint: Option<&Checkpoint>) -> Option<String> {
    if job.mode != SyncMode::Incremental {
        return None;
    }
    checkpoint
        .filter(|k| k.phase == phase::AFTER || k.phase == phase::SINCE)
        .and_then(|k| k.horizon.clone())
}

async fn source_shape(source: &mut SyncSession, job: &TableJob<'_>) -> Result<TableShape, String> {
    source
        .shape(&job.spec.name)
        .await
        .map_err(|e| failed(job, "reading the source table's columns", e))?
        .ok_or_else(|| format!("table {} not found in the source", job.spec.name))
}

/// The key, the cursor and the target table (created when missing). An
/// incremental run stops first if the source changed shape since the
/// checkpoint: before it writes anything, the target table included.
async fn plan(
    target: &mut SyncSession,
    job: &TableJob<'_>,
    mut source: TableShape,
    checkpoint: Option<&Checkpoint>,
) -> Result<Plan, String> {
    let name = &job.spec.name;
    if !job.spec.key.is_empty() {
        source.key = job.spec.key.clone();
    }
    if source.key.is_empty() {
        return Err(format!("table {name} has no primary key; name `key:`"));
    }
    let key = positions(&source, &source.key, name, "key")?;
    let cursor = positions(&source, &job.spec.cursor, name, "cursor")?;
    let fingerprint = source.fingerprint();
    unchanged(job, checkpoint, &fingerprint)?;
    let target_table = job.spec.target_name().to_string();
    let target_shape = target_shape(target, job, &target_table, &source).await?;
    let target_columns = matching(job, &target_table, target.engine(), &source, &target_shape)?;
    Ok(Plan {
        source_table: name.clone(),
        target_table,
        fingerprint,
        source,
        target_columns,
        key,
        cursor,
    })
}

/// An incremental run continues only on the shape its checkpoint saw.
fn unchanged(
    job: &TableJob<'_>,
    checkpoint: Option<&Checkpoint>,
    fingerprint: &str,
) -> Result<(), String> {
    let incremental = job.mode == SyncMode::Incremental && !job.verify_only;
    match checkpoint {
        Some(k) if incremental && k.fingerprint != fingerprint => Err(format!(
            "the source table {} changed shape since the last run into {}: {}; run a full sync \
             to start over",
            job.spec.name,
            job.target_label,
            fingerprint_change(&k.fingerprint, fingerprint)
        )),
        _ => Ok(()),
    }
}

fn positions(
    shape: &TableShape,
    names: &[String],
    table: &str,
    what: &str,
) -> Result<Vec<usize>, String> {
    names
        .iter()
        .map(|n| {
            shape
                .position(n)
                .ok_or_else(|| format!("{what} column {n} not found in table {table}"))
        })
        .collect()
}

async fn target_shape(
    target: &mut SyncSession,
    job: &TableJob<'_>,
    table: &str,
    source: &TableShape,
) -> Result<TableShape, String> {
    let read = |e| failed(job, "reading the target table's columns", e);
    if let Some(shape) = target.shape(table).await.map_err(read)? {
        return Ok(shape);
    }
    if job.verify_only && !job.repair {
        return Err(format!(
            "the target table {table} does not exist in {}",
            job.target_label
        ));
    }
    target
        .create_table(table, source)
        .await
        .map_err(|e| failed(job, &format!("creating the target table {table}"), e))?;
    target
        .shape(table)
        .await
        .map_err(|e| failed(job, "reading the target table's columns", e))?
        .ok_or_else(|| format!("the target table {table} was created but cannot be found"))
}
