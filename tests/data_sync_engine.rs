//! The data sync engine on the real servers, called directly (no broker,
//! no store): full copies in every direction between PostgreSQL and
//! MariaDB checked by an independent read, the watermark traps of
//! incremental runs (ties across pages, late commits), resuming after a
//! failed page, mirror deletes, a source that changed shape, verification
//! and repair of corrupted chunks, hostile names, the `COPY` path of a
//! fresh copy into PostgreSQL and the plain `INSERT` of one into MariaDB,
//! rows the target refuses, the rate limit and the windows of an
//! incremental catch-up, and a target table with another unique index,
//! refused.
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
        max_rejected_rows: 0,
        rows_per_second: None,
        max_gap: None,
        lock_wait: Duration::ZERO,
        source_slots: None,
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
    let started = Instant::now();
    let outcome = run(&source, &target, &job).await;
    let copied = started.elapsed();
    succeeded(&outcome);
    assert_eq!((outcome.rows_read, outcome.rows_applied), (20_000, 20_000));
    job.verify_only = true;
    let started = Instant::now();
    let verified = run(&source, &target, &job).await;
    println!(
        "{from} -> {to}: 20000 rows copied in {copied:?} ({:.0} rows/s), verified in {:?}",
        20_000.0 / copied.as_secs_f64(),
        started.elapsed()
    );
    all_matched(&verified.verification);
    let expected = dump(&source, &items_select(from, "items")).await;
    let got = dump(&target, &items_select(to, "items")).await;
    assert_eq!(expected.len(), 20_000);
    assert_eq!(target.count("items").await, 20_000);
    assert_eq!(expected, got, "{from} -> {to}");
    // A second full run changes nothing and still matches.
    job.verify_only = false;
    job.verify = true;
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

/// The timestamp type of a cursor column on each engine.
fn stamp_type(engine: DbType) -> &'static str {
    match engine {
        DbType::Postgresql => "timestamptz NOT NULL DEFAULT now()",
        DbType::Mysql => "timestamp(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)",
    }
}

async fn events(db: &Db) {
    db.exec(&format!(
        "CREATE TABLE ev (id bigint PRIMARY KEY, v text, updated_at {})",
        stamp_type(db.engine)
    ))
    .await;
}

async fn insert_events(db: &Db, ids: std::ops::Range<i64>, at: &str) {
    let values: Vec<String> = ids.map(|i| format!("({i}, 'v{i}', '{at}')")).collect();
    db.exec(&format!(
        "INSERT INTO ev (id, v, updated_at) VALUES {}",
        values.join(", ")
    ))
    .await;
}

fn cursor_spec(name: &str) -> TableSpec {
    TableSpec {
        cursor: vec!["updated_at".to_string()],
        ..spec(name)
    }
}

async fn ev_ids(db: &Db) -> Vec<String> {
    dump(db, "SELECT id FROM ev ORDER BY id")
        .await
        .into_iter()
        .map(|r| r[0].clone())
        .collect()
}

