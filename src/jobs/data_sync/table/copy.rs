//! The copy of a table, page by page: full (in key order) and incremental
//! (in `cursor…, key…` order, below the source clock's horizon), and the
//! key reconciliation that removes from the target what the source no
//! longer has.
//!
//! Every page is applied in one target transaction with its checkpoint, so
//! a run that stops resumes after its last committed page: no row is
//! skipped, and a page applied twice is the same upsert.

use crate::adapters::sync::{Apply, Checkpoint, KeyRange, Removal, Row, Scan, SyncSession};
use crate::message::data_sync::TableRun;

use super::{failed, phase, Plan, TableJob};

/// A full copy; it resumes after the key of a full copy that did not
/// finish (same shape). Returns the checkpoint it ends with.
pub(super) async fn full(
    source: &mut SyncSession,
    target: &mut SyncSession,
    job: &TableJob<'_>,
    plan: &Plan,
    checkpoint: Option<Checkpoint>,
    run: &mut TableRun,
) -> Result<Checkpoint, String> {
    let resume = checkpoint.filter(|k| {
        k.mode == "full" && k.phase == phase::COPY && k.fingerprint == plan.fingerprint
    });
    let (mut after, since, mut applied) = match resume {
        Some(k) => (k.position, k.horizon, k.rows_applied),
        // Taken before the first page: rows changed while the copy runs
        // are read again by the next incremental run.
        None => (None, horizon(source, job, plan).await?, 0),
    };
    let batch = job.batch_size.max(1);
    loop {
        let rows = read_page(source, job, plan, plan.key.clone(), after.as_deref(), None).await?;
        run.rows_read += rows.len() as u64;
        let last_page = rows.len() < batch as usize;
        let last_key = rows.last().map(|r| values(r, &plan.key));
        let range = KeyRange {
            after: after.clone(),
            through: if last_page { None } else { last_key.clone() },
        };
        applied += rows.len() as u64;
        let mut k = checkpoint_of(job, plan, "full", applied);
        if last_page {
            let has_cursor = !plan.cursor.is_empty();
            k.phase = if has_cursor {
                phase::SINCE
            } else {
                phase::DONE
            }
            .to_string();
            k.position = since.clone().filter(|_| has_cursor).map(|s| vec![s]);
        } else {
            k.phase = phase::COPY.to_string();
            k.position = last_key.clone();
        }
        k.horizon = since.clone();
        let removal = if job.mirror {
            Removal::Unlisted(&range)
        } else {
            Removal::Nothing
        };
        write(target, job, plan, &rows, true, removal, Some(&k), run).await?;
        if last_page {
            return Ok(k);
        }
        after = last_key;
    }
}

/// The rows past the checkpoint, below the horizon. Returns the checkpoint
/// it ends with.
pub(super) async fn incremental(
    source: &mut SyncSession,
    target: &mut SyncSession,
    job: &TableJob<'_>,
    plan: &Plan,
    checkpoint: Option<Checkpoint>,
    run: &mut TableRun,
) -> Result<Checkpoint, String> {
    let name = &job.spec.name;
    if plan.cursor.is_empty() {
        return Err(format!(
            "an incremental sync of table {name} needs `cursor:` columns"
        ));
    }
    let mut k = start(source, job, plan, checkpoint).await?;
    k.horizon = horizon(source, job, plan).await?;
    k.mode = "incremental".to_string();
    let order: Vec<usize> = plan.cursor.iter().chain(&plan.key).copied().collect();
    let batch = job.batch_size.max(1) as usize;
    let mut wrote = false;
    loop {
        let (after, since) = match k.phase.as_str() {
            phase::AFTER => (k.position.clone(), None),
            _ => (None, k.position.as_ref().and_then(|p| p.first().cloned())),
        };
        let bounds = Bounds {
            since: since.as_deref(),
            before: k.horizon.as_deref(),
        };
        let rows = read_page(
            source,
            job,
            plan,
            order.clone(),
            after.as_deref(),
            Some(bounds),
        )
        .await?;
        run.rows_read += rows.len() as u64;
        let Some(last) = rows.last() else { break };
        k.phase = phase::AFTER.to_string();
        k.position = Some(values(last, &order));
        k.rows_applied += rows.len() as u64;
        write(
            target,
            job,
            plan,
            &rows,
            true,
            Removal::Nothing,
            Some(&k),
            run,
        )
        .await?;
        wrote = true;
        if rows.len() < batch {
            break;
        }
    }
    if !wrote {
        // Nothing new: the start and the horizon are kept all the same.
        write(
            target,
            job,
            plan,
            &[],
            false,
            Removal::Nothing,
            Some(&k),
            run,
        )
        .await?;
    }
    Ok(k)
}

/// Where an incremental run starts: its checkpoint, or, for a first run,
/// `initial_days` back on a time cursor (the beginning otherwise).
async fn start(
    source: &mut SyncSession,
    job: &TableJob<'_>,
    plan: &Plan,
    checkpoint: Option<Checkpoint>,
) -> Result<Checkpoint, String> {
    let name = &job.spec.name;
    match checkpoint {
        Some(k) if k.phase == phase::COPY => Err(format!(
            "a full sync of table {name} into {} did not finish; run a full sync to finish it",
            job.target_label
        )),
        Some(k) if k.phase == phase::DONE => Ok(Checkpoint {
            phase: phase::SINCE.to_string(),
            position: None,
            ..k
        }),
        Some(k) => Ok(k),
        None => {
            let mut k = checkpoint_of(job, plan, "incremental", 0);
            k.phase = phase::SINCE.to_string();
            if let Some((column, _)) = plan.time_cursor() {
                let back = std::time::Duration::from_secs(u64::from(job.initial_days) * 86_400);
                let since = source
                    .clock(column, back, false)
                    .await
                    .map_err(|e| failed(job, "reading the source clock", e))?;
                k.position = Some(vec![since]);
            }
            Ok(k)
        }
    }
}

