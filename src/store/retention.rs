//! Retention: old history deleted in bounded steps, and on PostgreSQL the
//! monthly partitions of the daily size tables kept ahead and dropped when
//! they expire.
//!
//! Contract: [`Store::maintain`] is the schema owner's (`dbfleet migrate
//! --maintain`): creating and dropping partitions are schema changes. Every delete is a statement of at
//! most [`CHUNK`] rows (jobs) or [`BATCH_CHUNK`] batches, repeated until
//! nothing is left, so a first run over years of history never holds one
//! huge transaction or lock. A batch still running is never deleted, nor
//! are the aggregates (they outlive the days they sum).

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use serde::Serialize;

use super::db::{args, Arg, Db};
use super::dialect::Dialect;
use super::{Result, Store};
use crate::config::RetentionSettings;

/// Rows one delete statement removes at most.
const CHUNK: i64 = 5000;
/// Batches one delete statement removes at most (their jobs go first).
const BATCH_CHUNK: i64 = 200;
/// The partitioned daily tables (PostgreSQL).
const PARTITIONED: [&str; 2] = ["database_size_stats", "instance_size_stats"];

/// What a maintenance pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Maintained {
    /// Partitions created, by table name.
    pub partitions_created: Vec<String>,
    /// Partitions dropped, by table name: whole months past retention.
    pub partitions_dropped: Vec<String>,
    /// Rows deleted, per table, in the order of the pass.
    pub deleted: Vec<Deleted>,
}

/// Rows of one table deleted by a pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Deleted {
    pub table: String,
    pub rows: u64,
}

impl Maintained {
    fn deleted(&mut self, table: impl Into<String>, rows: u64) {
        self.deleted.push(Deleted {
            table: table.into(),
            rows,
        });
    }
}

impl Store {
    /// Apply `retention` as of `today` (the configured zone's day).
    pub async fn maintain(
        &self,
        retention: &RetentionSettings,
        today: NaiveDate,
    ) -> Result<Maintained> {
        let mut done = Maintained::default();
        if self.db.dialect() == Dialect::Postgres {
            partitions_ahead(&self.db, today, retention.months_ahead, &mut done).await?;
        }
        let cutoff = |days: Option<u32>| days.map(|d| today - chrono::Days::new(u64::from(d)));
        if let Some(before) = cutoff(retention.daily_stats) {
            daily_stats(&self.db, before, &mut done).await?;
        }
        if let Some(before) = cutoff(retention.table_snapshots) {
            let n = chunked(&self.db, TABLE_SNAPSHOTS, before).await?;
            done.deleted("table_sizes", n);
        }
        if let Some(before) = cutoff(retention.batches) {
            batches(&self.db, start_of(before), &mut done).await?;
        }
        if let Some(before) = cutoff(retention.dead_letters) {
            let sql = "DELETE FROM dead_letters WHERE id IN \
                       (SELECT id FROM dead_letters WHERE dead_at < $1 LIMIT $2)";
            let n = repeat(&self.db, sql, start_of(before)).await?;
            done.deleted("dead_letters", n);
        }
        if let Some(before) = cutoff(retention.alert_records) {
            alert_records(&self.db, start_of(before), &mut done).await?;
        }
        if let Some(before) = cutoff(retention.sync_history) {
            // A run still `running` is kept: it may be a long one.
            let sql = "DELETE FROM sync_runs WHERE (job_id, target, table_name) IN \
                       (SELECT job_id, target, table_name FROM sync_runs \
                        WHERE ended_at < $1 LIMIT $2)";
            let n = repeat(&self.db, sql, start_of(before)).await?;
            done.deleted("sync_runs", n);
        }
        Ok(done)
    }
}

/// Notifications sent before `before`, and alerts resolved before it, or
/// of a rule that fires once per subject (a batch's), with nothing left
/// to send. A standing condition's firing alert is kept however old:
/// deleting it would make the condition alert again. A batch's alert never
/// resolves, and once old its batch is behind the evaluation's mark, so
/// nothing reads it again.
async fn alert_records(db: &Db, before: DateTime<Utc>, done: &mut Maintained) -> Result<()> {
    let sends = "DELETE FROM alert_sends WHERE id IN \
                 (SELECT id FROM alert_sends WHERE sent_at < $1 LIMIT $2)";
    let n = repeat(db, sends, before).await?;
    done.deleted("alert_sends", n);
    let states = "DELETE FROM alert_states WHERE (rule, subject) IN \
                  (SELECT rule, subject FROM alert_states \
                   WHERE (state = 'resolved' OR fires_once = 1) AND to_send = 0 \
                     AND since < $1 LIMIT $2)";
    let n = repeat(db, states, before).await?;
    done.deleted("alert_states", n);
    Ok(())
}

const TABLE_SNAPSHOTS: &str = "DELETE FROM table_sizes \
    WHERE (instance_id, database_name, collected_date, table_name) IN \
        (SELECT instance_id, database_name, collected_date, table_name FROM table_sizes \
         WHERE collected_date < $1 LIMIT $2)";

/// Midnight UTC starting `day`: the cutoff of the tables kept by instant.
fn start_of(day: NaiveDate) -> DateTime<Utc> {
    day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
}

/// Run `sql` (a delete of at most `$2` rows before `$1`) until it deletes
/// fewer; the rows deleted.
async fn repeat(db: &Db, sql: &str, before: impl Into<Arg>) -> Result<u64> {
    let before: Arg = before.into();
    let mut total = 0;
    loop {
        let n = db
            .execute(sql, vec![before.clone(), Arg::from(CHUNK)])
            .await?;
        total += n;
        if n < CHUNK.unsigned_abs() {
            return Ok(total);
        }
    }
}

