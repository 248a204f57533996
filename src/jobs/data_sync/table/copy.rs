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

use super::{failed, limits, phase, Plan, TableJob};

mod page;
mod rejected;

use self::page::Bounds;

/// One table's copy: both sessions, what to do, and the run's counters.
pub(super) struct Copy<'r, 'j> {
    pub source: &'r mut SyncSession,
    pub target: &'r mut SyncSession,
    pub job: &'j TableJob<'j>,
    pub plan: &'j Plan,
    pub run: &'r mut TableRun,
    /// Pages go in with `COPY` on PostgreSQL, a plain `INSERT` on MySQL
    /// (see [`Copy::fresh`]).
    pub bulk: bool,
    /// When the copy began: the origin of its `rows_per_second` pace.
    pub started: std::time::Instant,
}

impl Copy<'_, '_> {
    /// A full copy; it resumes after the key of a full copy that did not
    /// finish (same shape). Returns the checkpoint it ends with.
    pub async fn full(&mut self, checkpoint: Option<Checkpoint>) -> Result<Checkpoint, String> {
        let plan = self.plan;
        let resume = checkpoint.filter(|k| {
            k.mode == "full" && k.phase == phase::COPY && k.fingerprint == plan.fingerprint
        });
        let (mut after, since, mut applied) = match resume {
            Some(k) => (k.position, k.horizon, k.rows_applied),
            // Taken before the first page: rows changed while the copy
            // runs are read again by the next incremental run.
            None => {
                self.bulk = self.fresh().await?;
                (None, self.horizon().await?, 0)
            }
        };
        let mut rows = self.read_page(&plan.key, after.as_deref(), None).await?;
        loop {
            let last_page = rows.len() < self.batch();
            let last_key = rows.last().map(|r| values(r, &plan.key));
            let range = KeyRange {
                after: after.clone(),
                through: if last_page { None } else { last_key.clone() },
            };
            applied += rows.len() as u64;
            let k = self.full_checkpoint(applied, last_page, &last_key, &since);
            let removal = if self.job.mirror {
                Removal::Unlisted(&range)
            } else {
                Removal::Nothing
            };
            if last_page {
                self.write(&rows, true, removal, &k).await?;
                return Ok(k);
            }
            rows = self.write_and_read(&rows, removal, &k, &last_key).await?;
            after = last_key;
        }
    }

    /// A fresh copy into a table with no row can insert rather than
    /// upsert: its pages come in key order, each after the last, under the
    /// table's sync lock, so none meets a row already there. A page that
    /// fails is rolled back with its checkpoint, and the copy resumed after
    /// the last committed page is not fresh: it finds the rows of its first
    /// run and upserts.
    async fn fresh(&mut self) -> Result<bool, String> {
        self.target
            .is_empty(&self.plan.target_table)
            .await
            .map_err(|e| failed(self.job, "reading whether the target table is empty", e))
    }

    /// During the copy the position is the last key; at its end, where
    /// incremental runs start (the first cursor column from `since`), or
    /// `done` for a table without cursor.
    fn full_checkpoint(
        &self,
        applied: u64,
        last_page: bool,
        last_key: &Option<Vec<String>>,
        since: &Option<String>,
    ) -> Checkpoint {
        let mut k = checkpoint_of(self.job, self.plan, "full", applied);
        k.horizon = since.clone();
        let has_cursor = !self.plan.cursor.is_empty();
        let (phase, position) = match (last_page, has_cursor) {
            (false, _) => (phase::COPY, last_key.clone()),
            (true, true) => (phase::SINCE, since.clone().map(|s| vec![s])),
            (true, false) => (phase::DONE, None),
        };
        (k.phase, k.position) = (phase.to_string(), position);
        k
    }

    /// The rows past the checkpoint, below the horizon. Returns the
    /// checkpoint it ends with.
    pub async fn incremental(
        &mut self,
        checkpoint: Option<Checkpoint>,
    ) -> Result<Checkpoint, String> {
        let plan = self.plan;
        if plan.cursor.is_empty() {
            return Err(format!(
                "an incremental sync of table {} needs `cursor:` columns",
                self.job.spec.name
            ));
        }
        let mut k = self.start(checkpoint).await?;
        k.horizon = self.horizon().await?;
        k.mode = "incremental".to_string();
        let order: Vec<usize> = plan.cursor.iter().chain(&plan.key).copied().collect();
        let mut window = self.next_window(k.position.as_ref().and_then(|p| p.first()), &k);
        let mut wrote = false;
        loop {
            let rows = self.next_page(&order, &k, window.as_deref()).await?;
            let short = rows.len() < self.batch();
            if let Some(last) = rows.last() {
                k.phase = phase::AFTER.to_string();
                k.position = Some(values(last, &order));
                k.rows_applied += rows.len() as u64;
                self.write(&rows, true, Removal::Nothing, &k).await?;
                wrote = true;
            }
            if short {
                match window.take() {
                    Some(end) => window = self.next_window(Some(&end), &k),
                    None => break,
                }
            }
        }
        if !wrote {
            // Nothing new: the start and the horizon are kept all the same.
            self.write(&[], false, Removal::Nothing, &k).await?;
        }
        Ok(k)
    }