/// 50 rows share one timestamp across pages of 7: the composite keyset
/// `(updated_at, id)` reads each once, and the next run only the new ones.
async fn ties_across_pages(engine: DbType) {
    let (source, target) = (Db::new(engine).await, Db::new(engine).await);
    events(&source).await;
    insert_events(&source, 1..4, "2024-01-01 00:00:00").await;
    insert_events(&source, 100..150, "2024-01-02 00:00:00").await;
    insert_events(&source, 200..203, "2024-01-03 00:00:00").await;
    let spec = cursor_spec("ev");
    let job = job(&spec, &target, SyncMode::Incremental, 7);
    let first = run(&source, &target, &job).await;
    succeeded(&first);
    assert_eq!((first.rows_read, first.rows_applied), (56, 56));
    assert_eq!(target.count("ev").await, 56);
    assert_eq!(
        first.position,
        Some(vec![
            Some("2024-01-03 00:00:00.000000".to_string()),
            Some("202".to_string())
        ])
    );
    insert_events(&source, 300..320, "2024-01-04 00:00:00").await;
    let second = run(&source, &target, &job).await;
    succeeded(&second);
    assert_eq!(second.rows_read, 20, "only the new rows");
    assert_eq!(ev_ids(&source).await, ev_ids(&target).await);
    source.drop().await;
    target.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ties_across_pages_postgres() {
    ties_across_pages(PG).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ties_across_pages_mysql() {
    ties_across_pages(MY).await;
}

/// A transaction stamps a row with `now()` (its start), another commits a
/// later row, a run passes: the horizon is held at the open transaction's
/// start, so once it commits the next run (settle 0) still gets its row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_commit_is_not_passed_postgres() {
    let (source, target) = (Db::new(PG).await, Db::new(PG).await);
    events(&source).await;
    insert_events(&source, 1..2, "2024-01-01 00:00:00+00").await;
    let Conn::Pg(mut slow) = source.conn().await else {
        unreachable!()
    };
    let mut open = slow.begin().await.unwrap();
    sqlx::query("INSERT INTO ev (id, v) VALUES (2, 'slow')")
        .execute(&mut *open)
        .await
        .unwrap();
    source
        .exec("INSERT INTO ev (id, v) VALUES (3, 'fast')")
        .await;
    let spec = cursor_spec("ev");
    let job = job(&spec, &target, SyncMode::Incremental, 100);
    let first = run(&source, &target, &job).await;
    succeeded(&first);
    assert_eq!(ev_ids(&target).await, ["1"], "the later row waits");
    open.commit().await.unwrap();
    slow.close().await.unwrap();
    let second = run(&source, &target, &job).await;
    succeeded(&second);
    assert_eq!(ev_ids(&target).await, ["1", "2", "3"]);
    source.drop().await;
    target.drop().await;
}

/// On MySQL the settle window holds back rows younger than it: the open
/// transaction's row arrives once it commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_commit_is_not_passed_mysql() {
    let (source, target) = (Db::new(MY).await, Db::new(MY).await);
    events(&source).await;
    insert_events(&source, 1..2, "2024-01-01 00:00:00").await;
    let Conn::My(mut slow) = source.conn().await else {
        unreachable!()
    };
    let mut open = slow.begin().await.unwrap();
    sqlx::query("INSERT INTO ev (id, v) VALUES (2, 'slow')")
        .execute(&mut *open)
        .await
        .unwrap();
    source
        .exec("INSERT INTO ev (id, v) VALUES (3, 'fast')")
        .await;
    let spec = cursor_spec("ev");
    let mut job = job(&spec, &target, SyncMode::Incremental, 100);
    job.settle = Duration::from_secs(3600);
    let first = run(&source, &target, &job).await;
    succeeded(&first);
    assert_eq!(ev_ids(&target).await, ["1"]);
    open.commit().await.unwrap();
    slow.close().await.unwrap();
    job.settle = Duration::ZERO;
    let second = run(&source, &target, &job).await;
    succeeded(&second);
    assert_eq!(ev_ids(&target).await, ["1", "2", "3"]);
    source.drop().await;
    target.drop().await;
}