async fn chunked(db: &Db, sql: &str, before: NaiveDate) -> Result<u64> {
    repeat(db, sql, before).await
}

/// The daily sizes before `before`: on PostgreSQL whole months of
/// partitions dropped (a month goes when its last day is past), on SQLite
/// rows deleted; the unmeasured databases of those days on both.
async fn daily_stats(db: &Db, before: NaiveDate, done: &mut Maintained) -> Result<()> {
    if db.dialect() == Dialect::Postgres {
        drop_expired(db, before, done).await?;
    } else {
        for table in PARTITIONED {
            let sql = format!(
                "DELETE FROM {table} WHERE id IN \
                 (SELECT id FROM {table} WHERE collected_date < $1 LIMIT $2)"
            );
            let n = repeat(db, &sql, before).await?;
            done.deleted(table.to_string(), n);
        }
    }
    let sql = "DELETE FROM unmeasured_databases WHERE id IN \
               (SELECT id FROM unmeasured_databases WHERE collected_date < $1 LIMIT $2)";
    let n = repeat(db, sql, before).await?;
    done.deleted("unmeasured_databases", n);
    Ok(())
}

/// Ended batches before `before`: their jobs first, in chunks, then the
/// batches (with their idempotency keys and schedule runs).
async fn batches(db: &Db, before: DateTime<Utc>, done: &mut Maintained) -> Result<()> {
    let ended = "SELECT id FROM batches WHERE status <> 'running' AND finished_at < $1";
    let jobs = format!(
        "DELETE FROM batch_jobs WHERE job_id IN (SELECT job_id FROM batch_jobs \
         WHERE batch_id IN ({ended}) LIMIT $2)"
    );
    let n = repeat(db, &jobs, before).await?;
    done.deleted("batch_jobs", n);
    let keys = format!("DELETE FROM api_idempotency_keys WHERE batch_id IN ({ended})");
    db.execute(&keys, args![before]).await?;
    // Each schedule's latest run stays: it is what says its last slot ran.
    let runs = format!(
        "DELETE FROM schedule_runs WHERE batch_id IN ({ended}) AND slot < \
             (SELECT max(l.slot) FROM schedule_runs l WHERE l.schedule = schedule_runs.schedule)"
    );
    db.execute(&runs, args![before]).await?;
    let sql = format!("DELETE FROM batches WHERE id IN ({ended} LIMIT $2)");
    let mut total = 0;
    loop {
        let n = db.execute(&sql, args![before, BATCH_CHUNK]).await?;
        total += n;
        if n < BATCH_CHUNK.unsigned_abs() {
            break;
        }
    }
    done.deleted("batches", total);
    Ok(())
}

/// Make the monthly partitions from this month to `ahead` months on, and
/// those of the months the default partitions hold rows of.
async fn partitions_ahead(
    db: &Db,
    today: NaiveDate,
    ahead: u32,
    done: &mut Maintained,
) -> Result<()> {
    let this_month = today.with_day(1).unwrap_or(today);
    for table in PARTITIONED {
        let held = format!(
            "SELECT DISTINCT date_trunc('month', collected_date)::date AS month FROM {table}_default"
        );
        let mut months: Vec<NaiveDate> = (0..=ahead)
            .filter_map(|n| this_month.checked_add_months(Months::new(n)))
            .collect();
        for row in db.fetch_all(&held, args![]).await? {
            months.push(row.get("month")?);
        }
        let existing = partitions(db, table).await?;
        for month in months {
            let name = format!("{table}_p{}", month.format("%Y%m"));
            if existing.contains(&name) || done.partitions_created.contains(&name) {
                continue;
            }
            db.execute(
                "SELECT dbfleet_partition_daily($1, $2)",
                args![table, month],
            )
            .await?;
            done.partitions_created.push(name);
        }
    }
    Ok(())
}

/// Drop the monthly partitions whose every day is before `before`, and
/// delete the default partitions' rows before it.
async fn drop_expired(db: &Db, before: NaiveDate, done: &mut Maintained) -> Result<()> {
    for table in PARTITIONED {
        for name in partitions(db, table).await? {
            let Some(month) = month_of(&name, table) else {
                continue;
            };
            let next = month.checked_add_months(Months::new(1)).unwrap_or(month);
            if next <= before {
                db.execute(&format!("DROP TABLE \"{name}\""), args![])
                    .await?;
                done.partitions_dropped.push(name);
            }
        }
        let sql = format!("DELETE FROM {table}_default WHERE collected_date < $1");
        let n = db.execute(&sql, args![before]).await?;
        done.deleted(format!("{table}_default"), n);
    }
    Ok(())
}

/// The monthly partitions of `table`, by name.
async fn partitions(db: &Db, table: &str) -> Result<Vec<String>> {
    let rows = db
        .fetch_all(
            "SELECT c.relname AS name FROM pg_inherits i \
             JOIN pg_class c ON c.oid = i.inhrelid \
             WHERE i.inhparent = to_regclass($1) ORDER BY c.relname",
            args![table],
        )
        .await?;
    let names: Result<Vec<String>> = rows.iter().map(|r| r.get("name")).collect();
    Ok(names?
        .into_iter()
        .filter(|n| month_of(n, table).is_some())
        .collect())
}

/// The month of partition `name` of `table` (`…_p202611`).
fn month_of(name: &str, table: &str) -> Option<NaiveDate> {
    let suffix = name.strip_prefix(table)?.strip_prefix("_p")?;
    NaiveDate::parse_from_str(&format!("{suffix}01"), "%Y%m%d").ok()
}
