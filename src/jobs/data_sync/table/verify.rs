//! Verification: source and target compared chunk by chunk (key ranges of
//! about ten pages of source rows), each side's row count and exact sum of
//! row hashes over the same canonical text the copy reads.
//!
//! A chunk that differs is computed again once before it is reported
//! (a write may have landed between the two sides' reads). With `repair`,
//! a differing chunk is copied again: the target's rows of the range
//! deleted and the source's inserted, in one transaction.
//!
//! Incremental tables are compared below the horizon of their last run
//! (rows with a first cursor value at or past it are left out on both
//! sides: they may rightly differ until the next run).

use crate::adapters::sync::{Apply, Column, Digest, KeyRange, Removal, Row, Scan, SyncSession};
use crate::message::data_sync::Verification;

use super::{failed, Plan, TableJob};

/// Chunks are this many pages of source rows.
const PAGES_PER_CHUNK: u32 = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Matched,
    Different,
    Missing,
    Extra,
}

pub(super) async fn run(
    source: &mut SyncSession,
    target: &mut SyncSession,
    job: &TableJob<'_>,
    plan: &Plan,
    horizon: Option<String>,
) -> Result<Verification, String> {
    let mut check = Check {
        source,
        target,
        job,
        plan,
        horizon,
        report: Verification::default(),
    };
    let chunk = job.batch_size.max(1).saturating_mul(PAGES_PER_CHUNK);
    let mut after: Option<Vec<String>> = None;
    loop {
        let through = match check.boundary(after.as_deref(), chunk).await? {
            Some(key) => Some(key),
            // Fewer rows than a chunk remain: up to the source's last key,
            // then what the target has past it, which can only be extra.
            None => check.boundary_last(after.as_deref()).await?,
        };
        let Some(through) = through else {
            check
                .chunk(KeyRange {
                    after,
                    through: None,
                })
                .await?;
            return Ok(check.report);
        };
        let range = KeyRange {
            after: after.clone(),
            through: Some(through.clone()),
        };
        check.chunk(range).await?;
        after = Some(through);
    }
}

/// One verification under way.
struct Check<'r, 'j> {
    source: &'r mut SyncSession,
    target: &'r mut SyncSession,
    job: &'j TableJob<'j>,
    plan: &'j Plan,
    horizon: Option<String>,
    report: Verification,
}

impl Check<'_, '_> {
    /// Compares one chunk (twice if it differs), counts it, and repairs it
    /// if asked.
    async fn chunk(&mut self, range: KeyRange) -> Result<(), String> {
        let (job, plan, horizon) = (self.job, self.plan, self.horizon.as_deref());
        let (source, target) = (&mut *self.source, &mut *self.target);
        let mut outcome = compare(source, target, job, plan, &range, horizon).await?;
        if outcome != Outcome::Matched {
            outcome = compare(source, target, job, plan, &range, horizon).await?;
        }
        let report = &mut self.report;
        report.chunks += 1;
        match outcome {
            Outcome::Matched => report.matched += 1,
            Outcome::Different => report.different += 1,
            Outcome::Missing => report.missing += 1,
            Outcome::Extra => report.extra += 1,
        }
        if outcome != Outcome::Matched && job.repair {
            repair(source, target, job, plan, &range).await?;
            report.repaired += 1;
        }
        Ok(())
    }

    /// The last key of the chunk after `after`: the key `chunk` rows on,
    /// or `None` when fewer rows remain.
    async fn boundary(
        &mut self,
        after: Option<&[String]>,
        chunk: u32,
    ) -> Result<Option<Vec<String>>, String> {
        self.key_at(after, chunk - 1, false).await
    }

    /// The source's last key after `after`, if any.
    async fn boundary_last(
        &mut self,
        after: Option<&[String]>,
    ) -> Result<Option<Vec<String>>, String> {
        self.key_at(after, 0, true).await
    }

