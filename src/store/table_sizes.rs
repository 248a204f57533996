//! Sizes per table, one snapshot per (instance, database, day).
//!
//! Contract: a database's rows of a day are replaced whole, in the job's
//! filing transaction, only by a run that read that database and found at
//! least one table; a run that could not read it (a timeout, a refused
//! connection, the budget spent) or read nothing files nothing for it, so
//! the snapshot stands. Earlier days are never touched: they are the
//! history. The rows of a day are the largest tables one by one and one
//! `rest` row folding the others (`is_rest`, `table_name` empty).
//!
//! Reads: one instance's latest snapshots whole, or the fleet's largest
//! tables (rest rows aside) from each database's latest snapshot, filtered
//! and limited in SQL, so the fleet's rows never come to memory.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::{json, Value};

use super::db::{args, Db, Row, Tx};
use super::dialect::{Column, Kind};
use super::{FleetFilter, Result};
use crate::domain::InstanceId;

/// One database's tables as a run read them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSnapshot {
    pub database: String,
    /// `exact` or `estimate`.
    pub method: &'static str,
    /// Largest first; at most one `rest` row, last.
    pub rows: Vec<TableRow>,
}

/// One row of a snapshot: a table, or the rest of a database's tables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableRow {
    /// Empty for the rest row.
    pub table_name: String,
    pub is_rest: bool,
    /// 1, or how many tables the rest row folds.
    pub tables: i64,
    pub total_bytes: i64,
    pub data_bytes: i64,
    pub index_bytes: i64,
    pub row_estimate: Option<i64>,
}

/// A stored row, with where and when it was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredTable {
    pub database: String,
    pub collected_date: NaiveDate,
    #[serde(flatten)]
    pub row: TableRow,
    pub method: String,
    pub collected_at: DateTime<Utc>,
}

/// A table of the fleet, with its instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FleetTable {
    pub instance: String,
    pub engine: String,
    #[serde(flatten)]
    pub table: StoredTable,
}

/// The day of each (instance, database)'s latest snapshot on or before $1.
const LATEST_DAYS: &str = "SELECT instance_id, database_name, max(collected_date) AS day \
     FROM table_sizes WHERE collected_date <= $1 GROUP BY instance_id, database_name";

/// The table sizes of a store ([`super::Store::table_sizes`]).
pub struct TableSizes<'a> {
    pub(super) db: &'a Db,
}

impl TableSizes<'_> {
    /// The latest snapshot on or before `day` of each database of
    /// `instance` (only `database` when given), largest first per database.
    pub async fn latest(
        &self,
        instance: InstanceId,
        database: Option<&str>,
        day: NaiveDate,
    ) -> Result<Vec<StoredTable>> {
        let rows = self
            .db
            .fetch_all(
                "SELECT t.* FROM table_sizes t \
                 WHERE t.instance_id = $1 AND ($2 IS NULL OR t.database_name = $2) \
                   AND t.collected_date = (SELECT max(l.collected_date) FROM table_sizes l \
                        WHERE l.instance_id = t.instance_id \
                          AND l.database_name = t.database_name AND l.collected_date <= $3) \
                 ORDER BY t.database_name, t.is_rest, t.total_bytes DESC, t.table_name",
                args![instance, database, day],
            )
            .await?;
        rows.iter().map(stored_from_row).collect()
    }

    /// Up to `limit` tables of `filter`, largest first, each database's
    /// from its latest snapshot on or before `day` (and, given `since`, on
    /// or after it); rest rows are left out.
    pub async fn largest(
        &self,
        (since, day): (Option<NaiveDate>, NaiveDate),
        filter: FleetFilter,
        limit: i64,
    ) -> Result<Vec<FleetTable>> {
        let sql = format!(
            "SELECT i.name AS instance, i.db_type, t.* FROM table_sizes t \
             JOIN ({LATEST_DAYS}) latest ON latest.instance_id = t.instance_id \
                 AND latest.database_name = t.database_name AND latest.day = t.collected_date \
             JOIN instances i ON i.id = t.instance_id AND i.deleted_at IS NULL \
             WHERE t.is_rest = 0 AND ($5 IS NULL OR t.collected_date >= $5) AND {} \
             ORDER BY t.total_bytes DESC, i.name, t.database_name, t.table_name LIMIT $2",
            FleetFilter::sql("i.db_type", "t.instance_id", 3)
        );
        let mut bound = args![day, limit];
        bound.extend(filter.args());
        bound.extend(args![since]);
        let rows = self.db.fetch_all(&sql, bound).await?;
        rows.iter()
            .map(|row| {
                Ok(FleetTable {
                    instance: row.get("instance")?,
                    engine: row.get("db_type")?,
                    table: stored_from_row(row)?,
                })
            })
            .collect()
    }
}