/// A page fails (a constraint of the target refuses id 1234): the pages
/// before it stay with their checkpoint; the next run resumes after it and
/// ends equal, each row once.
async fn a_failed_page_resumes(engine: DbType) {
    let (source, target) = (Db::new(engine).await, Db::new(engine).await);
    items(&source, "items", 2_000).await;
    items(&target, "items", 1).await;
    target
        .exec("DELETE FROM items; ALTER TABLE items ADD CONSTRAINT no_1234 CHECK (id <> 1234)")
        .await;
    let spec = spec("items");
    let mut job = job(&spec, &target, SyncMode::Full, 100);
    let failed = run(&source, &target, &job).await;
    assert_eq!(failed.status, RunStatus::Failed);
    let error = failed.error.unwrap();
    assert!(
        error.contains("items") && error.contains(&target.name),
        "{error}"
    );
    assert_eq!(failed.rows_applied, 1_200);
    assert_eq!(failed.position, Some(vec![Some("1200".to_string())]));
    assert_eq!(target.count("items").await, 1_200);
    target
        .exec("ALTER TABLE items DROP CONSTRAINT no_1234")
        .await;
    job.verify = true;
    let resumed = run(&source, &target, &job).await;
    succeeded(&resumed);
    assert_eq!(
        resumed.rows_read, 800,
        "resumed after the last committed page"
    );
    all_matched(&resumed.verification);
    assert_eq!(target.count("items").await, 2_000);
    assert_eq!(
        dump(&source, &items_select(engine, "items")).await,
        dump(&target, &items_select(engine, "items")).await
    );
    source.drop().await;
    target.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_page_resumes_postgres() {
    a_failed_page_resumes(PG).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_page_resumes_mysql() {
    a_failed_page_resumes(MY).await;
}

/// With `mirror`, rows deleted on the source leave the target: a full run
/// prunes each page's key range, an incremental run reconciles keys.
async fn mirror_removes_deleted_rows(engine: DbType) {
    let (source, target) = (Db::new(engine).await, Db::new(engine).await);
    items(&source, "items", 3_000).await;
    let spec = cursor_spec("items");
    let mut job = job(&spec, &target, SyncMode::Full, 500);
    job.mirror = true;
    succeeded(&run(&source, &target, &job).await);
    source
        .exec("DELETE FROM items WHERE id IN (1, 1500, 3000) OR id BETWEEN 2000 AND 2099")
        .await;
    target
        .exec(
            "INSERT INTO items (id, small, updated_at) \
             VALUES (5000, 1, '2024-01-01 00:00:00'), (0, 1, '2024-01-01 00:00:00')",
        )
        .await;
    let full = run(&source, &target, &job).await;
    succeeded(&full);
    assert_eq!(full.rows_deleted, 105);
    assert_eq!(target.count("items").await, 2_897);
    source
        .exec("DELETE FROM items WHERE id BETWEEN 10 AND 19")
        .await;
    job.mode = SyncMode::Incremental;
    job.verify = true;
    let incremental = run(&source, &target, &job).await;
    succeeded(&incremental);
    assert_eq!(incremental.rows_deleted, 10);
    all_matched(&incremental.verification);
    assert_eq!(
        dump(&source, &items_select(engine, "items")).await,
        dump(&target, &items_select(engine, "items")).await
    );
    source.drop().await;
    target.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirror_removes_deleted_rows_postgres() {
    mirror_removes_deleted_rows(PG).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirror_removes_deleted_rows_mysql() {
    mirror_removes_deleted_rows(MY).await;
}

/// A column added on the source after a run: the incremental run stops
/// with the change in words, and the target is left as it was.
async fn a_changed_source_stops_the_run(engine: DbType) {
    let (source, target) = (Db::new(engine).await, Db::new(engine).await);
    events(&source).await;
    insert_events(&source, 1..11, "2024-01-01 00:00:00").await;
    let spec = cursor_spec("ev");
    let job = job(&spec, &target, SyncMode::Incremental, 100);
    succeeded(&run(&source, &target, &job).await);
    source.exec("ALTER TABLE ev ADD COLUMN extra int").await;
    insert_events(&source, 11..20, "2024-01-02 00:00:00").await;
    let changed = run(&source, &target, &job).await;
    assert_eq!(changed.status, RunStatus::Failed);
    let error = changed.error.unwrap();
    assert!(
        error.contains("changed shape since the last run")
            && error.contains("extra")
            && error.contains("run a full sync"),
        "{error}"
    );
    assert_eq!(changed.rows_applied, 0);
    assert_eq!(target.count("ev").await, 10);
    source.drop().await;
    target.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_source_stops_the_run_postgres() {
    a_changed_source_stops_the_run(PG).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_source_stops_the_run_mysql() {
    a_changed_source_stops_the_run(MY).await;
}

/// A target corrupted in three chunks (a row changed, a row deleted, a
/// chunk emptied) and a row added past the source's last key (extra, in a
/// chunk of its own): each chunk is classified, `repair` copies exactly
/// those again, and a second verification matches everywhere.
async fn verification_finds_and_repairs(from: DbType, to: DbType) {
    let (source, target) = (Db::new(from).await, Db::new(to).await);
    items(&source, "items", 2_100).await;
    let spec = spec("items");
    let mut job = job(&spec, &target, SyncMode::Full, 50);
    succeeded(&run(&source, &target, &job).await);
    target
        .exec(
            "UPDATE items SET small = small + 1 WHERE id = 10; DELETE FROM items WHERE id = 700; \
             DELETE FROM items WHERE id > 1000 AND id <= 1500; \
             INSERT INTO items (id, small, updated_at) VALUES (999999, 1, '2024-01-01 00:00:00')",
        )
        .await;
    job.verify_only = true;
    let found = run(&source, &target, &job).await;
    succeeded(&found);
    // Chunks of 500 keys: (,500] (500,1000] (1000,1500] (1500,2000],
    // then the source's last rows (2000,2100] and past its last key.
    let expected = Verification {
        chunks: 6,
        matched: 2,
        different: 2,
        missing: 1,
        extra: 1,
        repaired: 0,
    };
    assert_eq!(found.verification, Some(expected.clone()));
    assert_eq!(found.rows_read, 0, "verify only: no copy");
    job.repair = true;
    let repaired = run(&source, &target, &job).await;
    succeeded(&repaired);
    assert_eq!(
        repaired.verification,
        Some(Verification {
            repaired: 4,
            ..expected
        })
    );
    job.repair = false;
    let again = run(&source, &target, &job).await;
    all_matched(&again.verification);
    assert_eq!(
        dump(&source, &items_select(from, "items")).await,
        dump(&target, &items_select(to, "items")).await
    );
    source.drop().await;
    target.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_finds_and_repairs_postgres_to_mysql() {
    verification_finds_and_repairs(PG, MY).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_finds_and_repairs_mysql_to_postgres() {
    verification_finds_and_repairs(MY, PG).await;
}

/// A table and columns whose names hold a double quote and a backtick.
async fn hostile_names(from: DbType, to: DbType) {
    let (source, target) = (Db::new(from).await, Db::new(to).await);
    let table = "we\"ird`tab";
    let (id, val, note) = ("i\"d`", "va`l", "no\"te");
    let q = |n: &str| source.quote(n);
    source
        .exec(&format!(
            "CREATE TABLE {} ({} bigint PRIMARY KEY, {} text NOT NULL, {} text)",
            q(table),
            q(id),
            q(val),
            q(note)
        ))
        .await;
    let values: Vec<String> = (1..=30)
        .map(|i| format!("({i}, 'v\"`{i}', NULL)"))
        .collect();
    source
        .exec(&format!(
            "INSERT INTO {} VALUES {}",
            q(table),
            values.join(", ")
        ))
        .await;
    let spec = spec(table);
    let mut job = job(&spec, &target, SyncMode::Full, 7);
    job.verify = true;
    job.mirror = true;
    let outcome = run(&source, &target, &job).await;
    succeeded(&outcome);
    all_matched(&outcome.verification);
    // MySQL sends `utf8mb4_bin` text as bytes; read it as text.
    let text = |db: &Db, column: &str| match db.engine {
        DbType::Postgresql => db.quote(column),
        DbType::Mysql => format!(
            "CONVERT({} USING utf8mb4) COLLATE utf8mb4_general_ci",
            db.quote(column)
        ),
    };
    let select = |db: &Db| {
        format!(
            "SELECT {}, {}, {} FROM {} ORDER BY 1",
            db.quote(id),
            text(db, val),
            text(db, note),
            db.quote(table)
        )
    };
    let got = dump(&target, &select(&target)).await;
    assert_eq!(dump(&source, &select(&source)).await, got);
    assert_eq!(got.len(), 30);
    source.drop().await;
    target.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_names_postgres_to_postgres() {
    hostile_names(PG, PG).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_names_mysql_to_mysql() {
    hostile_names(MY, MY).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_names_across_engines() {
    hostile_names(PG, MY).await;
    hostile_names(MY, PG).await;
}

/// One sync per target table: a held lock fails the run in words (at
/// once with no `lock_wait`), naming its holder; a table
/// without a primary key asks for `key:`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_table_and_a_table_without_key_fail_in_words() {
    let (source, target) = (Db::new(PG).await, Db::new(MY).await);
    items(&source, "items", 10).await;
    let spec_items = spec("items");
    let job_items = job(&spec_items, &target, SyncMode::Full, 100);
    let mut holder = target.session(Role::Target).await;
    assert!(holder.try_lock("items").await.unwrap());
    let busy = run(&source, &target, &job_items).await;
    let error = busy.error.as_deref().unwrap();
    let expected = format!(
        "another sync of items into backup/{} is running, held by connection ",
        target.name
    );
    assert!(error.starts_with(&expected), "{error}");
    assert!(
        error.ends_with("; gave up after waiting 0s (`lock_wait`)"),
        "{error}"
    );
    holder.unlock("items").await.unwrap();
    holder.close().await;
    succeeded(&run(&source, &target, &job_items).await);

    source
        .exec("CREATE TABLE loose (id bigint, v text); INSERT INTO loose VALUES (1, 'a')")
        .await;
    let loose = spec("loose");
    let keyless = run(&source, &target, &job(&loose, &target, SyncMode::Full, 100)).await;
    assert_eq!(
        keyless.error.as_deref(),
        Some("table loose has no primary key; name `key:`")
    );
    let keyed = TableSpec {
        key: vec!["id".to_string()],
        ..spec("loose")
    };
    succeeded(&run(&source, &target, &job(&keyed, &target, SyncMode::Full, 100)).await);
    assert_eq!(target.count("loose").await, 1);
    source.drop().await;
    target.drop().await;
}

/// Rows `ids` of `ev`, one minute apart from 2024-01-01.
async fn insert_spread(db: &Db, ids: std::ops::Range<i64>) {
    let start = NaiveDate::from_ymd_opt(2024, 1, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    let values: Vec<String> = ids
        .map(|i| {
            let at = start + chrono::Duration::minutes(i);
            format!("({i}, 'v{i}', '{}')", at.format("%Y-%m-%d %H:%M:%S"))
        })
        .collect();
    db.exec(&format!(
        "INSERT INTO ev (id, v, updated_at) VALUES {}",
        values.join(", ")
    ))
    .await;
}

/// An incremental run across engines whose page fails half-way: the pages
/// before it stay, with their position; the next run reads only the rest.
async fn an_incremental_failed_page_resumes(from: DbType, to: DbType) {
    let (source, target) = (Db::new(from).await, Db::new(to).await);
    events(&source).await;
    insert_spread(&source, 1..11).await;
    let spec = cursor_spec("ev");
    let mut job = job(&spec, &target, SyncMode::Incremental, 10);
    succeeded(&run(&source, &target, &job).await);
    target
        .exec("ALTER TABLE ev ADD CONSTRAINT no_55 CHECK (id <> 55)")
        .await;
    insert_spread(&source, 11..101).await;
    let failed = run(&source, &target, &job).await;
    assert_eq!(failed.status, RunStatus::Failed);
    assert_eq!(failed.rows_applied, 40);
    assert_eq!(target.count("ev").await, 50);
    target.exec("ALTER TABLE ev DROP CONSTRAINT no_55").await;
    job.verify = true;
    let resumed = run(&source, &target, &job).await;
    succeeded(&resumed);
    assert_eq!(
        resumed.rows_read, 50,
        "resumed after the last committed page"
    );
    all_matched(&resumed.verification);
    assert_eq!(ev_ids(&source).await, ev_ids(&target).await);
    source.drop().await;
    target.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incremental_failed_page_resumes_postgres_to_mysql() {
    an_incremental_failed_page_resumes(PG, MY).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incremental_failed_page_resumes_mysql_to_postgres() {
    an_incremental_failed_page_resumes(MY, PG).await;
}

/// Keys compared as what they are, with pages of one row, mirror and
/// verification: integers past 2^53, and text keys whose case-insensitive
/// order on MySQL differs from code-point order on PostgreSQL (were the
/// two orders mixed, a second mirror run would delete rows it then copies
/// again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_compare_exactly_across_pages_and_engines() {
    let (source, target) = (Db::new(MY).await, Db::new(PG).await);
    source
        .exec(
            "CREATE TABLE big (id bigint PRIMARY KEY, v int); \
             INSERT INTO big VALUES (9007199254740993, 1), (9007199254740994, 2), \
               (9007199254740995, 3), (9007199254740996, 4), (-9223372036854775808, 5); \
             CREATE TABLE words (w varchar(20) PRIMARY KEY, v int) \
               DEFAULT CHARSET utf8mb4 COLLATE utf8mb4_unicode_ci; \
             INSERT INTO words VALUES ('a', 1), ('B', 2), ('c', 3), ('D', 4), ('é', 5), ('Z', 6)",
        )
        .await;
    for (table, rows) in [("big", 5), ("words", 6)] {
        let spec = spec(table);
        let mut job = job(&spec, &target, SyncMode::Full, 1);
        job.mirror = true;
        job.verify = true;
        let outcome = run(&source, &target, &job).await;
        succeeded(&outcome);
        assert_eq!(outcome.rows_read, rows, "{table}");
        assert_eq!(outcome.rows_deleted, 0, "{table}");
        all_matched(&outcome.verification);
        let second = run(&source, &target, &job).await;
        succeeded(&second);
        assert_eq!(
            (second.rows_read, second.rows_deleted),
            (rows, 0),
            "{table}"
        );
        all_matched(&second.verification);
        assert_eq!(target.count(table).await, rows as i64);
        // Into a MySQL target as well, the same key order.
        let backup = Db::new(MY).await;
        let again = run(&source, &backup, &job).await;
        succeeded(&again);
        assert_eq!((again.rows_read, again.rows_deleted), (rows, 0), "{table}");
        all_matched(&again.verification);
        backup.drop().await;
    }
    source.drop().await;
    target.drop().await;
}

/// A source session is read-only on both engines; a target session writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_target_session_writes() {
    for engine in [PG, MY] {
        let db = Db::new(engine).await;
        items(&db, "items", 3).await;
        let mut source = db.session(Role::Source).await;
        let shape = source.shape("items").await.unwrap().unwrap();
        assert_eq!(shape.key, ["id"]);
        let refused = source.create_table("copy", &shape).await;
        assert!(refused.is_err(), "{engine}: {refused:?}");
        let apply = dbfleet::adapters::sync::Apply::new("items");
        assert!(source.apply(&apply).await.is_err(), "{engine}");
        source.close().await;
        let mut target = db.session(Role::Target).await;
        target.create_table("copy", &shape).await.unwrap();
        assert!(target.shape("copy").await.unwrap().is_some());
        target.close().await;
        db.drop().await;
    }
}

/// An empty `items` table on a PostgreSQL target that logs the first word
/// of each statement that inserts into it (`COPY` or `INSERT`).
async fn logged_items(target: &Db) {
    items(target, "items", 1).await;
    target
        .exec(
            "DELETE FROM items; CREATE TABLE statements (n serial, q text); \
             CREATE FUNCTION log_statement() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
               INSERT INTO statements (q) VALUES (upper(split_part(ltrim(current_query()), ' ', 1))); \
               RETURN NULL; END $$; \
             CREATE TRIGGER logged AFTER INSERT ON items FOR EACH STATEMENT \
               EXECUTE FUNCTION log_statement()",
        )
        .await;
}

/// The statements logged by [`logged_items`] since the `after`-th.
async fn statements(target: &Db, after: i64) -> Vec<String> {
    let sql = format!("SELECT q FROM statements WHERE n > {after} ORDER BY n");
    dump(target, &sql).await.into_iter().flatten().collect()
}

/// A fresh full copy into an empty PostgreSQL table goes in with `COPY`
/// and stores what the source has, every type; into a table that is not
/// empty the same copy upserts. Prints the rate of both paths.
async fn a_fresh_copy_into_postgres_uses_copy(from: DbType) {
    let (source, target) = (Db::new(from).await, Db::new(PG).await);
    items(&source, "items", 20_000).await;
    logged_items(&target).await;
    let spec = spec("items");
    let mut job = job(&spec, &target, SyncMode::Full, 5_000);
    let started = Instant::now();
    let outcome = run(&source, &target, &job).await;
    let copied = started.elapsed();
    succeeded(&outcome);
    assert_eq!(outcome.rows_applied, 20_000);
    assert_eq!(statements(&target, 0).await, ["COPY"; 4]);
    let expected = dump(&source, &items_select(from, "items")).await;
    assert_eq!(expected, dump(&target, &items_select(PG, "items")).await);
    job.verify_only = true;
    all_matched(&run(&source, &target, &job).await.verification);
    // The same copy into a table holding one row of its own upserts.
    target
        .exec(
            "TRUNCATE items; DELETE FROM dbfleet_sync_checkpoints; \
             INSERT INTO items (id, small) VALUES (-1, 0); \
             TRUNCATE statements; ALTER SEQUENCE statements_n_seq RESTART",
        )
        .await;
    job.verify_only = false;
    let started = Instant::now();
    succeeded(&run(&source, &target, &job).await);
    let upserted = started.elapsed();
    assert_eq!(statements(&target, 0).await, ["INSERT"; 4]);
    assert_eq!(target.count("items").await, 20_001);
    println!(
        "{from} -> postgresql, 20000 rows: COPY {:.0} rows/s, UNNEST upsert {:.0} rows/s",
        20_000.0 / copied.as_secs_f64(),
        20_000.0 / upserted.as_secs_f64()
    );
    source.drop().await;
    target.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_copy_postgres_to_postgres_uses_copy() {
    a_fresh_copy_into_postgres_uses_copy(PG).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_copy_mysql_to_postgres_uses_copy() {
    a_fresh_copy_into_postgres_uses_copy(MY).await;
}

/// A `COPY` that fails leaves no row of its page; the run resumed after it
/// finds the table no longer empty, upserts the rest, and ends equal to the
/// source with no row twice.
async fn a_failed_copy_resumes(from: DbType) {
    let (source, target) = (Db::new(from).await, Db::new(PG).await);
    items(&source, "items", 2_000).await;
    logged_items(&target).await;
    target
        .exec("ALTER TABLE items ADD CONSTRAINT no_1234 CHECK (id <> 1234)")
        .await;
    let spec = spec("items");
    let mut job = job(&spec, &target, SyncMode::Full, 100);
    let failed = run(&source, &target, &job).await;
    assert_eq!(failed.status, RunStatus::Failed);
    assert_eq!(failed.rows_applied, 1_200);
    assert_eq!(target.count("items").await, 1_200);
    assert_eq!(statements(&target, 0).await, ["COPY"; 12]);
    target
        .exec("ALTER TABLE items DROP CONSTRAINT no_1234")
        .await;
    job.verify = true;
    let resumed = run(&source, &target, &job).await;
    succeeded(&resumed);
    assert_eq!(resumed.rows_read, 800);
    assert_eq!(statements(&target, 12).await, ["INSERT"; 8]);
    all_matched(&resumed.verification);
    assert_eq!(target.count("items").await, 2_000);
    assert_eq!(
        dump(&source, &items_select(from, "items")).await,
        dump(&target, &items_select(PG, "items")).await
    );
    source.drop().await;
    target.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_copy_resumes_postgres_to_postgres() {
    a_failed_copy_resumes(PG).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_copy_resumes_mysql_to_postgres() {
    a_failed_copy_resumes(MY).await;
}

/// Rows the target refuses (a CHECK there that the source lacks) are left
/// out and reported with their key and the database's reason; the others
/// sync. Over `max_rejected_rows` the table fails, its last page unapplied.
async fn refused_rows_are_reported(engine: DbType) {
    let (source, target) = (Db::new(engine).await, Db::new(engine).await);
    items(&source, "items", 2_000).await;
    items(&target, "items", 1).await;
    target
        .exec("DELETE FROM items; ALTER TABLE items ADD CONSTRAINT no_7 CHECK (id % 100 <> 7)")
        .await;
    let spec = spec("items");
    let mut job = job(&spec, &target, SyncMode::Full, 100);
    job.max_rejected_rows = 20;
    let outcome = run(&source, &target, &job).await;
    succeeded(&outcome);
    assert_eq!((outcome.rows_read, outcome.rows_applied), (2_000, 1_980));
    assert_eq!(outcome.rows_rejected, 20);
    let keys: Vec<String> = (0..20).map(|i| (i * 100 + 7).to_string()).collect();
    let found: Vec<String> = outcome
        .rejected
        .iter()
        .map(|r| r.key[0].clone().unwrap())
        .collect();
    assert_eq!(found, keys);
    assert!(
        outcome.rejected.iter().all(|r| r.reason.contains("no_7")),
        "{:?}",
        outcome.rejected[0]
    );
    let summary = outcome.rejections().unwrap();
    assert!(
        summary.starts_with("20 rows rejected, e.g. key [7]: "),
        "{summary}"
    );
    assert_eq!(target.count("items").await, 1_980);
    // One more refusal than allowed: the table fails on the 11th page.
    let backup = Db::new(engine).await;
    items(&backup, "items", 1).await;
    backup
        .exec("DELETE FROM items; ALTER TABLE items ADD CONSTRAINT no_7 CHECK (id % 100 <> 7)")
        .await;
    job.max_rejected_rows = 10;
    job.target_label = format!("backup/{}", backup.name);
    let failed = run(&source, &backup, &job).await;
    assert_eq!(failed.status, RunStatus::Failed);
    let error = failed.error.clone().unwrap();
    assert!(error.contains("refused more than 10 rows"), "{error}");
    assert!(
        error.contains("key [1007]") && error.contains("no_7"),
        "{error}"
    );
    assert_eq!(failed.rows_rejected, 11);
    assert_eq!(backup.count("items").await, 990);
    source.drop().await;
    target.drop().await;
    backup.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_rows_are_reported_postgres() {
    refused_rows_are_reported(PG).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_rows_are_reported_mysql() {
    refused_rows_are_reported(MY).await;
}

/// `rows_per_second` paces the reads: 2,000 rows at 1,000 a second take
/// at least two seconds, and all arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_paces_the_copy() {
    let (source, target) = (Db::new(PG).await, Db::new(PG).await);
    items(&source, "items", 2_000).await;
    let spec = spec("items");
    let mut job = job(&spec, &target, SyncMode::Full, 200);
    job.rows_per_second = Some(1_000);
    let started = Instant::now();
    let outcome = run(&source, &target, &job).await;
    let took = started.elapsed();
    succeeded(&outcome);
    assert!(took >= Duration::from_secs(2), "{took:?}");
    assert_eq!(target.count("items").await, 2_000);
    source.drop().await;
    target.drop().await;
}

/// An incremental catch-up over rows spread across nine days, read in
/// windows of one day of the cursor (pages of 7 inside each): every row
/// arrives, and the next run finds nothing new.
async fn a_catch_up_reads_window_by_window(from: DbType, to: DbType) {
    let (source, target) = (Db::new(from).await, Db::new(to).await);
    events(&source).await;
    let ago = |days: i64, minutes: i64| match from {
        DbType::Postgresql => {
            format!("now() - interval '{days} days' + interval '{minutes} minutes'")
        }
        DbType::Mysql => {
            format!("CURRENT_TIMESTAMP(6) - INTERVAL {days} DAY + INTERVAL {minutes} MINUTE")
        }
    };
    let mut values = Vec::new();
    for day in 1..=9_i64 {
        for i in 0..30_i64 {
            let id = day * 100 + i;
            values.push(format!("({id}, 'v{id}', {})", ago(day, i * 17)));
        }
    }
    let insert = format!(
        "INSERT INTO ev (id, v, updated_at) VALUES {}",
        values.join(", ")
    );
    source.exec(&insert).await;
    let spec = cursor_spec("ev");
    let mut job = job(&spec, &target, SyncMode::Incremental, 7);
    job.initial_days = 10;
    job.max_gap = Some(Duration::from_secs(24 * 3_600));
    job.verify = true;
    let outcome = run(&source, &target, &job).await;
    succeeded(&outcome);
    assert_eq!((outcome.rows_read, outcome.rows_applied), (270, 270));
    all_matched(&outcome.verification);
    assert_eq!(ev_ids(&source).await, ev_ids(&target).await);
    let again = run(&source, &target, &job).await;
    succeeded(&again);
    assert_eq!(again.rows_read, 0);
    source.drop().await;
    target.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catch_up_reads_window_by_window_postgres_to_mysql() {
    a_catch_up_reads_window_by_window(PG, MY).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catch_up_reads_window_by_window_mysql_to_postgres() {
    a_catch_up_reads_window_by_window(MY, PG).await;
}

/// A MariaDB login on `target`'s database that may read and insert into
/// its tables but update none but the checkpoints: a statement with `ON
/// DUPLICATE KEY UPDATE` is refused for it even when no row collides.
/// Returns the connect options and the user, for [`drop_user`].
async fn insert_only_user(target: &Db) -> (ConnectOptions, String) {
    let mut root = target.session(Role::Target).await;
    root.ensure_checkpoints().await.unwrap();
    root.close().await;
    let user = format!("dbft_ins_{:08x}", rand::random::<u32>());
    let db = &target.name;
    target
        .exec(&format!(
            "CREATE USER '{user}'@'%'; \
             GRANT SELECT, INSERT, CREATE ON `{db}`.* TO '{user}'@'%'; \
             GRANT UPDATE ON `{db}`.dbfleet_sync_checkpoints TO '{user}'@'%'"
        ))
        .await;
    let options = ConnectOptions {
        username: user.clone(),
        ..target.options()
    };
    (options, user)
}

async fn drop_user(target: &Db, user: &str) {
    target
        .exec(&format!("DROP USER IF EXISTS '{user}'@'%'"))
        .await;
}

/// One run whose target session logs in with `options`.
async fn run_as(source: &Db, options: &ConnectOptions, job: &TableJob<'_>) -> TableRun {
    let mut s = source.session(Role::Source).await;
    let mut t = SyncSession::open(MY, options, Role::Target).await.unwrap();
    let run = run_table(&mut s, &mut t, job).await;
    s.close().await;
    t.close().await;
    run
}

/// A fresh full copy into an empty MariaDB table inserts without the
/// upsert clause (a login that may insert but not update copies it all),
/// and stores what the source has, every type; into a table that is not
/// empty the same copy upserts, which that login may not do.
async fn a_fresh_copy_into_mysql_inserts(from: DbType) {
    let (source, target) = (Db::new(from).await, Db::new(MY).await);
    items(&source, "items", 20_000).await;
    items(&target, "items", 1).await;
    target.exec("DELETE FROM items").await;
    let (options, user) = insert_only_user(&target).await;
    let spec = spec("items");
    let mut job = job(&spec, &target, SyncMode::Full, 5_000);
    let outcome = run_as(&source, &options, &job).await;
    succeeded(&outcome);
    assert_eq!((outcome.rows_read, outcome.rows_applied), (20_000, 20_000));
    let expected = dump(&source, &items_select(from, "items")).await;
    assert_eq!(expected, dump(&target, &items_select(MY, "items")).await);
    job.verify_only = true;
    all_matched(&run(&source, &target, &job).await.verification);
    // The same copy into a table holding one row of its own upserts.
    target
        .exec(
            "DELETE FROM items; DELETE FROM dbfleet_sync_checkpoints; \
             INSERT INTO items (id, small) VALUES (-1, 0)",
        )
        .await;
    job.verify_only = false;
    let refused = run_as(&source, &options, &job).await;
    assert_eq!(refused.status, RunStatus::Failed);
    let error = refused.error.unwrap();
    assert!(error.contains("UPDATE command denied"), "{error}");
    assert_eq!(target.count("items").await, 1);
    drop_user(&target, &user).await;
    succeeded(&run(&source, &target, &job).await);
    assert_eq!(target.count("items").await, 20_001);
    source.drop().await;
    target.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_copy_postgres_to_mysql_inserts() {
    a_fresh_copy_into_mysql_inserts(PG).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_copy_mysql_to_mysql_inserts() {
    a_fresh_copy_into_mysql_inserts(MY).await;
}

/// A target table with a unique index besides its primary key is refused
/// before a row is written, in words that name the table, the target, the
/// index and its columns, and what to do; a unique index holding the key
/// cannot merge rows and is accepted. `small` repeats every 1,000 rows: on
/// MySQL, an upsert would have merged them.
async fn another_unique_index_is_refused(engine: DbType) {
    let (source, target) = (Db::new(engine).await, Db::new(engine).await);
    items(&source, "items", 2_000).await;
    items(&target, "items", 1).await;
    target
        .exec("DELETE FROM items; CREATE UNIQUE INDEX items_small ON items (small)")
        .await;
    let spec = spec("items");
    let job = job(&spec, &target, SyncMode::Full, 500);
    let refused = run(&source, &target, &job).await;
    assert_eq!(refused.status, RunStatus::Failed);
    let error = refused.error.unwrap();
    for part in [
        "the target table items",
        &format!("backup/{}", target.name),
        "unique index items_small (small)",
        "drop that index on the backup",
    ] {
        assert!(error.contains(part), "{part}: {error}");
    }
    assert_eq!(target.count("items").await, 0);
    let drop = match engine {
        DbType::Postgresql => "DROP INDEX items_small",
        DbType::Mysql => "DROP INDEX items_small ON items",
    };
    target.exec(drop).await;
    target
        .exec("CREATE UNIQUE INDEX items_small_id ON items (small, id)")
        .await;
    let copied = run(&source, &target, &job).await;
    succeeded(&copied);
    assert_eq!(target.count("items").await, 2_000);
    source.drop().await;
    target.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_unique_index_is_refused_mysql() {
    another_unique_index_is_refused(MY).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_unique_index_is_refused_postgres() {
    another_unique_index_is_refused(PG).await;
}
