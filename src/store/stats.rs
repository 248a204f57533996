//! Daily size history: one row per (instance, database, day) in
//! `database_size_stats`, the databases that could not be measured that day
//! in `unmeasured_databases`, and the instance's total of that day in
//! `instance_size_stats`.
//!
//! Contract: writing a day again overwrites that day's rows (upserts keyed by
//! the day), so a rerun or a redelivered job never duplicates history. The
//! rows of one instance are written with one statement per table, passed as
//! one JSON parameter, in one transaction (or, for a job's end on
//! PostgreSQL, as parts of one statement: `one_trip.rs`).
//!
//! A day's figures agree with each other: its total is the sum of the rows
//! [`Stats::databases`] returns for it, both leaving out rows marked
//! `is_deleted` (a database dropped later that day, see
//! `Inventory::apply`). A database has a size or a gap on a day, never
//! both: measuring it clears its gap, and a gap is not recorded over a
//! size measured earlier that day (the reference keeps earlier rows of a
//! day that still exist). A day with a gap is `partial` (ruling 12).

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::{json, Value};

use super::db::{args, Db, Row, Tx};
use super::dialect::{json_time, Column, Dialect, Kind};
use super::statement::Statement;
use super::Result;
use crate::domain::InstanceId;

/// One `database_size_stats` row to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatRow {
    pub database_name: String,
    pub size_mb: i64,
    pub data_size_mb: Option<i64>,
    pub log_size_mb: Option<i64>,
    /// How it was measured (`tablespace`, `tables`, `tablespace+tables`,
    /// `pg_database_size`); see migration 0005.
    pub method: Option<String>,
    pub collected_at: DateTime<Utc>,
}

/// One stored `database_size_stats` row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredStat {
    pub database_name: String,
    pub size_mb: i64,
    pub data_size_mb: Option<i64>,
    pub method: Option<String>,
    pub collected_date: NaiveDate,
}

/// A database that could not be measured, to record for a day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnmeasuredRow {
    pub database_name: String,
    /// `permission`, `dropped`, `not_visible` or `error`.
    pub reason: String,
    /// For people: what happened and, when it is a grant, the statement.
    pub detail: String,
    pub collected_at: DateTime<Utc>,
}

/// One stored `unmeasured_databases` row that counts for its day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredUnmeasured {
    pub database_name: String,
    pub reason: String,
    pub detail: String,
    pub collected_date: NaiveDate,
}

/// One stored `instance_size_stats` row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstanceTotal {
    pub total_size_mb: i64,
    pub database_count: i32,
    /// Some database of the day has no size: the total counts what was
    /// measured.
    pub partial: bool,
    pub unmeasured_count: i32,
    pub collected_date: NaiveDate,
}

/// The size history of a store ([`super::Store::stats`]).
pub struct Stats<'a> {
    pub(super) db: &'a Db,
}

fn column(name: &'static str, kind: Kind) -> Column {
    Column { name, kind }
}

pub(super) fn stat_columns() -> [Column; 6] {
    [
        column("database_name", Kind::Text),
        column("size_mb", Kind::Int),
        column("data_size_mb", Kind::Int),
        column("log_size_mb", Kind::Int),
        column("method", Kind::Text),
        column("collected_at", Kind::Time),
    ]
}

pub(super) fn unmeasured_columns() -> [Column; 4] {
    [
        column("database_name", Kind::Text),
        column("reason", Kind::Text),
        column("detail", Kind::Text),
        column("collected_at", Kind::Time),
    ]
}

pub(super) fn stat_rows(rows: &[StatRow]) -> Value {
    rows.iter()
        .map(|r| {
            json!({
                "database_name": r.database_name,
                "size_mb": r.size_mb,
                "data_size_mb": r.data_size_mb,
                "log_size_mb": r.log_size_mb,
                "method": r.method,
                "collected_at": json_time(r.collected_at),
            })
        })
        .collect()
}

pub(super) fn unmeasured_rows(rows: &[UnmeasuredRow]) -> Value {
    rows.iter()
        .map(|r| {
            json!({
                "database_name": r.database_name,
                "reason": r.reason,
                "detail": r.detail,
                "collected_at": json_time(r.collected_at),
            })
        })
        .collect()
}

impl Stats<'_> {
    /// Upsert one row per (instance, database, date); returns rows written.
    pub async fn upsert_databases(
        &self,
        instance: InstanceId,
        date: NaiveDate,
        rows: &[StatRow],
    ) -> Result<u64> {
        self.save_day(instance, date, rows, &[]).await
    }

    /// Record a run's figures for `date` in one transaction: the measured
    /// rows (upserted; each clears that database's gap of the day), then
    /// the databases that could not be measured (upserted, except over a
    /// size measured earlier that day). Returns the measured rows written.
    pub async fn save_day(
        &self,
        instance: InstanceId,
        date: NaiveDate,
        measured: &[StatRow],
        unmeasured: &[UnmeasuredRow],
    ) -> Result<u64> {
        if measured.is_empty() && unmeasured.is_empty() {
            return Ok(0);
        }
        let mut tx = self.db.write().await?;
        let written = save_day(&mut tx, instance, date, measured, unmeasured).await?;
        tx.commit().await?;
        Ok(written)
    }

    /// The rows of one instance and day, by database name.
    pub async fn databases(
        &self,
        instance: InstanceId,
        date: NaiveDate,
    ) -> Result<Vec<StoredStat>> {
        let rows = self
            .db
            .fetch_all(
                "SELECT database_name, size_mb, data_size_mb, method, collected_date \
                 FROM database_size_stats \
                 WHERE instance_id = $1 AND collected_date = $2 AND NOT is_deleted \
                 ORDER BY database_name",
                args![instance, date],
            )
            .await?;
        rows.iter().map(stat_from_row).collect()
    }

    /// The databases of one instance that had no size on a day, by name.
    pub async fn unmeasured(
        &self,
        instance: InstanceId,
        date: NaiveDate,
    ) -> Result<Vec<StoredUnmeasured>> {
        let rows = self
            .db
            .fetch_all(
                "SELECT database_name, reason, detail, collected_date FROM unmeasured_databases \
                 WHERE instance_id = $1 AND collected_date = $2 AND NOT is_deleted \
                 ORDER BY database_name",
                args![instance, date],
            )
            .await?;
        rows.iter().map(unmeasured_from_row).collect()
    }
}

