//! The backend-neutral executor the concept modules write their SQL against.
//!
//! [`Db`] is a pool of either database, [`Tx`] a write transaction on one,
//! [`Arg`] a bind value and [`Row`] a result row with typed getters by column
//! name. The concept modules (`instances.rs`, `batches.rs`, …) hold one SQL
//! string per statement, bind `Arg`s and read `Row`s; no `match` on the
//! backend happens outside this file and `dialect/`. Encoding of each value
//! per backend is in `dialect/{postgres,sqlite}.rs`.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use sqlx::postgres::{PgListener, PgPool, PgRow, Postgres};
use sqlx::sqlite::{Sqlite, SqlitePool, SqliteRow};
use sqlx::{Decode, Row as _, Transaction, Type};
use tokio::sync::watch;
use uuid::Uuid;

use super::connect;
use super::dialect::local::{Local, Turn};
use super::dialect::{postgres as pg, sqlite as lite, Dialect};
use super::{Error, Result};
use crate::domain::{BatchId, InstanceId, JobId};
use crate::endpoint;

/// One bind parameter, encoded per backend by the dialect.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Arg {
    I64(i64),
    OptI64(Option<i64>),
    Text(String),
    OptText(Option<String>),
    Bool(bool),
    OptBool(Option<bool>),
    Uuid(Uuid),
    Time(DateTime<Utc>),
    OptTime(Option<DateTime<Utc>>),
    Date(NaiveDate),
    OptDate(Option<NaiveDate>),
    Bytes(Vec<u8>),
    Json(Value),
    OptJson(Option<Value>),
}

macro_rules! arg_from {
    ($($t:ty => |$v:ident| $e:expr;)*) => {
        $(impl From<$t> for Arg {
            fn from($v: $t) -> Self {
                $e
            }
        })*
    };
}

arg_from! {
    i64 => |v| Arg::I64(v);
    u32 => |v| Arg::I64(i64::from(v));
    Option<i64> => |v| Arg::OptI64(v);
    &str => |v| Arg::Text(v.to_string());
    &String => |v| Arg::Text(v.clone());
    String => |v| Arg::Text(v);
    Option<&str> => |v| Arg::OptText(v.map(str::to_string));
    Option<String> => |v| Arg::OptText(v);
    bool => |v| Arg::Bool(v);
    Option<bool> => |v| Arg::OptBool(v);
    Uuid => |v| Arg::Uuid(v);
    DateTime<Utc> => |v| Arg::Time(v);
    Option<DateTime<Utc>> => |v| Arg::OptTime(v);
    NaiveDate => |v| Arg::Date(v);
    Option<NaiveDate> => |v| Arg::OptDate(v);
    &[u8] => |v| Arg::Bytes(v.to_vec());
    Value => |v| Arg::Json(v);
    Option<Value> => |v| Arg::OptJson(v);
    InstanceId => |v| Arg::I64(v.0);
    Option<InstanceId> => |v| Arg::OptI64(v.map(|id| id.0));
    JobId => |v| Arg::Uuid(v.0);
    BatchId => |v| Arg::Uuid(v.0);
}

/// The bind values of one statement, in `$1, $2, …` order.
macro_rules! args {
    ($($arg:expr),* $(,)?) => {
        vec![$($crate::store::db::Arg::from($arg)),*]
    };
}
pub(crate) use args;

/// A pool of either database.
#[derive(Debug, Clone)]
pub(crate) enum Db {
    Postgres(PgPool),
    Sqlite(SqlitePool, Local),
}

impl Db {
    /// `postgres://` and `postgresql://` URLs open PostgreSQL, `sqlite:` ones
    /// SQLite; anything else is [`Error::UnsupportedUrl`].
    /// A failure names the store by its redacted URL ([`Error::Connect`]).
    pub(crate) async fn connect(url: &str, max_connections: u32) -> Result<Self> {
        let opened = if connect::is_postgres(url) {
            pg::connect(url, max_connections).await.map(Db::Postgres)
        } else if url.starts_with("sqlite:") {
            lite::connect(url, max_connections)
                .await
                .map(|(pool, local)| Db::Sqlite(pool, local))
        } else {
            return Err(Error::UnsupportedUrl);
        };
        opened.map_err(|cause| Error::Connect {
            endpoint: endpoint::redact(url),
            cause,
        })
    }

