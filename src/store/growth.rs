//! The fastest-growing databases over a window: each database's first
//! size on or after the window's start against its last on or before its
//! end, largest change first.
//!
//! Contract: only rows that count (not `is_deleted`), of instances not
//! removed and databases still active; a database with a single day in
//! the window has no change and is left out; a [`FleetFilter`] narrows
//! the rows before the limit. The change is in MiB, and in
//! percent of the first size (absent when that was 0).

use chrono::NaiveDate;
use serde::Serialize;

use super::db::{args, Row};
use super::{Capacity, FleetFilter, Result};

/// How one database changed over a window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Growth {
    pub instance: String,
    pub engine: String,
    pub database_name: String,
    pub from_date: NaiveDate,
    pub from_mb: i64,
    pub to_date: NaiveDate,
    pub to_mb: i64,
    pub change_mb: i64,
    pub change_percent: Option<f64>,
}

/// The first and last row of each database inside [$1, $2], of the part
/// of the fleet `{among}` keeps.
const GROWTH: &str = "SELECT i.name AS instance, i.db_type, b.database_name, \
         b.collected_date AS from_date, b.size_mb AS from_mb, \
         e.collected_date AS to_date, e.size_mb AS to_mb, \
         CAST(e.size_mb - b.size_mb AS BIGINT) AS change_mb \
     FROM database_size_stats e \
     JOIN database_size_stats b ON b.instance_id = e.instance_id \
         AND b.database_name = e.database_name AND NOT b.is_deleted \
     JOIN instances i ON i.id = e.instance_id AND i.deleted_at IS NULL \
     JOIN instance_databases d ON d.instance_id = e.instance_id \
         AND d.database_name = e.database_name AND d.is_active \
     WHERE NOT e.is_deleted AND {among} \
       AND e.collected_date = (SELECT max(l.collected_date) FROM database_size_stats l \
           WHERE l.instance_id = e.instance_id AND l.database_name = e.database_name \
             AND NOT l.is_deleted AND l.collected_date >= $1 AND l.collected_date <= $2) \
       AND b.collected_date = (SELECT min(f.collected_date) FROM database_size_stats f \
           WHERE f.instance_id = e.instance_id AND f.database_name = e.database_name \
             AND NOT f.is_deleted AND f.collected_date >= $1 AND f.collected_date <= $2) \
       AND b.collected_date < e.collected_date \
     ORDER BY change_mb DESC, i.name, b.database_name LIMIT $3";

impl Capacity<'_> {
    /// Up to `limit` databases of `filter` by growth from `from` to `to`,
    /// fastest first.
    pub async fn growth(
        &self,
        (from, to): (NaiveDate, NaiveDate),
        filter: FleetFilter,
        limit: i64,
    ) -> Result<Vec<Growth>> {
        let sql = GROWTH.replace(
            "{among}",
            &FleetFilter::sql("i.db_type", "e.instance_id", 4),
        );
        let mut bound = args![from, to, limit];
        bound.extend(filter.args());
        let rows = self.db.fetch_all(&sql, bound).await?;
        rows.iter().map(growth_from_row).collect()
    }
}

fn growth_from_row(row: &Row) -> Result<Growth> {
    let (from_mb, change_mb) = (row.int("from_mb")?, row.int("change_mb")?);
    #[allow(clippy::cast_precision_loss)]
    let percent =
        (from_mb > 0).then(|| ((change_mb as f64 / from_mb as f64) * 10_000.0).round() / 100.0);
    Ok(Growth {
        instance: row.get("instance")?,
        engine: row.get("db_type")?,
        database_name: row.get("database_name")?,
        from_date: row.get("from_date")?,
        from_mb,
        to_date: row.get("to_date")?,
        to_mb: row.int("to_mb")?,
        change_mb,
        change_percent: percent,
    })
}
