//! PostgreSQL, the fleet's shared control store: how values are bound and
//! read, the pool, write transactions and the migration tree.
//!
//! Values bind as their native types (`uuid`, `timestamptz`, `date`, `jsonb`
//! through `sqlx::types::Json`), so statements need no casts. Counters that
//! the schema keeps as `integer` decode only as `i32` in sqlx, so
//! [`opt_int`] reads either width.

use std::str::FromStr;
use std::time::Duration;

use serde_json::Value;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgArguments, PgConnectOptions, PgListener, PgPool, PgPoolOptions, PgRow};
use sqlx::query::Query;
use sqlx::types::Json;
use sqlx::{Column, ConnectOptions, Connection, Postgres, Row, Transaction, TypeInfo};
use uuid::Uuid;

use crate::store::connect;
use crate::store::db::Arg;
use crate::store::Result;

/// Open the pool once a first connection, made here within a short bound,
/// has worked: the pool itself would retry a refused connection until its
/// acquire timeout and then report only that it timed out.
///
/// A connection leaving the pool is pinged only when it sat idle for more
/// than [`PING_IDLE_AFTER`]: a ping is a round trip before every
/// transaction, two on each job's path, and a connection in steady use
/// has just shown it works. One the server closed while it sat idle (a
/// restart, an idle timeout) is found by the ping and replaced.
pub(crate) async fn connect(url: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    let options = PgConnectOptions::from_str(url)?;
    let probe = connect::first(options.connect()).await?;
    let _ = probe.close().await;
    Ok(PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .test_before_acquire(false)
        .before_acquire(|connection, meta| {
            Box::pin(async move {
                let stale = meta.idle_for > PING_IDLE_AFTER;
                Ok(!stale || connection.ping().await.is_ok())
            })
        })
        .connect_lazy_with(options))
}

/// A listener on `channel` over a pool of its own of one connection, made
/// with the store pool's options: it holds its connection for as long as it
/// lives, and the pool reconnects it after a drop. Given up after
/// [`LISTEN_CONNECT`] (a server at its connection cap): its caller polls
/// instead.
pub(crate) async fn listen(pool: &PgPool, channel: &str) -> Result<PgListener> {
    let options = (*pool.connect_options()).clone();
    let own = PgPoolOptions::new()
        .max_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .acquire_timeout(LISTEN_CONNECT)
        .connect_with(options)
        .await?;
    let mut listener = PgListener::connect_with(&own).await?;
    listener.ignore_pool_close_event(true);
    listener.listen(channel).await?;
    Ok(listener)
}

/// How long opening a listener's connection may take.
const LISTEN_CONNECT: Duration = Duration::from_secs(2);

/// How long a pooled connection may sit idle before it is pinged on its way
/// out of the pool.
const PING_IDLE_AFTER: Duration = Duration::from_secs(1);

/// Every migration of this build, compiled in.
pub(crate) static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

pub(crate) async fn migrate(pool: &PgPool) -> Result<()> {
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// A write transaction; the rows it folds into are locked with
/// [`super::Dialect::lock_row`].
pub(crate) async fn begin_write(pool: &PgPool) -> Result<Transaction<'static, Postgres>> {
    Ok(pool.begin().await?)
}

/// A write transaction whose commit returns before its flush (see
/// `Db::write_unflushed`); one round trip, as `BEGIN` alone.
pub(crate) async fn begin_unflushed(pool: &PgPool) -> Result<Transaction<'static, Postgres>> {
    Ok(pool
        .begin_with("BEGIN; SET LOCAL synchronous_commit = off")
        .await?)
}

pub(crate) fn query<'q>(sql: &'q str, args: &'q [Arg]) -> Query<'q, Postgres, PgArguments> {
    args.iter().fold(sqlx::query(sql), |q, arg| match arg {
        Arg::I64(v) => q.bind(*v),
        Arg::OptI64(v) => q.bind(*v),
        Arg::Text(v) => q.bind(v.as_str()),
        Arg::OptText(v) => q.bind(v.as_deref()),
        Arg::Bool(v) => q.bind(*v),
        Arg::OptBool(v) => q.bind(*v),
        Arg::Uuid(v) => q.bind(*v),
        Arg::Time(v) => q.bind(*v),
        Arg::OptTime(v) => q.bind(*v),
        Arg::Date(v) => q.bind(*v),
        Arg::OptDate(v) => q.bind(*v),
        Arg::Bytes(v) => q.bind(v.as_slice()),
        Arg::Json(v) => q.bind(Json(v)),
        Arg::OptJson(v) => q.bind(v.as_ref().map(Json)),
    })
}

/// An integer column, `bigint` or `integer`.
pub(crate) fn opt_int(row: &PgRow, column: &str) -> Result<Option<i64>> {
    if row.try_column(column)?.type_info().name() == "INT4" {
        Ok(row.try_get::<Option<i32>, _>(column)?.map(i64::from))
    } else {
        Ok(row.try_get(column)?)
    }
}

pub(crate) fn uuid(row: &PgRow, column: &str) -> Result<Uuid> {
    Ok(row.try_get(column)?)
}

pub(crate) fn json(row: &PgRow, column: &str) -> Result<Option<Value>> {
    let value: Option<Json<Value>> = row.try_get(column)?;
    Ok(value.map(|json| json.0))
}
