//! SQLite, the embedded control store: how values are bound and read, the
//! pool, write transactions and the migration tree.
//!
//! * Timestamps are written through [`ts`] only: RFC 3339 in UTC with exactly
//!   six fractional digits (PostgreSQL keeps microseconds, truncated), so text
//!   comparison is time comparison. Never bind a `DateTime` directly: sqlx
//!   writes a variable number of fractional digits.
//! * UUIDs are hyphenated lower-case TEXT, which sorts as PostgreSQL sorts
//!   `uuid`; JSON is TEXT.
//! * Concurrency: SQLite has one writer. Every write transaction is opened
//!   with `BEGIN IMMEDIATE`, which takes the write lock up front (waiting up
//!   to the busy timeout), so two aggregators folding the same batch
//!   serialize and each reads the other's committed counters: the role of
//!   `FOR UPDATE` on PostgreSQL.
//! * The writes of one process (its write transactions and its single
//!   write statements, [`execute`] and [`write_returning`]) take turns
//!   before that, on one connection kept for them ([`Local`]): they queue
//!   on the process's own lock instead of meeting each other in SQLite's
//!   busy handler, which polls with sleeps. Writes of other processes on
//!   the same file still wait there, up to the busy timeout.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use serde_json::Value;
use sqlx::migrate::Migrator;
use sqlx::query::Query;
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, Sqlite, Transaction};
use uuid::fmt::Hyphenated;
use uuid::Uuid;

use super::local::{Local, Turn};
use crate::store::db::Arg;
use crate::store::{Error, Result};

/// How long a write waits for SQLite's write lock: in SQLite's busy handler
/// for another process's write, for its turn ([`Local::turn`]) for this
/// one's.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Open (and create if missing) the database file named by a `sqlite:` URL,
/// creating its directory too: its pool, and what this process shares over
/// it, the connection its writes go to among them (made from the same
/// options, so an in-memory database is the same one).
pub(crate) async fn connect(
    url: &str,
    max_connections: u32,
) -> Result<(SqlitePool, Local), sqlx::Error> {
    let options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(BUSY_TIMEOUT)
        .foreign_keys(true);
    create_parent_dir(url, options.get_filename())?;
    // Not pinged on the way out of the pool: the file cannot go away as a
    // server's socket can, and a ping is a call to the connection's thread
    // and back before every statement. (sqlx still pings one on its way
    // back, which also waits for a dropped transaction's rollback.)
    let pooled = |max_connections| {
        SqlitePoolOptions::new()
            .test_before_acquire(false)
            .max_connections(max_connections)
            .acquire_timeout(BUSY_TIMEOUT)
    };
    let pool = pooled(max_connections)
        .connect_with(options.clone())
        .await?;
    let writes = pooled(1).connect_with(options).await?;
    Ok((pool, Local::new(writes)))
}

/// `sqlite:data/x.sqlite` needs `data/`; in-memory databases need nothing.
fn create_parent_dir(url: &str, file: &std::path::Path) -> Result<(), sqlx::Error> {
    let name = file.to_string_lossy();
    if url.contains("mode=memory") || name == ":memory:" || name.starts_with("file:") {
        return Ok(());
    }
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !dir.exists() => {
            std::fs::create_dir_all(dir).map_err(sqlx::Error::Io)
        }
        _ => Ok(()),
    }
}

/// Every migration of this build, compiled in.
pub(crate) static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

pub(crate) async fn migrate(pool: &SqlitePool) -> Result<()> {
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// A write transaction holding SQLite's write lock from its first
/// statement, in this process's turn ([`Local::turn`]).
pub(crate) async fn begin_write(local: &Local) -> Result<(Transaction<'static, Sqlite>, Turn)> {
    let turn = local.turn(BUSY_TIMEOUT).await?;
    Ok((local.writes().begin_with("BEGIN IMMEDIATE").await?, turn))
}

/// One write statement on its own, in this process's turn; the rows it
/// changed.
pub(crate) async fn execute(local: &Local, sql: &str, args: &[Arg]) -> Result<u64> {
    let _turn = local.turn(BUSY_TIMEOUT).await?;
    Ok(query(sql, args)
        .execute(local.writes())
        .await?
        .rows_affected())
}

/// One write statement on its own that returns rows (`… RETURNING`), in
/// this process's turn, as [`execute`].
pub(crate) async fn write_returning(
    local: &Local,
    sql: &str,
    args: &[Arg],
) -> Result<Vec<SqliteRow>> {
    let _turn = local.turn(BUSY_TIMEOUT).await?;
    Ok(query(sql, args).fetch_all(local.writes()).await?)
}

/// The one timestamp format of this store (see the module documentation).
pub(crate) fn ts(at: DateTime<Utc>) -> String {
    at.trunc_subsecs(6)
        .format("%Y-%m-%dT%H:%M:%S%.6f+00:00")
        .to_string()
}

pub(crate) fn query<'q>(sql: &'q str, args: &'q [Arg]) -> Query<'q, Sqlite, SqliteArguments<'q>> {
    args.iter().fold(sqlx::query(sql), |q, arg| match arg {
        Arg::I64(v) => q.bind(*v),
        Arg::OptI64(v) => q.bind(*v),
        Arg::Text(v) => q.bind(v.as_str()),
        Arg::OptText(v) => q.bind(v.as_deref()),
        Arg::Bool(v) => q.bind(*v),
        Arg::OptBool(v) => q.bind(*v),
        Arg::Uuid(v) => q.bind(v.hyphenated()),
        Arg::Time(v) => q.bind(ts(*v)),
        Arg::OptTime(v) => q.bind(v.map(ts)),
        Arg::Date(v) => q.bind(*v),
        Arg::OptDate(v) => q.bind(*v),
        Arg::Bytes(v) => q.bind(v.as_slice()),
        Arg::Json(v) => q.bind(v.to_string()),
        Arg::OptJson(v) => q.bind(v.as_ref().map(Value::to_string)),
    })
}

pub(crate) fn opt_int(row: &SqliteRow, column: &str) -> Result<Option<i64>> {
    Ok(row.try_get(column)?)
}

pub(crate) fn uuid(row: &SqliteRow, column: &str) -> Result<Uuid> {
    Ok(row.try_get::<Hyphenated, _>(column)?.into_uuid())
}

pub(crate) fn json(row: &SqliteRow, column: &str) -> Result<Option<Value>> {
    let text: Option<String> = row.try_get(column)?;
    text.map(|text| {
        serde_json::from_str(&text).map_err(|e| {
            Error::Database(sqlx::Error::ColumnDecode {
                index: column.to_string(),
                source: Box::new(e),
            })
        })
    })
    .transpose()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn timestamps_have_a_fixed_width() {
        let whole = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        assert_eq!(ts(whole), "2026-01-02T03:04:05.000000+00:00");
        let nanos = whole + chrono::Duration::nanoseconds(123_456_789);
        assert_eq!(ts(nanos), "2026-01-02T03:04:05.123456+00:00", "truncated");
    }
}
