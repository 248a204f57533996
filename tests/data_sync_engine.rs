//! The data sync engine on the real servers, called directly (no broker,
//! no store): full copies in every direction between PostgreSQL and
//! MariaDB checked by an independent read, the watermark traps of
//! incremental runs (ties across pages, late commits), resuming after a
//! failed page, mirror deletes, a source that changed shape, verification
//! and repair of corrupted chunks, and hostile names.
//!
//! Each test makes its own databases (`dbft_sync_<tag>`) and drops them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use dbfleet::adapters::sync::{Role, SyncSession};
use dbfleet::adapters::ConnectOptions;
use dbfleet::domain::DbType;
use dbfleet::jobs::data_sync::table::{run_table, TableJob};
use dbfleet::message::data_sync::{RunStatus, TableRun, Verification};
use dbfleet::sync::{SyncMode, TableSpec};
use sqlx::{Connection, MySqlConnection, PgConnection, Row};

const PG: DbType = DbType::Postgresql;
const MY: DbType = DbType::Mysql;

/// A throw-away database on one of the servers.
struct Db {
    engine: DbType,
    name: String,
}

impl Db {
    async fn new(engine: DbType) -> Self {
        let name = format!(
            "dbft_sync_{:012x}",
            rand::random::<u64>() & 0xffff_ffff_ffff
        );
        match engine {
            DbType::Postgresql => {
                let mut admin =
                    PgConnection::connect("postgres://postgres@127.0.0.1:5432/postgres")
                        .await
                        .unwrap();
                sqlx::raw_sql(&format!("CREATE DATABASE \"{name}\""))
                    .execute(&mut admin)
                    .await
                    .unwrap();
                admin.close().await.unwrap();
            }
            DbType::Mysql => {
                let mut admin = MySqlConnection::connect("mysql://root@127.0.0.1:3306")
                    .await
                    .unwrap();
                sqlx::raw_sql(&format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
                    .execute(&mut admin)
                    .await
                    .unwrap();
                admin.close().await.unwrap();
            }
        }
        Db { engine, name }
    }

    fn options(&self) -> ConnectOptions {
        ConnectOptions {
            host: "127.0.0.1".to_string(),
            port: self.engine.default_port(),
            username: match self.engine {
                DbType::Postgresql => "postgres",
                DbType::Mysql => "root",
            }
            .to_string(),
            password: String::new().into(),
            database: Some(self.name.clone()),
            connect_timeout: Duration::from_secs(10),
            statement_timeout: Duration::from_secs(60),
            lock_timeout: Duration::from_secs(10),
            tls: Default::default(),
        }
    }

    async fn session(&self, role: Role) -> SyncSession {
        SyncSession::open(self.engine, &self.options(), role)
            .await
            .unwrap()
    }

    async fn conn(&self) -> Conn {
        match self.engine {
            DbType::Postgresql => Conn::Pg(
                PgConnection::connect(&format!("postgres://postgres@127.0.0.1:5432/{}", self.name))
                    .await
                    .unwrap(),
            ),
            DbType::Mysql => Conn::My(
                MySqlConnection::connect(&format!("mysql://root@127.0.0.1:3306/{}", self.name))
                    .await
                    .unwrap(),
            ),
        }
    }

    /// Runs `sql` (several statements allowed) on a connection of its own.
    async fn exec(&self, sql: &str) {
        let mut c = self.conn().await;
        c.exec(sql).await;
        c.close().await;
    }

    async fn count(&self, table: &str) -> i64 {
        let sql = format!("SELECT COUNT(*) FROM {}", self.quote(table));
        match self.conn().await {
            Conn::Pg(mut c) => sqlx::query_scalar(&sql).fetch_one(&mut c).await.unwrap(),
            Conn::My(mut c) => sqlx::query_scalar(&sql).fetch_one(&mut c).await.unwrap(),
        }
    }

    fn quote(&self, name: &str) -> String {
        match self.engine {
            DbType::Postgresql => format!("\"{}\"", name.replace('"', "\"\"")),
            DbType::Mysql => format!("`{}`", name.replace('`', "``")),
        }
    }

    async fn drop(self) {
        match self.engine {
            DbType::Postgresql => {
                let mut admin =
                    PgConnection::connect("postgres://postgres@127.0.0.1:5432/postgres")
                        .await
                        .unwrap();
                let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
                let _ = sqlx::raw_sql(&sql).execute(&mut admin).await;
            }
            DbType::Mysql => {
                let mut admin = MySqlConnection::connect("mysql://root@127.0.0.1:3306")
                    .await
                    .unwrap();
                let sql = format!("DROP DATABASE IF EXISTS `{}`", self.name);
                let _ = sqlx::raw_sql(&sql).execute(&mut admin).await;
            }
        }
    }
}

enum Conn {
    Pg(PgConnection),
    My(MySqlConnection),
}

impl Conn {
    async fn exec(&mut self, sql: &str) {
        let result = match self {
            Conn::Pg(c) => sqlx::raw_sql(sql).execute(c).await.map(|_| ()),
            Conn::My(c) => sqlx::raw_sql(sql).execute(c).await.map(|_| ()),
        };
        result.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    async fn close(self) {
        let _ = match self {
            Conn::Pg(c) => c.close().await,
            Conn::My(c) => c.close().await,
        };
    }
}

/// Every row of `table` ordered by `order`, each value read by the driver
/// into its Rust type and written out plainly: independent of the engine's
/// canonical SQL. Timestamps with and without zone print alike (UTC).
async fn dump(db: &Db, select: &str) -> Vec<Vec<String>> {
    match db.conn().await {
        Conn::Pg(mut c) => {
            let rows = sqlx::query(select).fetch_all(&mut c).await.unwrap();
            rows.iter()
                .map(|r| (0..r.len()).map(|i| pg_cell(r, i)).collect())
                .collect()
        }
        Conn::My(mut c) => {
            let rows = sqlx::query(select).fetch_all(&mut c).await.unwrap();
            rows.iter()
                .map(|r| (0..r.len()).map(|i| my_cell(r, i)).collect())
                .collect()
        }
    }
}

macro_rules! cell {
    ($row:expr, $i:expr, $($t:ty => $f:expr),* $(,)?) => {{
        $(
            if let Ok(v) = $row.try_get::<Option<$t>, _>($i) {
                return v.map($f).unwrap_or_else(|| "NULL".to_string());
            }
        )*
        panic!("column {} of an unexpected type", $i)
    }};
}

fn stamp(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.6f").to_string()
}

fn pg_cell(row: &sqlx::postgres::PgRow, i: usize) -> String {
    cell!(row, i,
        i64 => |v: i64| v.to_string(),
        String => |v: String| v,
        Vec<u8> => |v: Vec<u8>| format!("{v:?}"),
        DateTime<Utc> => |v: DateTime<Utc>| stamp(v.naive_utc()),
        NaiveDateTime => stamp,
        NaiveDate => |v: NaiveDate| v.to_string(),
    )
}

fn my_cell(row: &sqlx::mysql::MySqlRow, i: usize) -> String {
    cell!(row, i,
        i64 => |v: i64| v.to_string(),
        String => |v: String| v,
        Vec<u8> => |v: Vec<u8>| format!("{v:?}"),
        DateTime<Utc> => |v: DateTime<Utc>| stamp(v.naive_utc()),
        NaiveDateTime => stamp,
        NaiveDate => |v: NaiveDate| v.to_string(),
    )
}

/// The independent read of the `items` table on either engine.
fn items_select(engine: DbType, table: &str) -> String {
    match engine {
        DbType::Postgresql => format!(
            "SELECT id, small::bigint, big, amount::text, name, bin, ts, tstz, d, flag::int::bigint \
             FROM \"{table}\" ORDER BY id"
        ),
        DbType::Mysql => format!(
            "SELECT id, CAST(small AS SIGNED), big, CAST(amount AS CHAR), \
               CONVERT(name USING utf8mb4) COLLATE utf8mb4_general_ci, bin, ts, tstz, d, \
             CAST(flag AS SIGNED) FROM `{table}` ORDER BY id"
        ),
    }
}

/// A table of `rows` rows of every common type, NULLs in every nullable
/// column, a bigint past 2^53, unicode and emoji, bytes with 0x00.
async fn items(db: &Db, table: &str, rows: u32) {
    let sql = match db.engine {
        DbType::Postgresql => format!(
            "CREATE TABLE \"{table}\" (id bigint PRIMARY KEY, small integer NOT NULL, big bigint, \
               amount numeric(12,2), name text, bin bytea, ts timestamp(6), tstz timestamptz, \
               d date, flag boolean, updated_at timestamptz NOT NULL DEFAULT now()); \
             INSERT INTO \"{table}\" (id, small, big, amount, name, bin, ts, tstz, d, flag, updated_at) \
             SELECT g, g % 1000 - 500, \
               CASE WHEN g % 10 = 0 THEN NULL ELSE 9007199254740993 + g END, \
               CASE WHEN g % 11 = 0 THEN NULL ELSE (g * -1.37)::numeric(12,2) END, \
               CASE WHEN g % 13 = 0 THEN NULL WHEN g % 13 = 1 THEN '' \
                    ELSE 'näme ' || g || ' 🦀 ' || repeat('x', g % 50) END, \
               CASE WHEN g % 17 = 0 THEN NULL ELSE decode(lpad(to_hex(g), 8, '0') || '00ff', 'hex') END, \
               CASE WHEN g % 19 = 0 THEN NULL ELSE timestamp '2024-01-01' + g * interval '1.000123 second' END, \
               CASE WHEN g % 23 = 0 THEN NULL ELSE timestamptz '2024-06-01 12:00:00+02' + g * interval '61.5 second' END, \
               CASE WHEN g % 29 = 0 THEN NULL ELSE date '2020-01-01' + g % 3000 END, \
               CASE WHEN g % 31 = 0 THEN NULL ELSE g % 2 = 0 END, \
               timestamptz '2024-01-01 00:00:00+00' + (g / 50) * interval '1 second' \
             FROM generate_series(1, {rows}) g"
        ),
        DbType::Mysql => format!(
            "CREATE TABLE `{table}` (id bigint PRIMARY KEY, small int NOT NULL, big bigint NULL, \
               amount decimal(12,2) NULL, name longtext NULL, bin longblob NULL, ts datetime(6) NULL, \
               tstz timestamp(6) NULL, d date NULL, flag tinyint(1) NULL, \
               updated_at timestamp(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)) \
               DEFAULT CHARSET utf8mb4 COLLATE utf8mb4_unicode_ci; \
             SET SESSION max_recursive_iterations = 1000000; \
             INSERT INTO `{table}` (id, small, big, amount, name, bin, ts, tstz, d, flag, updated_at) \
             WITH RECURSIVE seq(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM seq WHERE g < {rows}) \
             SELECT g, g % 1000 - 500, \
               IF(g % 10 = 0, NULL, 9007199254740993 + g), \
               IF(g % 11 = 0, NULL, CAST(g * -1.37 AS DECIMAL(12,2))), \
               CASE WHEN g % 13 = 0 THEN NULL WHEN g % 13 = 1 THEN '' \
                    ELSE CONCAT('näme ', g, ' 🦀 ', REPEAT('x', g % 50)) END, \
               IF(g % 17 = 0, NULL, UNHEX(CONCAT(LPAD(HEX(g), 8, '0'), '00ff'))), \
               IF(g % 19 = 0, NULL, TIMESTAMP('2024-01-01') + INTERVAL g * 1000123 MICROSECOND), \
               IF(g % 23 = 0, NULL, TIMESTAMP('2024-06-01 10:00:00') + INTERVAL g * 61500000 MICROSECOND), \
               IF(g % 29 = 0, NULL, DATE('2020-01-01') + INTERVAL g % 3000 DAY), \
               IF(g % 31 = 0, NULL, g % 2 = 0), \
               TIMESTAMP('2024-01-01') + INTERVAL FLOOR(g / 50) SECOND \
             FROM seq"
        ),
    };
    db.exec(&sql).await;
}

fn spec(name: &str) -> TableSpec {
    TableSpec {
        name: name.to_string(),
        target: None,
        key: Vec::new(),
        cursor: Vec::new(),
    }
}

fn job<'a>(spec: &'a TableSpec, target: &Db, mode: SyncMode, batch_size: u32) -> TableJob<'a> {
    TableJob {
        definition: "engine-test",
        spec,
        target_label: format!("backup/{}", target.name),
        mode,
        mirror: false,
        batch_size,
        initial_days: 36_500,
        settle: Duration::ZERO,
        verify: false,
        verify_only: false,
        repair: false,
    }
}

