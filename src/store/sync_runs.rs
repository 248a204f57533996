//! The history of data sync runs: one row per (job, target, table).
//!
//! A table's row is written `running` when it starts and rewritten when it
//! ends, both keyed by (job, target, table): a job the broker redelivers
//! rewrites its own rows instead of adding to them, and a worker that dies
//! leaves a `running` row that the next attempt of the job takes over.

use chrono::{DateTime, Utc};

use super::db::{args, Db, Row};
use super::Result;
use crate::domain::{BatchId, JobId};

/// One table's run into one target, as the history keeps it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SyncRun {
    pub job_id: JobId,
    pub batch_id: BatchId,
    pub definition: String,
    /// `instance/database`.
    pub target: String,
    pub table: String,
    pub mode: String,
    /// `running`, `success` or `failed`.
    pub status: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub rows_read: i64,
    pub rows_applied: i64,
    pub rows_deleted: i64,
    pub chunks_verified: Option<i64>,
    pub chunks_differing: Option<i64>,
    pub error: Option<String>,
    pub attempt: i64,
    pub worker: String,
}

/// Which runs `history` returns.
#[derive(Debug, Clone, Default)]
pub struct RunFilter<'a> {
    pub definition: Option<&'a str>,
    /// `instance/database`, or an instance name (each of its databases).
    pub target: Option<&'a str>,
    pub table: Option<&'a str>,
    pub status: Option<&'a str>,
    pub limit: i64,
}

/// The run history of a store ([`super::Store::sync_runs`]).
pub struct SyncRuns<'a> {
    pub(super) db: &'a Db,
}

impl SyncRuns<'_> {
    /// Write `run` as it stands (`running`, or ended).
    pub async fn record(&self, run: &SyncRun) -> Result<()> {
        self.db
            .execute(
                "INSERT INTO sync_runs (job_id, batch_id, definition, target, table_name, mode, \
                     status, started_at, ended_at, rows_read, rows_applied, rows_deleted, \
                     chunks_verified, chunks_differing, error, attempt, worker) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
                     $16, $17) \
                 ON CONFLICT (job_id, target, table_name) DO UPDATE SET \
                     mode = excluded.mode, status = excluded.status, \
                     started_at = excluded.started_at, ended_at = excluded.ended_at, \
                     rows_read = excluded.rows_read, rows_applied = excluded.rows_applied, \
                     rows_deleted = excluded.rows_deleted, \
                     chunks_verified = excluded.chunks_verified, \
                     chunks_differing = excluded.chunks_differing, error = excluded.error, \
                     attempt = excluded.attempt, worker = excluded.worker",
                args![
                    run.job_id,
                    run.batch_id,
                    &run.definition,
                    &run.target,
                    &run.table,
                    &run.mode,
                    &run.status,
                    run.started_at,
                    run.ended_at,
                    run.rows_read,
                    run.rows_applied,
                    run.rows_deleted,
                    run.chunks_verified,
                    run.chunks_differing,
                    run.error.clone(),
                    run.attempt,
                    &run.worker,
                ],
            )
            .await?;
        Ok(())
    }

    /// End as failed the runs of `run`'s table into its target that other
    /// jobs left `running`: a job past its deadline, or whose worker
    /// stopped, never wrote its end, and a table has one sync at a time. A
    /// job still running that row rewrites it as it ends.
    pub async fn close_stale(&self, run: &SyncRun) -> Result<u64> {
        self.db
            .execute(
                "UPDATE sync_runs SET status = 'failed', ended_at = $5, error = $6 \
                 WHERE definition = $1 AND target = $2 AND table_name = $3 \
                   AND status = 'running' AND job_id <> $4",
                args![
                    &run.definition,
                    &run.target,
                    &run.table,
                    run.job_id,
                    run.started_at,
                    "the job ended before the table did (its deadline passed, or its worker stopped)",
                ],
            )
            .await
    }

    /// The latest ended run of each (definition, target, table) of a
    /// definition still declared.
    pub async fn latest_ended(&self) -> Result<Vec<SyncRun>> {
        let rows = self
            .db
            .fetch_all(
                &format!(
                    "{COLUMNS} FROM sync_runs r \
                     JOIN sync_definitions d ON d.name = r.definition AND d.declared \
                     WHERE r.ended_at = \
                     (SELECT max(l.ended_at) FROM sync_runs l WHERE l.definition = r.definition \
                      AND l.target = r.target AND l.table_name = r.table_name) \
                     ORDER BY r.definition, r.target, r.table_name"
                ),
                args![],
            )
            .await?;
        rows.iter().map(from_row).collect()
    }

    /// The runs job `job` wrote, one per (target, table).
    pub async fn of_job(&self, job: JobId) -> Result<Vec<SyncRun>> {
        let sql = format!("{COLUMNS} FROM sync_runs r WHERE r.job_id = $1");
        let rows = self.db.fetch_all(&sql, args![job]).await?;
        rows.iter().map(from_row).collect()
    }

    /// The runs `filter` selects, newest first.
    pub async fn history(&self, filter: &RunFilter<'_>) -> Result<Vec<SyncRun>> {
        let rows = self
            .db
            .fetch_all(
                &format!(
                    "{COLUMNS} FROM sync_runs r \
                 WHERE ($1 IS NULL OR definition = $1) \
                   AND ($2 IS NULL OR target = $2 OR target LIKE $3 ESCAPE '\\') \
                   AND ($4 IS NULL OR table_name = $4) \
                   AND ($5 IS NULL OR status = $5) \
                 ORDER BY started_at DESC, target, table_name LIMIT $6"
                ),
                args![
                    filter.definition,
                    filter.target,
                    filter.target.map(|t| format!("{}/%", like_escaped(t))),
                    filter.table,
                    filter.status,
                    filter.limit,
                ],
            )
            .await?;
        rows.iter().map(from_row).collect()
    }
}

const COLUMNS: &str = "SELECT r.job_id, r.batch_id, r.definition, r.target, r.table_name, \
     r.mode, r.status, r.started_at, r.ended_at, r.rows_read, r.rows_applied, r.rows_deleted, \
     r.chunks_verified, r.chunks_differing, r.error, r.attempt, r.worker";

/// `text` matched literally by `LIKE` (no `%` or `_` wildcards; instance
/// names have neither `%` nor `\`, but `_` is common).
fn like_escaped(text: &str) -> String {
    text.replace('_', "\\_")
}

fn from_row(row: &Row) -> Result<SyncRun> {
    Ok(SyncRun {
        job_id: JobId(row.uuid("job_id")?),
        batch_id: BatchId(row.uuid("batch_id")?),
        definition: row.get("definition")?,
        target: row.get("target")?,
        table: row.get("table_name")?,
        mode: row.get("mode")?,
        status: row.get("status")?,
        started_at: row.get("started_at")?,
        ended_at: row.get("ended_at")?,
        rows_read: row.int("rows_read")?,
        rows_applied: row.int("rows_applied")?,
        rows_deleted: row.int("rows_deleted")?,
        chunks_verified: row.opt_int("chunks_verified")?,
        chunks_differing: row.opt_int("chunks_differing")?,
        error: row.get("error")?,
        attempt: row.int("attempt")?,
        worker: row.get("worker")?,
    })
}