/// The source clock minus `settle`, held back by open transactions, when
/// the first cursor column is a date or time.
async fn horizon(
    source: &mut SyncSession,
    job: &TableJob<'_>,
    plan: &Plan,
) -> Result<Option<String>, String> {
    let Some((column, _)) = plan.time_cursor() else {
        return Ok(None);
    };
    source
        .clock(column, job.settle, true)
        .await
        .map(Some)
        .map_err(|e| failed(job, "reading the source clock", e))
}

/// Removes from the target the keys the source no longer has: the source's
/// keys walked in key order, page by page, each page's range on the target
/// pruned to the page's keys (the last page's range open-ended).
pub(super) async fn reconcile(
    source: &mut SyncSession,
    target: &mut SyncSession,
    job: &TableJob<'_>,
    plan: &Plan,
    run: &mut TableRun,
) -> Result<(), String> {
    let key = plan.source_key();
    let batch = job.batch_size.max(1);
    let mut after: Option<Vec<String>> = None;
    loop {
        let scan = Scan {
            table: &plan.source_table,
            select: key.clone(),
            order: key.clone(),
            after: after.as_deref(),
            limit: Some(batch),
            ..Scan::default()
        };
        let keys = source
            .read(&scan)
            .await
            .map_err(|e| failed(job, "reading the source's keys", e))?;
        let last_page = keys.len() < batch as usize;
        let last: Option<Vec<String>> = keys.last().map(|r| r.iter().flatten().cloned().collect());
        let range = KeyRange {
            after: after.clone(),
            through: if last_page { None } else { last.clone() },
        };
        let apply = Apply {
            table: &plan.target_table,
            columns: &plan.target_key(),
            key: &(0..key.len()).collect::<Vec<_>>(),
            rows: &keys,
            upsert: false,
            removal: Removal::Unlisted(&range),
            checkpoint: None,
            rows_per_statement: 1,
        };
        run.rows_deleted += target
            .apply(&apply)
            .await
            .map_err(|e| failed(job, "removing the keys the source no longer has", e))?;
        if last_page {
            return Ok(());
        }
        after = last;
    }
}

/// What bounds an incremental page besides its keyset position.
#[derive(Clone, Copy)]
struct Bounds<'a> {
    since: Option<&'a str>,
    before: Option<&'a str>,
}

async fn read_page(
    source: &mut SyncSession,
    job: &TableJob<'_>,
    plan: &Plan,
    order: Vec<usize>,
    after: Option<&[String]>,
    bounds: Option<Bounds<'_>>,
) -> Result<Vec<Row>, String> {
    let columns = &plan.source.columns;
    let mut scan = Scan {
        table: &plan.source_table,
        select: columns.iter().collect(),
        order: order.iter().map(|&i| &columns[i]).collect(),
        after,
        limit: Some(job.batch_size.max(1)),
        ..Scan::default()
    };
    if let Some(b) = bounds {
        scan.not_null = plan.cursor.iter().map(|&i| &columns[i]).collect();
        scan.since = b.since;
        if let (Some(before), Some((column, _))) = (b.before, plan.time_cursor()) {
            scan.before = Some((column, before));
        }
    }
    source
        .read(&scan)
        .await
        .map_err(|e| failed(job, "reading the source", e))
}

/// Applies one page (and its removal and checkpoint) in one transaction.
#[allow(clippy::too_many_arguments)]
async fn write(
    target: &mut SyncSession,
    job: &TableJob<'_>,
    plan: &Plan,
    rows: &[Row],
    upsert: bool,
    removal: Removal<'_>,
    checkpoint: Option<&Checkpoint>,
    run: &mut TableRun,
) -> Result<(), String> {
    let columns = plan.target_all();
    let apply = Apply {
        table: &plan.target_table,
        columns: &columns,
        key: &plan.key,
        rows,
        upsert,
        removal,
        checkpoint,
        rows_per_statement: target.rows_per_statement(job.batch_size, columns.len()),
    };
    let removed = target
        .apply(&apply)
        .await
        .map_err(|e| failed(job, "writing a page to the target", e))?;
    if upsert {
        run.rows_applied += rows.len() as u64;
    }
    run.rows_deleted += removed;
    Ok(())
}

fn checkpoint_of(job: &TableJob<'_>, plan: &Plan, mode: &str, applied: u64) -> Checkpoint {
    Checkpoint {
        definition: job.definition.to_string(),
        table: plan.target_table.clone(),
        mode: mode.to_string(),
        phase: String::new(),
        position: None,
        horizon: None,
        fingerprint: plan.fingerprint.clone(),
        rows_applied: applied,
    }
}

/// The canonical texts of a row at `positions` (never NULL: keys, and
/// cursors read with `IS NOT NULL`).
fn values(row: &Row, positions: &[usize]) -> Vec<String> {
    positions
        .iter()
        .map(|&i| row.get(i).cloned().flatten().unwrap_or_default())
        .collect()
}
