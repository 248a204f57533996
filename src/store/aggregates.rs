//! Period aggregates of the size history (`aggregate` jobs): the days they
//! are computed from, their filing, and reading them back.
//!
//! Contract: a run files, per period, the rows of its instance whole: the
//! period's earlier rows of that instance are deleted and the new ones
//! inserted, in the job's filing transaction, so re-running a period
//! replaces its values (a late day corrects them) and never duplicates a
//! row; the keys (instance, database, period type, period start) and
//! (instance, period type, period start) are unique. The days read are the
//! rows that count (not `is_deleted`), of every database of the instance,
//! active or not: a database dropped since still had its size then.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::{json, Value};

use super::db::{args, Db, Row, Tx};
use super::dialect::{Column, Kind};
use super::{Error, Result};
use crate::aggregate::{Aggregate, History, PeriodSet, PeriodType, Sample, Trend};
use crate::domain::InstanceId;

/// A stored aggregate: a database's (`database` set) or the instance's.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredAggregate {
    /// `None` for the instance's own aggregate.
    pub database: Option<String>,
    pub period_type: PeriodType,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    #[serde(flatten)]
    pub figures: Aggregate,
    pub calculated_at: DateTime<Utc>,
}

/// Which stored aggregates to read.
#[derive(Debug, Clone, Default)]
pub struct AggregateQuery<'q> {
    /// Only this database's (the instance's own are left out); else the
    /// instance's and every database's.
    pub database: Option<&'q str>,
    pub period: Option<PeriodType>,
    /// Periods starting on or after this day.
    pub since: Option<NaiveDate>,
}

/// The aggregates of a store ([`super::Store::aggregates`]).
pub struct Aggregates<'a> {
    pub(super) db: &'a Db,
}

const FIGURES: &str = "period_type, period_start, period_end, avg_size_mb, max_size_mb, \
     min_size_mb, sample_count, first_date, last_date, size_change_mb, size_change_percent, \
     growth_rate_mb_per_day, trend, calculated_at";

impl Aggregates<'_> {
    /// The days of `instance` from `from` to `to`, both included.
    pub async fn history(
        &self,
        instance: InstanceId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<History> {
        let window = args![instance, from, to];
        let rows = self
            .db
            .fetch_all(
                "SELECT database_name, collected_date, size_mb FROM database_size_stats \
                 WHERE instance_id = $1 AND collected_date >= $2 AND collected_date <= $3 \
                   AND NOT is_deleted",
                window.clone(),
            )
            .await?;
        let mut history = History::default();
        for row in &rows {
            let days: &mut Vec<Sample> = history
                .databases
                .entry(row.get("database_name")?)
                .or_default();
            days.push(sample(row, "size_mb")?);
        }
        let totals = self
            .db
            .fetch_all(
                "SELECT collected_date, total_size_mb FROM instance_size_stats \
                 WHERE instance_id = $1 AND collected_date >= $2 AND collected_date <= $3 \
                   AND NOT is_deleted",
                window,
            )
            .await?;
        history.totals = totals
            .iter()
            .map(|r| sample(r, "total_size_mb"))
            .collect::<Result<_>>()?;
        Ok(history)
    }

    /// The stored aggregates of `instance` that `query` asks for, by period
    /// type, period start, then the instance's before its databases'.
    pub async fn list(
        &self,
        instance: InstanceId,
        query: &AggregateQuery<'_>,
    ) -> Result<Vec<StoredAggregate>> {
        let since = query
            .since
            .unwrap_or(NaiveDate::from_ymd_opt(1, 1, 1).unwrap_or_default());
        let period = query.period.map(PeriodType::as_str);
        let sql = format!(
            "SELECT NULL AS database_name, {FIGURES} FROM instance_size_aggregations \
             WHERE instance_id = $1 AND ($2 IS NULL OR period_type = $2) \
               AND period_start >= $3 AND $4 IS NULL \
             UNION ALL \
             SELECT database_name, {FIGURES} FROM database_size_aggregations \
             WHERE instance_id = $1 AND ($2 IS NULL OR period_type = $2) \
               AND period_start >= $3 AND ($4 IS NULL OR database_name = $4)"
        );
        let rows = self
            .db
            .fetch_all(&sql, args![instance, period, since, query.database])
            .await?;
        let mut found = rows.iter().map(stored).collect::<Result<Vec<_>>>()?;
        found.sort_by(|a, b| {
            (a.period_type, a.period_start, &a.database).cmp(&(
                b.period_type,
                b.period_start,
                &b.database,
            ))
        });
        Ok(found)
    }
}

/// The two tables of aggregates.
#[derive(Clone, Copy)]
enum Scope {
    /// `database_size_aggregations`, keyed by database too.
    Databases,
    /// `instance_size_aggregations`.
    Instance,
}

