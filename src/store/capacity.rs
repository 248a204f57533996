//! Capacity reads: the size history of an instance and of one of its
//! databases over a range of days, the latest size of every database of
//! the fleet (largest first, in keyset pages), and the fleet's daily totals
//! by engine. The fleet-wide reads take a [`FleetFilter`] (one engine, one
//! instance), applied in SQL before the limit.
//!
//! Contract: reads only, over the rows that count (not `is_deleted`) of
//! instances that are not removed; what `stats.rs` writes is read back
//! unchanged. Sums are cast to `BIGINT`, which PostgreSQL would otherwise
//! widen to `numeric`.

use chrono::NaiveDate;
use serde::Serialize;

use super::day_total::total_from_row;
use super::db::{args, Arg, Db, Row};
use super::stats::stat_from_row;
use super::{InstanceTotal, Result, StoredStat};
use crate::domain::{DbType, InstanceId};

/// Which part of the fleet a fleet-wide read covers: everything by default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FleetFilter {
    /// Only instances of this engine.
    pub engine: Option<DbType>,
    /// Only this instance.
    pub instance: Option<InstanceId>,
}

impl FleetFilter {
    /// The condition on an engine column and an instance id column, with
    /// the engine bound to `$n` and the instance to `$n+1` (see
    /// [`FleetFilter::args`]).
    pub(super) fn sql(engine: &str, instance: &str, n: usize) -> String {
        let m = n + 1;
        format!("(${n} IS NULL OR {engine} = ${n}) AND (${m} IS NULL OR {instance} = ${m})")
    }

    /// The two bind values of [`FleetFilter::sql`].
    pub(super) fn args(&self) -> [Arg; 2] {
        [
            Arg::from(self.engine.map(DbType::as_str)),
            Arg::from(self.instance),
        ]
    }
}

/// The capacity reads of a store ([`super::Store::capacity`]).
pub struct Capacity<'a> {
    pub(super) db: &'a Db,
}

/// A database's latest measured size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LatestSize {
    pub instance_id: InstanceId,
    pub instance: String,
    pub engine: String,
    pub database_name: String,
    pub size_mb: i64,
    pub collected_date: NaiveDate,
}

/// Where a page of [`Capacity::latest_sizes`] starts: just after this row
/// in (size descending, instance id, database name) order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SizeCursor {
    pub size_mb: i64,
    pub instance_id: InstanceId,
    pub database_name: String,
}

impl From<&LatestSize> for SizeCursor {
    fn from(row: &LatestSize) -> Self {
        Self {
            size_mb: row.size_mb,
            instance_id: row.instance_id,
            database_name: row.database_name.clone(),
        }
    }
}

/// The fleet's figures of one engine on one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FleetDay {
    pub collected_date: NaiveDate,
    pub engine: String,
    pub instances: i64,
    pub databases: i64,
    pub total_size_mb: i64,
    /// Instances whose total of the day is partial.
    pub partial_instances: i64,
}

/// The latest row of each (instance, database) that counts, on a live
/// instance and a database still in its inventory.
const LATEST: &str = "SELECT s.instance_id, i.name AS instance, i.db_type, s.database_name, \
         s.size_mb, s.collected_date \
     FROM database_size_stats s \
     JOIN instances i ON i.id = s.instance_id AND i.deleted_at IS NULL \
     JOIN instance_databases d ON d.instance_id = s.instance_id \
         AND d.database_name = s.database_name AND d.is_active \
     WHERE NOT s.is_deleted AND s.collected_date = ( \
         SELECT max(l.collected_date) FROM database_size_stats l \
         WHERE l.instance_id = s.instance_id AND l.database_name = s.database_name \
           AND NOT l.is_deleted)";