    async fn key_at(
        &mut self,
        after: Option<&[String]>,
        offset: u32,
        descending: bool,
    ) -> Result<Option<Vec<String>>, String> {
        let key = self.plan.source_key();
        let scan = Scan {
            select: key.clone(),
            order: key,
            descending,
            after,
            limit: Some(1),
            offset,
            ..Scan::new(&self.plan.source_table)
        };
        let rows = self
            .source
            .read(&scan)
            .await
            .map_err(|e| failed(self.job, "reading the source's chunk boundaries", e))?;
        Ok(rows
            .into_iter()
            .next()
            .map(|r| r.into_iter().flatten().collect()))
    }
}

async fn compare(
    source: &mut SyncSession,
    target: &mut SyncSession,
    job: &TableJob<'_>,
    plan: &Plan,
    range: &KeyRange,
    horizon: Option<&str>,
) -> Result<Outcome, String> {
    let (source_cursor, target_cursor) = plan.time_cursor().unzip();
    let ours = digest(
        source,
        &plan.source_table,
        plan.source.columns.iter().collect(),
        plan.source_key(),
        range,
        source_cursor.zip(horizon),
    )
    .await
    .map_err(|e| failed(job, "checksumming the source", e))?;
    let theirs = digest(
        target,
        &plan.target_table,
        plan.target_all(),
        plan.target_key(),
        range,
        target_cursor.zip(horizon),
    )
    .await
    .map_err(|e| failed(job, "checksumming the target", e))?;
    Ok(if ours == theirs {
        Outcome::Matched
    } else if ours.rows == 0 {
        Outcome::Extra
    } else if theirs.rows == 0 {
        Outcome::Missing
    } else {
        Outcome::Different
    })
}

async fn digest(
    session: &mut SyncSession,
    table: &str,
    columns: Vec<&Column>,
    key: Vec<&Column>,
    range: &KeyRange,
    before: Option<(&Column, &str)>,
) -> Result<Digest, crate::adapters::Error> {
    let scan = Scan {
        select: columns,
        before,
        ..Scan::range(table, key, range)
    };
    session.digest(&scan).await
}

/// Copies the chunk again: the target's rows of the range deleted, the
/// source's inserted, in one target transaction.
async fn repair(
    source: &mut SyncSession,
    target: &mut SyncSession,
    job: &TableJob<'_>,
    plan: &Plan,
    range: &KeyRange,
) -> Result<(), String> {
    let rows = chunk_rows(source, job, plan, range).await?;
    let columns = plan.target_all();
    let apply = Apply {
        columns: &columns,
        key: &plan.key,
        rows: &rows,
        upsert: true,
        removal: Removal::All(range),
        rows_per_statement: target.rows_per_statement(job.batch_size, columns.len()),
        ..Apply::new(&plan.target_table)
    };
    target
        .apply(&apply)
        .await
        .map(|_| ())
        .map_err(|e| failed(job, "repairing a chunk", e))
}

/// The source's rows of a chunk (about ten pages), read page by page and
/// held until they are written.
async fn chunk_rows(
    source: &mut SyncSession,
    job: &TableJob<'_>,
    plan: &Plan,
    range: &KeyRange,
) -> Result<Vec<Row>, String> {
    let key = plan.source_key();
    let batch = job.batch_size.max(1);
    let mut rows: Vec<Row> = Vec::new();
    let mut after = range.after.clone();
    loop {
        let scan = Scan {
            select: plan.source.columns.iter().collect(),
            order: key.clone(),
            after: after.as_deref(),
            through: range.through.as_deref(),
            limit: Some(batch),
            ..Scan::new(&plan.source_table)
        };
        let page = source
            .read(&scan)
            .await
            .map_err(|e| failed(job, "reading a chunk to repair", e))?;
        let full = page.len() >= batch as usize;
        after = page.last().map(|r| {
            plan.key
                .iter()
                .map(|&i| r.get(i).cloned().flatten().unwrap_or_default())
                .collect()
        });
        rows.extend(page);
        if !full {
            return Ok(rows);
        }
    }
}