impl Scope {
    fn table(self) -> &'static str {
        match self {
            Scope::Databases => "database_size_aggregations",
            Scope::Instance => "instance_size_aggregations",
        }
    }

    /// The key column after `instance_id`, with its value from the rows.
    fn key(self) -> (&'static str, &'static str) {
        match self {
            Scope::Databases => ("database_name, ", "t.database_name, "),
            Scope::Instance => ("", ""),
        }
    }
}

/// File `sets` for `instance` inside the caller's transaction: each
/// period's rows of the instance replaced whole.
pub(super) async fn save(
    tx: &mut Tx,
    instance: InstanceId,
    now: DateTime<Utc>,
    sets: &[PeriodSet],
) -> Result<()> {
    for set in sets {
        let w = set.window;
        let key = args![instance, w.period.as_str(), w.start];
        for scope in [Scope::Databases, Scope::Instance] {
            let delete = format!(
                "DELETE FROM {} \
                 WHERE instance_id = $1 AND period_type = $2 AND period_start = $3",
                scope.table()
            );
            tx.execute(&delete, key.clone()).await?;
        }
        let databases: Vec<(&str, &Aggregate)> =
            set.databases.iter().map(|(n, a)| (n.as_str(), a)).collect();
        insert(tx, (instance, now), set, Scope::Databases, &databases).await?;
        if let Some(own) = &set.instance {
            insert(tx, (instance, now), set, Scope::Instance, &[("", own)]).await?;
        }
    }
    Ok(())
}

/// Insert `rows` of one period into `scope`'s table, in one statement.
async fn insert(
    tx: &mut Tx,
    (instance, now): (InstanceId, DateTime<Utc>),
    set: &PeriodSet,
    scope: Scope,
    rows: &[(&str, &Aggregate)],
) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let (key, source) = scope.key();
    let sql = format!(
        "INSERT INTO {table} (instance_id, {key}{FIGURES}) \
         SELECT $1, {source}$2, $3, $4, t.avg_size_mb, t.max_size_mb, t.min_size_mb, \
             t.sample_count, t.first_date, t.last_date, t.size_change_mb, \
             t.size_change_percent, t.growth_rate_mb_per_day, t.trend, $5 FROM {bulk}",
        table = scope.table(),
        bulk = tx.dialect().rows(6, &COLUMNS),
    );
    let w = set.window;
    let json: Value = rows.iter().map(|(db, a)| row_json(db, a)).collect();
    tx.execute(
        &sql,
        args![instance, w.period.as_str(), w.start, w.end, now, json],
    )
    .await?;
    Ok(())
}

const fn column(name: &'static str, kind: Kind) -> Column {
    Column { name, kind }
}

const COLUMNS: [Column; 11] = [
    column("database_name", Kind::Text),
    column("avg_size_mb", Kind::Int),
    column("max_size_mb", Kind::Int),
    column("min_size_mb", Kind::Int),
    column("sample_count", Kind::Int),
    column("first_date", Kind::Date),
    column("last_date", Kind::Date),
    column("size_change_mb", Kind::Int),
    column("size_change_percent", Kind::Float),
    column("growth_rate_mb_per_day", Kind::Float),
    column("trend", Kind::Text),
];

fn row_json(database: &str, a: &Aggregate) -> Value {
    json!({
        "database_name": database,
        "avg_size_mb": a.avg_size_mb,
        "max_size_mb": a.max_size_mb,
        "min_size_mb": a.min_size_mb,
        "sample_count": a.sample_count,
        "first_date": a.first_date.to_string(),
        "last_date": a.last_date.to_string(),
        "size_change_mb": a.size_change_mb,
        "size_change_percent": a.size_change_percent,
        "growth_rate_mb_per_day": a.growth_rate_mb_per_day,
        "trend": a.trend.as_str(),
    })
}

fn sample(row: &Row, size: &str) -> Result<Sample> {
    Ok(Sample {
        day: row.get("collected_date")?,
        size_mb: row.int(size)?,
    })
}

fn stored(row: &Row) -> Result<StoredAggregate> {
    let unknown = |what: &str, value: String| Error::Conflict(format!("unknown {what} `{value}`"));
    let period: String = row.get("period_type")?;
    let trend: String = row.get("trend")?;
    Ok(StoredAggregate {
        database: row.get("database_name")?,
        period_type: PeriodType::parse(&period).ok_or_else(|| unknown("period", period))?,
        period_start: row.get("period_start")?,
        period_end: row.get("period_end")?,
        figures: Aggregate {
            avg_size_mb: row.int("avg_size_mb")?,
            max_size_mb: row.int("max_size_mb")?,
            min_size_mb: row.int("min_size_mb")?,
            sample_count: row.int("sample_count")?,
            first_date: row.get("first_date")?,
            last_date: row.get("last_date")?,
            size_change_mb: row.opt_int("size_change_mb")?,
            size_change_percent: row.get("size_change_percent")?,
            growth_rate_mb_per_day: row.get("growth_rate_mb_per_day")?,
            trend: Trend::parse(&trend).ok_or_else(|| unknown("trend", trend))?,
        },
        calculated_at: row.get("calculated_at")?,
    })
}