impl Capacity<'_> {
    /// The instance's daily totals from `from` to `to` (inclusive), oldest first.
    pub async fn instance_sizes(
        &self,
        instance: InstanceId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<InstanceTotal>> {
        let rows = self
            .db
            .fetch_all(
                "SELECT total_size_mb, database_count, partial, unmeasured_count, collected_date \
                 FROM instance_size_stats WHERE instance_id = $1 AND NOT is_deleted \
                   AND collected_date >= $2 AND collected_date <= $3 ORDER BY collected_date",
                args![instance, from, to],
            )
            .await?;
        rows.iter().map(total_from_row).collect()
    }

    /// One database's daily sizes from `from` to `to` (inclusive), oldest first.
    pub async fn database_sizes(
        &self,
        instance: InstanceId,
        database: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<StoredStat>> {
        let rows = self
            .db
            .fetch_all(
                "SELECT database_name, size_mb, data_size_mb, method, collected_date \
                 FROM database_size_stats WHERE instance_id = $1 AND database_name = $2 \
                   AND NOT is_deleted AND collected_date >= $3 AND collected_date <= $4 \
                 ORDER BY collected_date",
                args![instance, database, from, to],
            )
            .await?;
        rows.iter().map(stat_from_row).collect()
    }

    /// Up to `limit` databases of `filter` by latest size, largest first,
    /// after `after`; only those measured on or after `since`, if given.
    pub async fn latest_sizes(
        &self,
        (filter, since): (FleetFilter, Option<NaiveDate>),
        limit: i64,
        after: Option<&SizeCursor>,
    ) -> Result<Vec<LatestSize>> {
        let order = "ORDER BY size_mb DESC, instance_id, database_name";
        let among = FleetFilter::sql("db_type", "instance_id", 2);
        let recent = "($4 IS NULL OR collected_date >= $4)";
        let mut bound = args![limit];
        bound.extend(filter.args());
        bound.extend(args![since]);
        let rows = match after {
            None => {
                let sql = format!(
                    "SELECT * FROM ({LATEST}) latest WHERE {among} AND {recent} {order} LIMIT $1"
                );
                self.db.fetch_all(&sql, bound).await?
            }
            Some(c) => {
                let sql = format!(
                    "SELECT * FROM ({LATEST}) latest WHERE {among} AND {recent} \
                         AND (size_mb < $5 OR (size_mb = $5 AND (instance_id > $6 \
                         OR (instance_id = $6 AND database_name > $7)))) \
                     {order} LIMIT $1"
                );
                bound.extend(args![c.size_mb, c.instance_id, c.database_name.as_str()]);
                self.db.fetch_all(&sql, bound).await?
            }
        };
        rows.iter().map(latest_from_row).collect()
    }

    /// The fleet's totals by day and engine, from `from` to `to` (inclusive).
    pub async fn summary(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<FleetDay>> {
        let rows = self
            .db
            .fetch_all(
                "SELECT t.collected_date, i.db_type, CAST(count(*) AS BIGINT) AS instances, \
                     CAST(sum(t.database_count) AS BIGINT) AS databases, \
                     CAST(sum(t.total_size_mb) AS BIGINT) AS total_size_mb, \
                     CAST(sum(CASE WHEN t.partial THEN 1 ELSE 0 END) AS BIGINT) AS partial \
                 FROM instance_size_stats t \
                 JOIN instances i ON i.id = t.instance_id AND i.deleted_at IS NULL \
                 WHERE NOT t.is_deleted AND t.collected_date >= $1 AND t.collected_date <= $2 \
                 GROUP BY t.collected_date, i.db_type ORDER BY t.collected_date, i.db_type",
                args![from, to],
            )
            .await?;
        rows.iter().map(fleet_day_from_row).collect()
    }
}

fn latest_from_row(row: &Row) -> Result<LatestSize> {
    Ok(LatestSize {
        instance_id: InstanceId(row.int("instance_id")?),
        instance: row.get("instance")?,
        engine: row.get("db_type")?,
        database_name: row.get("database_name")?,
        size_mb: row.int("size_mb")?,
        collected_date: row.get("collected_date")?,
    })
}

fn fleet_day_from_row(row: &Row) -> Result<FleetDay> {
    Ok(FleetDay {
        collected_date: row.get("collected_date")?,
        engine: row.get("db_type")?,
        instances: row.int("instances")?,
        databases: row.int("databases")?,
        total_size_mb: row.int("total_size_mb")?,
        partial_instances: row.int("partial")?,
    })
}
