//! Daily size history: one row per (instance, database, day) in
//! `database_size_stats`, and the instance's total of that day in
//! `instance_size_stats`.
//!
//! Contract: writing a day again overwrites that day's rows (upserts keyed by
//! the day), so a rerun or a redelivered job never duplicates history. The
//! rows of one instance are written with one statement, passed as one JSON
//! parameter.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::{json, Value};

use super::db::{args, Db, Row};
use super::dialect::{json_time, Column, Kind};
use super::{Error, Result};
use crate::domain::InstanceId;

/// One `database_size_stats` row to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatRow {
    pub database_name: String,
    pub size_mb: i64,
    pub data_size_mb: Option<i64>,
    pub log_size_mb: Option<i64>,
    pub collected_at: DateTime<Utc>,
}

/// One stored `database_size_stats` row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredStat {
    pub database_name: String,
    pub size_mb: i64,
    pub data_size_mb: Option<i64>,
    pub collected_date: NaiveDate,
}

/// One stored `instance_size_stats` row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstanceTotal {
    pub total_size_mb: i64,
    pub database_count: i32,
    pub collected_date: NaiveDate,
}

/// The size history of a store ([`super::Store::stats`]).
pub struct Stats<'a> {
    pub(super) db: &'a Db,
}

const STAT_ROWS: [Column; 5] = [
    Column {
        name: "database_name",
        kind: Kind::Text,
    },
    Column {
        name: "size_mb",
        kind: Kind::Int,
    },
    Column {
        name: "data_size_mb",
        kind: Kind::Int,
    },
    Column {
        name: "log_size_mb",
        kind: Kind::Int,
    },
    Column {
        name: "collected_at",
        kind: Kind::Time,
    },
];

fn stat_rows(rows: &[StatRow]) -> Value {
    rows.iter()
        .map(|r| {
            json!({
                "database_name": r.database_name,
                "size_mb": r.size_mb,
                "data_size_mb": r.data_size_mb,
                "log_size_mb": r.log_size_mb,
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
        if rows.is_empty() {
            return Ok(0);
        }
        let sql = format!(
            "INSERT INTO database_size_stats (instance_id, database_name, size_mb, data_size_mb, \
                 log_size_mb, collected_date, collected_at, created_at, updated_at) \
             SELECT $1, t.database_name, t.size_mb, t.data_size_mb, t.log_size_mb, $2, \
                 t.collected_at, $4, $4 FROM {} WHERE true \
             ON CONFLICT (instance_id, database_name, collected_date) DO UPDATE SET \
                 size_mb = excluded.size_mb, data_size_mb = excluded.data_size_mb, \
                 log_size_mb = excluded.log_size_mb, collected_at = excluded.collected_at, \
                 updated_at = $4",
            self.db.dialect().rows(3, &STAT_ROWS)
        );
        let args = args![instance, date, stat_rows(rows), Utc::now()];
        self.db.execute(&sql, args).await
    }

    /// Recompute the instance total of `date` from that day's rows of active
    /// (or untracked) databases. `None` when there is no row for that day.
    pub async fn refresh_instance_total(
        &self,
        instance: InstanceId,
        date: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<Option<InstanceTotal>> {
        // `WHERE true` keeps SQLite from reading ON CONFLICT as a join clause.
        let row = self
            .db
            .fetch_optional(
                "WITH today AS ( \
                     SELECT s.size_mb FROM database_size_stats s \
                     LEFT JOIN instance_databases d \
                       ON d.instance_id = s.instance_id AND d.database_name = s.database_name \
                     WHERE s.instance_id = $1 AND s.collected_date = $2 \
                       AND (d.is_active OR d.id IS NULL)) \
                 INSERT INTO instance_size_stats (instance_id, total_size_mb, database_count, \
                     collected_date, collected_at, created_at, updated_at) \
                 SELECT $1, sum(size_mb), count(*), $2, $3, $4, $4 FROM today WHERE true \
                 HAVING count(*) > 0 \
                 ON CONFLICT (instance_id, collected_date) WHERE is_deleted = FALSE DO UPDATE SET \
                     total_size_mb = excluded.total_size_mb, \
                     database_count = excluded.database_count, \
                     collected_at = excluded.collected_at, updated_at = $4 \
                 RETURNING total_size_mb, database_count, collected_date",
                args![instance, date, now, Utc::now()],
            )
            .await?;
        row.as_ref().map(total_from_row).transpose()
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
                "SELECT database_name, size_mb, data_size_mb, collected_date \
                 FROM database_size_stats WHERE instance_id = $1 AND collected_date = $2 \
                 ORDER BY database_name",
                args![instance, date],
            )
            .await?;
        rows.iter().map(stat_from_row).collect()
    }

    pub async fn instance_total(
        &self,
        instance: InstanceId,
        date: NaiveDate,
    ) -> Result<Option<InstanceTotal>> {
        let row = self
            .db
            .fetch_optional(
                "SELECT total_size_mb, database_count, collected_date FROM instance_size_stats \
                 WHERE instance_id = $1 AND collected_date = $2 AND NOT is_deleted",
                args![instance, date],
            )
            .await?;
        row.as_ref().map(total_from_row).transpose()
    }
}

fn stat_from_row(row: &Row) -> Result<StoredStat> {
    Ok(StoredStat {
        database_name: row.get("database_name")?,
        size_mb: row.int("size_mb")?,
        data_size_mb: row.opt_int("data_size_mb")?,
        collected_date: row.get("collected_date")?,
    })
}

fn total_from_row(row: &Row) -> Result<InstanceTotal> {
    let count = row.int("database_count")?;
    Ok(InstanceTotal {
        total_size_mb: row.int("total_size_mb")?,
        database_count: i32::try_from(count)
            .map_err(|_| Error::Conflict(format!("database count {count} out of range")))?,
        collected_date: row.get("collected_date")?,
    })
}
