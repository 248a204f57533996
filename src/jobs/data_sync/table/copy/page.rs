//! One page of a copy: read from the source, applied to the target with
//! its checkpoint, and counted in the run.
//!
//! A full copy reads the next page while the target writes the current
//! one: the next page starts after the current page's last key, known
//! before it is written, so the two sessions work at once and the source's
//! read no longer adds to the target's write. At most two pages are held.
//! The next page is kept only once the current one committed; a write that
//! fails ends the copy with that page's error, as it would have before.

use crate::adapters::sync::{Applied, Apply, Checkpoint, Column, Removal, Row, Scan};

use super::super::{failed, limits, Plan, TableJob};
use super::Copy;

/// What bounds an incremental page besides its keyset position.
#[derive(Clone, Copy)]
pub(super) struct Bounds<'a> {
    pub since: Option<&'a str>,
    pub before: Option<&'a str>,
}

impl<'j> Copy<'_, 'j> {
    /// A page of whole rows in the order of the columns `order`.
    pub(super) async fn read_page(
        &mut self,
        order: &[usize],
        after: Option<&[String]>,
        bounds: Option<Bounds<'_>>,
    ) -> Result<Vec<Row>, String> {
        let scan = page_scan(self.job, self.plan, order, after, bounds);
        let rows = self.source.read(&scan).await;
        self.counted(rows).await
    }

    /// Applies one page (its removal and its checkpoint) in one target
    /// transaction.
    pub(super) async fn write(
        &mut self,
        rows: &[Row],
        upsert: bool,
        removal: Removal<'_>,
        checkpoint: &Checkpoint,
    ) -> Result<(), String> {
        let columns = self.plan.target_all();
        let apply = self.apply_of(&columns, rows, upsert, removal, checkpoint);
        let applied = self.target.apply_page(&apply).await;
        self.applied(rows, applied, upsert, checkpoint)
    }

    /// Writes the full copy's page `rows` (up to key `last`) while the page
    /// after `last` is read; returns that next page.
    pub(super) async fn write_and_read(
        &mut self,
        rows: &[Row],
        removal: Removal<'_>,
        checkpoint: &Checkpoint,
        last: &Option<Vec<String>>,
    ) -> Result<Vec<Row>, String> {
        let columns = self.plan.target_all();
        let apply = self.apply_of(&columns, rows, true, removal, checkpoint);
        let plan = self.plan;
        let scan = page_scan(self.job, plan, &plan.key, last.as_deref(), None);
        let (applied, next) = tokio::join!(self.target.apply_page(&apply), self.source.read(&scan));
        self.applied(rows, applied, true, checkpoint)?;
        self.counted(next).await
    }

    /// The target transaction of a page.
    fn apply_of<'a>(
        &self,
        columns: &'a [&'a Column],
        rows: &'a [Row],
        upsert: bool,
        removal: Removal<'a>,
        checkpoint: &'a Checkpoint,
    ) -> Apply<'a>
    where
        'j: 'a,
    {
        let (job, plan) = (self.job, self.plan);
        Apply {
            columns,
            key: &plan.key,
            rows,
            upsert,
            removal,
            checkpoint: Some(checkpoint),
            rows_per_statement: self
                .target
                .rows_per_statement(job.batch_size, columns.len()),
            bulk: self.bulk && upsert,
            rejects: Some(job.max_rejected_rows.saturating_sub(self.run.rows_rejected)),
            ..Apply::new(&plan.target_table)
        }
    }

    /// Counts a page the target took, or fails the table with its error.
    fn applied(
        &mut self,
        rows: &[Row],
        applied: Result<Applied, crate::adapters::Error>,
        upsert: bool,
        checkpoint: &Checkpoint,
    ) -> Result<(), String> {
        let applied = applied.map_err(|e| failed(self.job, "writing a page to the target", e))?;
        self.rejected(rows, &applied)?;
        if upsert {
            self.run.rows_applied += (rows.len() - applied.rejected.len()) as u64;
        }
        self.run.rows_deleted += applied.removed;
        // Where the checkpoint stands even if a later page fails.
        self.run.position = checkpoint
            .position
            .as_ref()
            .map(|p| p.iter().cloned().map(Some).collect());
        Ok(())
    }

    /// Counts a page read, then waits as long as `rows_per_second` asks.
    async fn counted(
        &mut self,
        rows: Result<Vec<Row>, crate::adapters::Error>,
    ) -> Result<Vec<Row>, String> {
        let rows = rows.map_err(|e| failed(self.job, "reading the source", e))?;
        self.run.rows_read += rows.len() as u64;
        if let Some(rate) = self.job.rows_per_second {
            let elapsed = self.started.elapsed();
            tokio::time::sleep(limits::pause(self.run.rows_read, elapsed, rate)).await;
        }
        Ok(rows)
    }
}

/// The scan of a page of whole rows in the order of the columns `order`.
fn page_scan<'a>(
    job: &TableJob<'_>,
    plan: &'a Plan,
    order: &[usize],
    after: Option<&'a [String]>,
    bounds: Option<Bounds<'a>>,
) -> Scan<'a> {
    let columns = &plan.source.columns;
    let mut scan = Scan {
        select: columns.iter().collect(),
        order: order.iter().map(|&i| &columns[i]).collect(),
        after,
        limit: Some(job.batch_size.max(1)),
        ..Scan::new(&plan.source_table)
    };
    if let Some(b) = bounds {
        scan.not_null = plan.cursor.iter().map(|&i| &columns[i]).collect();
        scan.since = b.since;
        if let (Some(before), Some((column, _))) = (b.before, plan.time_cursor()) {
            scan.before = Some((column, before));
        }
    }
    scan
}