    pub(crate) async fn migrate(&self) -> Result<()> {
        match self {
            Db::Postgres(pool) => pg::migrate(pool).await,
            Db::Sqlite(pool, _) => lite::migrate(pool).await,
        }
    }

    pub(crate) fn dialect(&self) -> Dialect {
        match self {
            Db::Postgres(_) => Dialect::Postgres,
            Db::Sqlite(..) => Dialect::Sqlite,
        }
    }

    /// The newest migration this build carries for this database.
    pub(crate) fn latest_migration(&self) -> i64 {
        let migrator = match self {
            Db::Postgres(_) => &pg::MIGRATOR,
            Db::Sqlite(..) => &lite::MIGRATOR,
        };
        migrator.iter().map(|m| m.version).max().unwrap_or(0)
    }

    /// Begin a write transaction (see [`Tx`]).
    pub(crate) async fn write(&self) -> Result<Tx> {
        Ok(match self {
            Db::Postgres(pool) => Tx::Postgres(pg::begin_write(pool).await?),
            Db::Sqlite(_, local) => {
                let (tx, turn) = lite::begin_write(local).await?;
                Tx::Sqlite(tx, turn)
            }
        })
    }

    /// Begin a write transaction whose commit does not wait for its flush
    /// to disk: on PostgreSQL `synchronous_commit = off` for it alone, so it
    /// is visible to every session at once and durable a moment later (three
    /// `wal_writer_delay`s at most); a crash in between loses it whole, and
    /// any later flushed commit makes it durable too (the log is in order).
    /// SQLite's store already commits this way (`synchronous = NORMAL`).
    /// Only for writes whose loss the design absorbs.
    pub(crate) async fn write_unflushed(&self) -> Result<Tx> {
        Ok(match self {
            Db::Postgres(pool) => Tx::Postgres(pg::begin_unflushed(pool).await?),
            Db::Sqlite(_, local) => {
                let (tx, turn) = lite::begin_write(local).await?;
                Tx::Sqlite(tx, turn)
            }
        })
    }

    /// Listen on `channel` on a connection of its own, outside the pool (a
    /// listener holds its connection for as long as it lives); `None` on
    /// SQLite, which has no notifications ([`Db::batch_moves`] instead).
    pub(crate) async fn listen(&self, channel: &str) -> Result<Option<PgListener>> {
        match self {
            Db::Postgres(pool) => Ok(Some(pg::listen(pool, channel).await?)),
            Db::Sqlite(..) => Ok(None),
        }
    }

    /// On SQLite, word of every batch this process moves from now on
    /// ([`Tx::moves_batch`]); `None` on PostgreSQL, which notifies.
    pub(crate) fn batch_moves(&self) -> Option<watch::Receiver<()>> {
        match self {
            Db::Postgres(_) => None,
            Db::Sqlite(_, local) => Some(local.batch_moves()),
        }
    }

    /// Run one write statement on its own; returns the rows it changed.
    /// On SQLite it is run in this process's turn to write, on its write
    /// connection, like a write transaction.
    pub(crate) async fn execute(&self, sql: &str, args: Vec<Arg>) -> Result<u64> {
        Ok(match self {
            Db::Postgres(pool) => pg::query(sql, &args).execute(pool).await?.rows_affected(),
            Db::Sqlite(_, local) => lite::execute(local, sql, &args).await?,
        })
    }

    /// One write statement on its own that returns rows (a claim); on SQLite
    /// in this process's turn, as [`Db::execute`]. Reads use `fetch_*`.
    pub(crate) async fn write_returning(&self, sql: &str, args: Vec<Arg>) -> Result<Vec<Row>> {
        match self {
            Db::Postgres(_) => self.fetch_all(sql, args).await,
            Db::Sqlite(_, local) => Ok(rows(
                lite::write_returning(local, sql, &args).await?,
                Row::Sqlite,
            )),
        }
    }