/// One run on fresh sessions, as a job runs it.
async fn run(source: &Db, target: &Db, job: &TableJob<'_>) -> TableRun {
    let mut s = source.session(Role::Source).await;
    let mut t = target.session(Role::Target).await;
    let run = run_table(&mut s, &mut t, job).await;
    s.close().await;
    t.close().await;
    run
}

fn succeeded(run: &TableRun) {
    assert_eq!(run.status, RunStatus::Success, "{:?}", run.error);
}

fn all_matched(v: &Option<Verification>) {
    let v = v.as_ref().expect("a verification");
    assert!(v.chunks > 0, "{v:?}");
    assert_eq!(v.matched, v.chunks, "{v:?}");
}

async fn full_copy_of_every_type(from: DbType, to: DbType) {
    let (source, target) = (Db::new(from).await, Db::new(to).await);
    items(&source, "items", 20_000).await;
    let spec = spec("items");
    let mut job = job(&spec, &target, SyncMode::Full, 5_000);
    job.verify = true;
    let started = Instant::now();
    let outcome = run(&source, &target, &job).await;
    let elapsed = started.elapsed();
    succeeded(&outcome);
    println!(
        "{from} -> {to}: 20000 rows in {elapsed:?} with verification ({:.0} rows/s)",
        20_000.0 / elapsed.as_secs_f64()
    );
    assert_eq!((outcome.rows_read, outcome.rows_applied), (20_000, 20_000));
    all_matched(&outcome.verification);
    let expected = dump(&source, &items_select(from, "items")).await;
    let got = dump(&target, &items_select(to, "items")).await;
    assert_eq!(expected.len(), 20_000);
    assert_eq!(target.count("items").await, 20_000);
    assert_eq!(expected, got, "{from} -> {to}");
    // A second full run changes nothing and still matches.
    let again = run(&source, &target, &job).await;
    succeeded(&again);
    all_matched(&again.verification);
    source.drop().await;
    target.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_copy_postgres_to_postgres() {
    full_copy_of_every_type(PG, PG).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_copy_mysql_to_mysql() {
    full_copy_of_every_type(MY, MY).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_copy_postgres_to_mysql() {
    full_copy_of_every_type(PG, MY).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_copy_mysql_to_postgres() {
    full_copy_of_every_type(MY, PG).await;
}