/// [`Stats::save_day`] inside a write transaction of the caller's.
pub(super) async fn save_day(
    tx: &mut Tx,
    instance: InstanceId,
    date: NaiveDate,
    measured: &[StatRow],
    unmeasured: &[UnmeasuredRow],
) -> Result<u64> {
    let dialect = tx.dialect();
    let mut written = 0;
    if let Some([upsert, filled]) = measured_writes(dialect, instance, date, measured) {
        written = tx.run(upsert).await?;
        tx.run(filled).await?;
    }
    if let Some(gaps) = unmeasured_write(dialect, instance, date, unmeasured) {
        tx.run(gaps).await?;
    }
    Ok(written)
}

/// The statements of [`save_day`], in order. The measured rows and the
/// gaps must name different databases for them to run as one statement
/// (`one_trip.rs`): a gap is not recorded over a size of the day, and
/// one statement does not see its own writes.
pub(super) fn day_writes(
    dialect: Dialect,
    instance: InstanceId,
    date: NaiveDate,
    measured: &[StatRow],
    unmeasured: &[UnmeasuredRow],
) -> Vec<Statement> {
    let measured = measured_writes(dialect, instance, date, measured);
    let gaps = unmeasured_write(dialect, instance, date, unmeasured);
    measured.into_iter().flatten().chain(gaps).collect()
}

/// Upsert the measured rows of a day, un-deleting a row measured again;
/// then clear the gap each one fills. `None` without rows.
fn measured_writes(
    dialect: Dialect,
    instance: InstanceId,
    date: NaiveDate,
    rows: &[StatRow],
) -> Option<[Statement; 2]> {
    if rows.is_empty() {
        return None;
    }
    let bulk = dialect.rows(3, &stat_columns());
    let upsert = format!(
        "INSERT INTO database_size_stats (instance_id, database_name, size_mb, data_size_mb, \
             log_size_mb, method, collected_date, collected_at, created_at, updated_at) \
         SELECT $1, t.database_name, t.size_mb, t.data_size_mb, t.log_size_mb, t.method, $2, \
             t.collected_at, $4, $4 FROM {bulk} WHERE true \
         ON CONFLICT (instance_id, database_name, collected_date) DO UPDATE SET \
             size_mb = excluded.size_mb, data_size_mb = excluded.data_size_mb, \
             log_size_mb = excluded.log_size_mb, method = excluded.method, \
             collected_at = excluded.collected_at, is_deleted = FALSE, deleted_at = NULL, \
             updated_at = $4"
    );
    let filled = format!(
        "UPDATE unmeasured_databases SET is_deleted = TRUE, deleted_at = $4, updated_at = $4 \
         WHERE instance_id = $1 AND collected_date = $2 AND NOT is_deleted \
           AND database_name IN (SELECT t.database_name FROM {bulk})"
    );
    let args = args![instance, date, stat_rows(rows), Utc::now()];
    Some([
        Statement {
            sql: upsert,
            args: args.clone(),
        },
        Statement { sql: filled, args },
    ])
}

/// Upsert the gaps of a day, except where the day already has a size.
/// `None` without rows.
fn unmeasured_write(
    dialect: Dialect,
    instance: InstanceId,
    date: NaiveDate,
    rows: &[UnmeasuredRow],
) -> Option<Statement> {
    if rows.is_empty() {
        return None;
    }
    let bulk = dialect.rows(3, &unmeasured_columns());
    let sql = format!(
        "INSERT INTO unmeasured_databases (instance_id, database_name, collected_date, reason, \
             detail, collected_at, created_at, updated_at) \
         SELECT $1, t.database_name, $2, t.reason, t.detail, t.collected_at, $4, $4 \
         FROM {bulk} WHERE NOT EXISTS ( \
             SELECT 1 FROM database_size_stats s \
             WHERE s.instance_id = $1 AND s.collected_date = $2 \
               AND s.database_name = t.database_name AND NOT s.is_deleted) \
         ON CONFLICT (instance_id, database_name, collected_date) DO UPDATE SET \
             reason = excluded.reason, detail = excluded.detail, \
             collected_at = excluded.collected_at, is_deleted = FALSE, deleted_at = NULL, \
             updated_at = $4"
    );
    let args = args![instance, date, unmeasured_rows(rows), Utc::now()];
    Some(Statement { sql, args })
}

pub(super) fn stat_from_row(row: &Row) -> Result<StoredStat> {
    Ok(StoredStat {
        database_name: row.get("database_name")?,
        size_mb: row.int("size_mb")?,
        data_size_mb: row.opt_int("data_size_mb")?,
        method: row.get("method")?,
        collected_date: row.get("collected_date")?,
    })
}

fn unmeasured_from_row(row: &Row) -> Result<StoredUnmeasured> {
    Ok(StoredUnmeasured {
        database_name: row.get("database_name")?,
        reason: row.get("reason")?,
        detail: row.get("detail")?,
        collected_date: row.get("collected_date")?,
    })
}