    /// [`Db::write_returning`] of a statement that returns one row.
    pub(crate) async fn write_returning_one(&self, sql: &str, args: Vec<Arg>) -> Result<Row> {
        only(self.write_returning(sql, args).await?.into_iter().next())
    }

    pub(crate) async fn fetch_all(&self, sql: &str, args: Vec<Arg>) -> Result<Vec<Row>> {
        Ok(match self {
            Db::Postgres(pool) => rows(pg::query(sql, &args).fetch_all(pool).await?, Row::Postgres),
            Db::Sqlite(pool, _) => {
                rows(lite::query(sql, &args).fetch_all(pool).await?, Row::Sqlite)
            }
        })
    }

    pub(crate) async fn fetch_optional(&self, sql: &str, args: Vec<Arg>) -> Result<Option<Row>> {
        Ok(match self {
            Db::Postgres(pool) => pg::query(sql, &args)
                .fetch_optional(pool)
                .await?
                .map(Row::Postgres),
            Db::Sqlite(pool, _) => lite::query(sql, &args)
                .fetch_optional(pool)
                .await?
                .map(Row::Sqlite),
        })
    }

    /// A read that returns exactly one row.
    pub(crate) async fn fetch_one(&self, sql: &str, args: Vec<Arg>) -> Result<Row> {
        only(self.fetch_optional(sql, args).await?)
    }
}

/// The one row a statement was to return.
fn only(row: Option<Row>) -> Result<Row> {
    row.ok_or(Error::Database(sqlx::Error::RowNotFound))
}

fn rows<R>(rows: Vec<R>, wrap: fn(R) -> Row) -> Vec<Row> {
    rows.into_iter().map(wrap).collect()
}

