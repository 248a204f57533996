//! An instance's total of a day in `instance_size_stats`: the sum of the
//! day's database sizes that count (not `is_deleted`), how many there are,
//! and whether some database of the day has a gap (`partial`). Always
//! recomputed from the day's rows, never added to, so a rerun or a
//! redelivered job cannot count a database twice.

use chrono::{DateTime, NaiveDate, Utc};

use super::db::{args, Row, Tx};
use super::dialect::Dialect;
use super::statement::Statement;
use super::stats::{stat_columns, stat_rows, unmeasured_columns, unmeasured_rows, Stats};
use super::{Error, InstanceTotal, Result, StatRow, UnmeasuredRow};
use crate::domain::InstanceId;

/// An instance's totals, read and recomputed ([`super::Store::stats`]).
impl Stats<'_> {
    /// Recompute the instance total of `date` from that day's rows that
    /// count (not `is_deleted`), and whether the day is partial. `None` when
    /// there is no measured row for that day.
    pub async fn refresh_instance_total(
        &self,
        instance: InstanceId,
        date: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<Option<InstanceTotal>> {
        let mut tx = self.db.write().await?;
        let total = refresh_total(&mut tx, instance, date, now).await?;
        tx.commit().await?;
        Ok(total)
    }

    /// The instance's total of `date`, if it has one.
    pub async fn instance_total(
        &self,
        instance: InstanceId,
        date: NaiveDate,
    ) -> Result<Option<InstanceTotal>> {
        let row = self
            .db
            .fetch_optional(
                "SELECT total_size_mb, database_count, partial, unmeasured_count, collected_date \
                 FROM instance_size_stats \
                 WHERE instance_id = $1 AND collected_date = $2 AND NOT is_deleted",
                args![instance, date],
            )
            .await?;
        row.as_ref().map(total_from_row).transpose()
    }
}

/// [`Stats::refresh_instance_total`] inside a write transaction of the
/// caller's.
pub(super) async fn refresh_total(
    tx: &mut Tx,
    instance: InstanceId,
    date: NaiveDate,
    now: DateTime<Utc>,
) -> Result<Option<InstanceTotal>> {
    let sql = format!("WITH {STORED_DAY} {UPSERT_TOTAL}");
    let row = tx
        .fetch_optional(&sql, args![instance, date, now, Utc::now()])
        .await?;
    row.as_ref().map(total_from_row).transpose()
}

/// The day's total from its rows that count, and whether it is partial,
/// from the rows `today` and the count `gaps` (`$1` the instance, `$2` the
/// day, `$3` when it was collected, `$4` now). `WHERE true` keeps SQLite
/// from reading ON CONFLICT as a join clause.
const UPSERT_TOTAL: &str = "INSERT INTO instance_size_stats (instance_id, total_size_mb, \
        database_count, partial, unmeasured_count, collected_date, collected_at, created_at, \
        updated_at) \
    SELECT $1, sum(size_mb), count(*), (SELECT n FROM gaps) > 0, \
        (SELECT n FROM gaps), $2, $3, $4, $4 FROM today WHERE true \
    HAVING count(*) > 0 \
    ON CONFLICT (instance_id, collected_date) WHERE is_deleted = FALSE DO UPDATE SET \
        total_size_mb = excluded.total_size_mb, \
        database_count = excluded.database_count, \
        partial = excluded.partial, \
        unmeasured_count = excluded.unmeasured_count, \
        collected_at = excluded.collected_at, updated_at = $4 \
    RETURNING total_size_mb, database_count, partial, unmeasured_count, collected_date";

/// The day's sizes and gaps that count, as stored.
const STORED_DAY: &str = "today AS ( \
        SELECT size_mb FROM database_size_stats \
        WHERE instance_id = $1 AND collected_date = $2 AND NOT is_deleted), \
    gaps AS ( \
        SELECT count(*) AS n FROM unmeasured_databases \
        WHERE instance_id = $1 AND collected_date = $2 AND NOT is_deleted)";

/// [`refresh_total`] as it will be once `stats::day_writes` ran, for a
/// statement that runs them as its parts (`one_trip.rs`) and so does not
/// see their rows: the stored rows of the day that those writes leave
/// counting, with the measured rows (`$5`) and the gaps (`$6`) they add.
/// A measured database replaces its size and clears its gap; a new gap
/// counts unless the day has a size for it. PostgreSQL only. The two agree
/// on every day whose sizes and gaps name different databases, as the
/// store keeps them; a day with both for one database (only a race of two
/// runs could leave one) may count its gap differently.
pub(super) fn total_after(
    instance: InstanceId,
    date: NaiveDate,
    now: DateTime<Utc>,
    (measured, unmeasured): (&[StatRow], &[UnmeasuredRow]),
) -> Statement {
    let sizes = Dialect::Postgres.rows(5, &stat_columns());
    let gaps = Dialect::Postgres.rows(6, &unmeasured_columns());
    let sql = format!(
        "WITH today AS ( \
            SELECT size_mb FROM database_size_stats \
            WHERE instance_id = $1 AND collected_date = $2 AND NOT is_deleted \
              AND database_name NOT IN (SELECT t.database_name FROM {sizes}) \
            UNION ALL SELECT t.size_mb FROM {sizes}), \
        gaps AS ( \
            SELECT count(*) AS n FROM ( \
                SELECT database_name FROM unmeasured_databases \
                WHERE instance_id = $1 AND collected_date = $2 AND NOT is_deleted \
                  AND database_name NOT IN (SELECT t.database_name FROM {sizes}) \
                  AND database_name NOT IN (SELECT t.database_name FROM {gaps}) \
                UNION ALL SELECT t.database_name FROM {gaps} WHERE NOT EXISTS ( \
                    SELECT 1 FROM database_size_stats s \
                    WHERE s.instance_id = $1 AND s.collected_date = $2 \
                      AND s.database_name = t.database_name AND NOT s.is_deleted)) AS g) \
        {UPSERT_TOTAL}"
    );
    let rows = (stat_rows(measured), unmeasured_rows(unmeasured));
    let args = args![instance, date, now, Utc::now(), rows.0, rows.1];
    Statement { sql, args }
}

pub(super) fn total_from_row(row: &Row) -> Result<InstanceTotal> {
    let count = row.int("database_count")?;
    let gaps = row.int("unmeasured_count")?;
    let out_of_range = |what: &str, n: i64| Error::Conflict(format!("{what} {n} out of range"));
    Ok(InstanceTotal {
        total_size_mb: row.int("total_size_mb")?,
        database_count: i32::try_from(count).map_err(|_| out_of_range("database count", count))?,
        partial: row.get("partial")?,
        unmeasured_count: i32::try_from(gaps)
            .map_err(|_| out_of_range("unmeasured count", gaps))?,
        collected_date: row.get("collected_date")?,
    })
}
