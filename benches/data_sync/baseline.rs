//! The baselines: the fastest plain ways to move the same rows with the
//! same driver, written without any of dbfleet's machinery (no canonical
//! text, no keyset pages, no checkpoints).
//!
//! - PostgreSQL to PostgreSQL: binary `COPY … TO STDOUT` piped chunk by
//!   chunk into `COPY … FROM STDIN`, the floor for a full copy.
//! - PostgreSQL to MariaDB: one ordered read, written as prepared
//!   multi-row `INSERT`s of [`ROWS_PER_INSERT`] rows, each its own commit
//!   (dbfleet commits once per page of the same size).

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use sqlx::{MySql, MySqlConnection, PgConnection, QueryBuilder};

use crate::world::World;

/// Rows per statement: the batch dbfleet is given, below the bind
/// ceiling (65,535 placeholders, 6 columns a row).
pub const ROWS_PER_INSERT: usize = 5000;

const COLUMNS: &str = "id, name, status, amount, payload, updated_at";

/// The source table into the PostgreSQL target by binary `COPY`; returns
/// the rows the target reports.
pub async fn copy_pipe(world: &World) -> u64 {
    let mut source = world.pg(&world.source).await;
    let mut target = world.pg(&world.pg_target).await;
    let out = format!("COPY (SELECT {COLUMNS} FROM items) TO STDOUT (FORMAT binary)");
    let into = format!("COPY items ({COLUMNS}) FROM STDIN (FORMAT binary)");
    let mut sink = target.copy_in_raw(&into).await.unwrap();
    let mut chunks = source.copy_out_raw(&out).await.unwrap();
    while let Some(chunk) = chunks.try_next().await.unwrap() {
        sink.send(chunk).await.unwrap();
    }
    drop(chunks);
    sink.finish().await.unwrap()
}

/// One row as the driver reads it; the amount as text, which MariaDB
/// converts exactly into its `decimal`.
type Item = (i64, String, i32, String, String, DateTime<Utc>);

/// The source table into the MariaDB target by prepared multi-row
/// `INSERT`s; returns the rows written.
pub async fn insert_into_mariadb(world: &World) -> u64 {
    let mut source = world.pg(&world.source).await;
    let mut target = world.my().await;
    let select = "SELECT id, name, status, amount::text, payload, updated_at \
                  FROM items ORDER BY id";
    let mut rows = sqlx::query_as::<_, Item>(select).fetch(&mut source);
    let mut batch: Vec<Item> = Vec::with_capacity(ROWS_PER_INSERT);
    let mut written = 0;
    while let Some(item) = rows.try_next().await.unwrap() {
        batch.push(item);
        if batch.len() == ROWS_PER_INSERT {
            written += insert(&mut target, &mut batch).await;
        }
    }
    if !batch.is_empty() {
        written += insert(&mut target, &mut batch).await;
    }
    written
}

/// One statement for the rows of `batch`, which it empties.
async fn insert(target: &mut MySqlConnection, batch: &mut Vec<Item>) -> u64 {
    let mut sql = QueryBuilder::<MySql>::new(format!("INSERT INTO items ({COLUMNS}) "));
    sql.push_values(batch.drain(..), |mut row, item| {
        row.push_bind(item.0)
            .push_bind(item.1)
            .push_bind(item.2)
            .push_bind(item.3)
            .push_bind(item.4)
            .push_bind(item.5);
    });
    sql.build().execute(target).await.unwrap().rows_affected()
}

/// Rows in the PostgreSQL target (a check that a case copied them all).
pub async fn pg_count(world: &World) -> u64 {
    let mut c: PgConnection = world.pg(&world.pg_target).await;
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM items")
        .fetch_one(&mut c)
        .await
        .unwrap();
    n as u64
}

/// Rows in the MariaDB target.
pub async fn my_count(world: &World) -> u64 {
    let mut c = world.my().await;
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM items")
        .fetch_one(&mut c)
        .await
        .unwrap();
    n as u64
}