    /// The end of the window after `start` (a first cursor value), below
    /// the horizon; `None` when the rest up to the horizon is read at once.
    fn next_window(&self, start: Option<&String>, k: &Checkpoint) -> Option<String> {
        let gap = self.job.max_gap?;
        self.plan.time_cursor()?;
        limits::window_end(start?, gap, k.horizon.as_deref()?)
    }

    /// The page after the checkpoint `k`: strictly after its position, or
    /// from its first cursor value; below its horizon.
    async fn next_page(
        &mut self,
        order: &[usize],
        k: &Checkpoint,
        window: Option<&str>,
    ) -> Result<Vec<Row>, String> {
        let (after, since) = match k.phase.as_str() {
            phase::AFTER => (k.position.as_deref(), None),
            _ => (None, k.position.as_ref().and_then(|p| p.first())),
        };
        let bounds = Bounds {
            since: since.map(String::as_str),
            before: window.or(k.horizon.as_deref()),
        };
        self.read_page(order, after, Some(bounds)).await
    }

    /// Where an incremental run starts: its checkpoint, or, for a first
    /// run, `initial_days` back on a time cursor (the beginning otherwise).
    async fn start(&mut self, checkpoint: Option<Checkpoint>) -> Result<Checkpoint, String> {
        let job = self.job;
        match checkpoint {
            Some(k) if k.phase == phase::COPY => Err(format!(
                "a full sync of table {} into {} did not finish; run a full sync to finish it",
                job.spec.name, job.target_label
            )),
            Some(k) if k.phase == phase::AFTER && !self.fits(&k) => Err(format!(
                "the checkpoint of table {} in {} was written for other cursor columns; run a \
                 full sync to start over",
                job.spec.name, job.target_label
            )),
            Some(k) if k.phase == phase::DONE => Ok(Checkpoint {
                phase: phase::SINCE.to_string(),
                position: None,
                ..k
            }),
            Some(k) => Ok(k),
            None => {
                let mut k = checkpoint_of(job, self.plan, "incremental", 0);
                k.phase = phase::SINCE.to_string();
                if let Some((column, _)) = self.plan.time_cursor() {
                    let days = u64::from(job.initial_days);
                    let back = std::time::Duration::from_secs(days * 86_400);
                    let since = self
                        .source
                        .clock(column, back, false)
                        .await
                        .map_err(|e| failed(job, "reading the source clock", e))?;
                    k.position = Some(vec![since]);
                }
                Ok(k)
            }
        }
    }

    /// An incremental position holds one text per cursor and key column.
    fn fits(&self, k: &Checkpoint) -> bool {
        let columns = self.plan.cursor.len() + self.plan.key.len();
        k.position.as_ref().is_some_and(|p| p.len() == columns)
    }

    /// The source clock minus `settle`, held back by open transactions,
    /// when the first cursor column is a date or time.
    async fn horizon(&mut self) -> Result<Option<String>, String> {
        let Some((column, _)) = self.plan.time_cursor() else {
            return Ok(None);
        };
        self.source
            .clock(column, self.job.settle, true)
            .await
            .map(Some)
            .map_err(|e| failed(self.job, "reading the source clock", e))
    }

    /// Removes from the target the keys the source no longer has: the
    /// source's keys walked in key order, page by page, each page's range
    /// on the target pruned to the page's keys (the last page's range
    /// open-ended).
    pub async fn reconcile(&mut self) -> Result<(), String> {
        let (job, plan) = (self.job, self.plan);
        let key = plan.source_key();
        let positions: Vec<usize> = (0..key.len()).collect();
        let mut after: Option<Vec<String>> = None;
        loop {
            let scan = Scan {
                select: key.clone(),
                order: key.clone(),
                after: after.as_deref(),
                limit: Some(job.batch_size.max(1)),
                ..Scan::new(&plan.source_table)
            };
            let keys = self
                .source
                .read(&scan)
                .await
                .map_err(|e| failed(job, "reading the source's keys", e))?;
            let last_page = keys.len() < self.batch();
            let last = keys.last().map(|r| values(r, &positions));
            let range = KeyRange {
                after: after.clone(),
                through: if last_page { None } else { last.clone() },
            };
            let apply = Apply {
                columns: &plan.target_key(),
                key: &positions,
                rows: &keys,
                removal: Removal::Unlisted(&range),
                ..Apply::new(&plan.target_table)
            };
            self.run.rows_deleted += self
                .target
                .apply(&apply)
                .await
                .map_err(|e| failed(job, "removing the keys the source no longer has", e))?;
            if last_page {
                return Ok(());
            }
            after = last;
        }
    }

    fn batch(&self) -> usize {
        self.job.batch_size.max(1) as usize
    }
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