/// A write transaction. On SQLite it holds the database's write lock from
/// its first statement (`BEGIN IMMEDIATE`); on PostgreSQL, statements lock
/// what they read with [`Dialect::lock_row`]. Dropped without
/// [`Tx::commit`], it rolls back.
pub(crate) enum Tx {
    Postgres(Transaction<'static, Postgres>),
    /// The transaction, then its writer's turn: dropped in that order, so
    /// the next write starts after this one has ended.
    Sqlite(Transaction<'static, Sqlite>, Turn),
}

impl Tx {
    pub(crate) fn dialect(&self) -> Dialect {
        match self {
            Tx::Postgres(_) => Dialect::Postgres,
            Tx::Sqlite(..) => Dialect::Sqlite,
        }
    }

    pub(crate) async fn commit(self) -> Result<()> {
        match self {
            Tx::Postgres(tx) => tx.commit().await?,
            Tx::Sqlite(tx, turn) => {
                tx.commit().await?;
                turn.committed();
            }
        }
        Ok(())
    }

    /// The transaction moves a batch (its counters or status): its
    /// followers hear of it once it commits. PostgreSQL's trigger on
    /// `batches` says so by itself (migration 0018); SQLite has no
    /// notifications, so word goes to the followers in this process.
    pub(crate) fn moves_batch(&mut self) {
        if let Tx::Sqlite(_, turn) = self {
            turn.moved_batch();
        }
    }

    pub(crate) async fn execute(&mut self, sql: &str, args: Vec<Arg>) -> Result<u64> {
        Ok(match self {
            Tx::Postgres(tx) => pg::query(sql, &args)
                .execute(&mut **tx)
                .await?
                .rows_affected(),
            Tx::Sqlite(tx, _) => lite::query(sql, &args)
                .execute(&mut **tx)
                .await?
                .rows_affected(),
        })
    }

    pub(crate) async fn fetch_all(&mut self, sql: &str, args: Vec<Arg>) -> Result<Vec<Row>> {
        Ok(match self {
            Tx::Postgres(tx) => rows(
                pg::query(sql, &args).fetch_all(&mut **tx).await?,
                Row::Postgres,
            ),
            Tx::Sqlite(tx, _) => rows(
                lite::query(sql, &args).fetch_all(&mut **tx).await?,
                Row::Sqlite,
            ),
        })
    }

    pub(crate) async fn fetch_optional(
        &mut self,
        sql: &str,
        args: Vec<Arg>,
    ) -> Result<Option<Row>> {
        Ok(match self {
            Tx::Postgres(tx) => pg::query(sql, &args)
                .fetch_optional(&mut **tx)
                .await?
                .map(Row::Postgres),
            Tx::Sqlite(tx, _) => lite::query(sql, &args)
                .fetch_optional(&mut **tx)
                .await?
                .map(Row::Sqlite),
        })
    }

    /// A statement that returns exactly one row (`INSERT … RETURNING`).
    pub(crate) async fn fetch_one(&mut self, sql: &str, args: Vec<Arg>) -> Result<Row> {
        only(self.fetch_optional(sql, args).await?)
    }
}

/// A value both drivers decode the same way: text, booleans, blobs, dates,
/// and timestamps (SQLite parses its RFC 3339 TEXT), and their `Option`s.
pub(crate) trait Plain:
    for<'r> Decode<'r, Postgres> + Type<Postgres> + for<'r> Decode<'r, Sqlite> + Type<Sqlite>
{
}

impl<T> Plain for T where
    T: for<'r> Decode<'r, Postgres> + Type<Postgres> + for<'r> Decode<'r, Sqlite> + Type<Sqlite>
{
}

/// A result row of either database.
pub(crate) enum Row {
    Postgres(PgRow),
    Sqlite(SqliteRow),
}

impl Row {
    /// A [`Plain`] column: `String`, `bool`, `Vec<u8>`, `NaiveDate`,
    /// `DateTime<Utc>`, or an `Option` of one.
    pub(crate) fn get<T: Plain>(&self, column: &str) -> Result<T> {
        Ok(match self {
            Row::Postgres(row) => row.try_get(column)?,
            Row::Sqlite(row) => row.try_get(column)?,
        })
    }

    /// An integer column of any width, possibly NULL.
    pub(crate) fn opt_int(&self, column: &str) -> Result<Option<i64>> {
        match self {
            Row::Postgres(row) => pg::opt_int(row, column),
            Row::Sqlite(row) => lite::opt_int(row, column),
        }
    }

    /// An integer column of any width.
    pub(crate) fn int(&self, column: &str) -> Result<i64> {
        self.opt_int(column)?.ok_or_else(|| null(column))
    }

    pub(crate) fn uuid(&self, column: &str) -> Result<Uuid> {
        match self {
            Row::Postgres(row) => pg::uuid(row, column),
            Row::Sqlite(row) => lite::uuid(row, column),
        }
    }

    /// A JSON column, possibly NULL.
    pub(crate) fn json(&self, column: &str) -> Result<Option<Value>> {
        match self {
            Row::Postgres(row) => pg::json(row, column),
            Row::Sqlite(row) => lite::json(row, column),
        }
    }
}

fn null(column: &str) -> Error {
    Error::Database(sqlx::Error::ColumnDecode {
        index: column.to_string(),
        source: "unexpected NULL".into(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn on_sqlite_a_write_that_returns_rows_takes_the_process_s_turn() {
        let db = Db::connect("sqlite::memory:", 2).await.unwrap();
        let local = match &db {
            Db::Sqlite(_, local) => Some(local.clone()),
            Db::Postgres(_) => None,
        };
        let local = local.unwrap();
        db.execute("CREATE TABLE t (n INTEGER)", args![])
            .await
            .unwrap();
        let insert = "INSERT INTO t (n) VALUES (7) RETURNING n";
        let held = local.turn(Duration::from_secs(10)).await.unwrap();
        let waited = tokio::time::timeout(
            Duration::from_millis(300),
            db.write_returning(insert, args![]),
        )
        .await;
        assert!(
            waited.is_err(),
            "it waits while another write holds the turn"
        );
        drop(held);
        let row = db.write_returning_one(insert, args![]).await.unwrap();
        assert_eq!(row.int("n").unwrap(), 7);
        let stored = db.fetch_one("SELECT count(*) AS c FROM t", args![]).await;
        assert_eq!(
            stored.unwrap().int("c").unwrap(),
            1,
            "the write given up left nothing"
        );
    }
}