const COLUMNS: [Column; 8] = [
    Column {
        name: "database_name",
        kind: Kind::Text,
    },
    Column {
        name: "table_name",
        kind: Kind::Text,
    },
    Column {
        name: "is_rest",
        kind: Kind::Int,
    },
    Column {
        name: "tables",
        kind: Kind::Int,
    },
    Column {
        name: "total_bytes",
        kind: Kind::Int,
    },
    Column {
        name: "data_bytes",
        kind: Kind::Int,
    },
    Column {
        name: "index_bytes",
        kind: Kind::Int,
    },
    Column {
        name: "row_estimate",
        kind: Kind::Int,
    },
];

/// File `snapshots` for `instance` and `day` inside the caller's
/// transaction: each database that has rows replaces its rows of the day.
pub(super) async fn save(
    tx: &mut Tx,
    instance: InstanceId,
    (day, now): (NaiveDate, DateTime<Utc>),
    snapshots: &[TableSnapshot],
) -> Result<()> {
    for snapshot in snapshots.iter().filter(|s| !s.rows.is_empty()) {
        tx.execute(
            "DELETE FROM table_sizes \
             WHERE instance_id = $1 AND database_name = $2 AND collected_date = $3",
            args![instance, snapshot.database.as_str(), day],
        )
        .await?;
        let sql = format!(
            "INSERT INTO table_sizes (instance_id, database_name, collected_date, table_name, \
                 is_rest, tables, total_bytes, data_bytes, index_bytes, row_estimate, method, \
                 collected_at) \
             SELECT $1, t.database_name, $2, t.table_name, t.is_rest, t.tables, t.total_bytes, \
                 t.data_bytes, t.index_bytes, t.row_estimate, $3, $4 FROM {}",
            tx.dialect().rows(5, &COLUMNS)
        );
        let rows = rows_json(snapshot);
        tx.execute(&sql, args![instance, day, snapshot.method, now, rows])
            .await?;
    }
    Ok(())
}

fn rows_json(snapshot: &TableSnapshot) -> Value {
    snapshot
        .rows
        .iter()
        .map(|r| {
            json!({
                "database_name": snapshot.database,
                "table_name": r.table_name,
                "is_rest": i64::from(r.is_rest),
                "tables": r.tables,
                "total_bytes": r.total_bytes,
                "data_bytes": r.data_bytes,
                "index_bytes": r.index_bytes,
                "row_estimate": r.row_estimate,
            })
        })
        .collect()
}

fn stored_from_row(row: &Row) -> Result<StoredTable> {
    Ok(StoredTable {
        database: row.get("database_name")?,
        collected_date: row.get("collected_date")?,
        row: TableRow {
            table_name: row.get("table_name")?,
            is_rest: row.int("is_rest")? != 0,
            tables: row.int("tables")?,
            total_bytes: row.int("total_bytes")?,
            data_bytes: row.int("data_bytes")?,
            index_bytes: row.int("index_bytes")?,
            row_estimate: row.opt_int("row_estimate")?,
        },
        method: row.get("method")?,
        collected_at: row.get("collected_at")?,
    })
}
