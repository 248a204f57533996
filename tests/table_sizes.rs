//! `table_sizes` on the real servers: each table's size as the engine's
//! own functions give it (checked by an independent query), the largest
//! tables one by one and the rest folded, a snapshot per day that a failed
//! or empty collection never erases, a bound on the tables filed one by
//! one across an instance's databases, and a batch of the kind on the
//! fleet and on the embedded defaults.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod common;

use std::time::Duration;

use common::{pg_admin, pg_database, Backend, Fleet, MariaUser, SlowLink, World};
use dbfleet::filters::DatabaseFilters;
use dbfleet::fleet::dispatcher::{self, BatchRequest, Selection};
use dbfleet::jobs::{Clock, Context, Failure, Job, TableSizes};
use dbfleet::message::table_sizes::{Output, Params};
use dbfleet::message::JobKind;
use dbfleet::store::{BatchStatus, Instance, StoredTable};
use sqlx::{Connection, Executor, Row};

on_both_backends!(a_batch_of_the_kind_files_every_instances_tables,);

/// One `table_sizes` job on `instance`, filed as a worker files it.
async fn sizes(world: &World, instance: &Instance, params: Params) -> Result<Output, Failure> {
    sizes_with(world, instance, params, &world.filters).await
}

/// [`sizes`] with these database filters.
async fn sizes_with(
    world: &World,
    instance: &Instance,
    params: Params,
    filters: &DatabaseFilters,
) -> Result<Output, Failure> {
    let clock = Clock::system(world.settings.timezone);
    let settings = &world.settings;
    let ctx = Context::new(instance, &world.store, filters, &settings.job, clock);
    let outcome = TableSizes::run(&ctx, &params).await;
    ctx.file().await.unwrap();
    outcome
}

async fn filed(world: &World, instance: &Instance, database: &str) -> Vec<StoredTable> {
    let today = common::today(world);
    world.table_sizes_of(instance, database, today).await
}

impl World {
    async fn table_sizes_of(
        &self,
        instance: &Instance,
        database: &str,
        day: chrono::NaiveDate,
    ) -> Vec<StoredTable> {
        self.store
            .table_sizes()
            .latest(instance.id, Some(database), day)
            .await
            .unwrap()
    }
}

/// A PostgreSQL database of one big table whose values live in TOAST, a
/// mid-sized one with an index, and four small ones: with `top: 2`, the
/// two largest are filed one by one, sized as `pg_total_relation_size`,
/// `pg_table_size` (TOAST included) and `pg_indexes_size` say, and the four
/// others folded into one row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_tables_are_sized_with_their_toast_and_the_rest_folded() {
    let world = World::new().await;
    let db = format!("dbft_ts_{}", world.tag);
    let mut admin = pg_admin().await;
    pg_database(&mut admin, &db, 2000).await;
    let url = format!("postgres://postgres@127.0.0.1:5432/{db}");
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    conn.execute(
        "CREATE TABLE docs (id int PRIMARY KEY, body text); \
         INSERT INTO docs SELECT g, (SELECT string_agg(md5(g::text || i::text), '') \
             FROM generate_series(1, 300) i) FROM generate_series(1, 300) g; \
         CREATE INDEX t_g ON t (g); \
         CREATE TABLE s1 (x int); CREATE TABLE s2 (x int); CREATE TABLE s3 (x int); \
         CREATE TABLE s4 (x int); INSERT INTO s1 VALUES (1); ANALYZE;",
    )
    .await
    .unwrap();
    let instance = world.add_postgres("ts-pg").await;

    let params = Params {
        database: Some(db.clone()),
        top: Some(2),
        ..Params::default()
    };
    let output = sizes(&world, &instance, params).await.unwrap();
    assert_eq!((output.databases, output.tables, output.folded), (1, 2, 4));
    let rows = filed(&world, &instance, &db).await;
    let names: Vec<&str> = rows.iter().map(|r| r.row.table_name.as_str()).collect();
    assert_eq!(
        names,
        ["public.docs", "public.t", ""],
        "largest first, then the rest"
    );
    for (row, table) in rows.iter().zip(["docs", "t"]) {
        let expected = sqlx::query(
            "SELECT pg_total_relation_size($1::regclass), pg_table_size($1::regclass), \
                    pg_indexes_size($1::regclass), pg_relation_size($1::regclass)",
        )
        .bind(table)
        .fetch_one(&mut conn)
        .await
        .unwrap();
        let (total, data, index, heap): (i64, i64, i64, i64) = (
            expected.get(0),
            expected.get(1),
            expected.get(2),
            expected.get(3),
        );
        assert_eq!(
            (row.row.total_bytes, row.row.data_bytes, row.row.index_bytes),
            (total, data, index),
            "{table}"
        );
        assert_eq!(row.method, "exact");
        if table == "docs" {
            assert!(
                data > 2 * heap,
                "TOAST is counted with its table: {data} vs heap {heap}"
            );
        }
    }
    let rest = &rows[2];
    assert!(rest.row.is_rest && rest.row.tables == 4, "{rest:?}");
    assert_eq!(
        rows[1].row.row_estimate,
        Some(2000),
        "analysed: an estimate"
    );
    conn.close().await.unwrap();
    common::drop_pg_database(&db).await;
    world.teardown().await;
}

/// MariaDB tables of two storage engines, largest first, with the method
/// the engine's statistics give (`estimate`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_tables_of_every_engine_are_filed_largest_first() {
    let world = World::new().await;
    let maria = MariaUser::new().await;
    let db = format!("{}_ts", maria.prefix);
    maria.create_database(&db, 512).await;
    maria
        .admin(&[
            format!("CREATE TABLE `{db}`.small (id INT PRIMARY KEY) ENGINE=InnoDB"),
            format!("CREATE TABLE `{db}`.log (line TEXT) ENGINE=Aria"),
            format!("INSERT INTO `{db}`.log SELECT REPEAT('y', 100) FROM `{db}`.seq_1_to_64"),
            format!("ANALYZE TABLE `{db}`.t, `{db}`.small, `{db}`.log"),
        ])
        .await;
    let instance = world.add_mariadb("ts-maria", &maria).await;
    let params = Params {
        database: Some(db.clone()),
        top: None,
        ..Params::default()
    };
    let output = sizes(&world, &instance, params).await.unwrap();
    assert_eq!((output.databases, output.tables, output.folded), (1, 3, 0));
    let rows = filed(&world, &instance, &db).await;
    let names: Vec<&str> = rows.iter().map(|r| r.row.table_name.as_str()).collect();
    assert_eq!(names[0], "t", "the 512 KiB table first: {names:?}");
    assert!(
        names.contains(&"log"),
        "an Aria table is sized too: {names:?}"
    );
    assert!(rows.iter().all(|r| r.method == "estimate"));
    assert!(rows[0].row.total_bytes >= 512 * 1024, "{:?}", rows[0]);
    maria.teardown().await;
    world.teardown().await;
}

/// A snapshot filed, then a run whose only database is locked past the
/// lock timeout: the job fails naming the database, and the snapshot
/// stands; then a run that finds the database empty files nothing for
/// it either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_or_empty_collection_never_erases_the_snapshot() {
    let world = World::with_yaml(Backend::Fleet, "job:\n  lock_timeout: 1s\n").await;
    let db = format!("dbft_tslock_{}", world.tag);
    let mut admin = pg_admin().await;
    pg_database(&mut admin, &db, 100).await;
    let instance = world.add_postgres("ts-locked").await;
    let only = || Params {
        database: Some(db.clone()),
        top: None,
        ..Params::default()
    };
    sizes(&world, &instance, only()).await.unwrap();
    let before = filed(&world, &instance, &db).await;
    assert_eq!(before.len(), 1, "{before:?}");

    let url = format!("postgres://postgres@127.0.0.1:5432/{db}");
    let mut locker = sqlx::PgConnection::connect(&url).await.unwrap();
    locker
        .execute("BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let failed = sizes(&world, &instance, only()).await.unwrap_err();
    let message = failed.to_string();
    assert!(
        message.contains(&db) && message.contains("lock"),
        "{message}"
    );
    locker.execute("ROLLBACK").await.unwrap();
    assert_eq!(
        filed(&world, &instance, &db).await,
        before,
        "the snapshot stands"
    );

    locker.execute("DROP TABLE t").await.unwrap();
    locker.close().await.unwrap();
    let empty = sizes(&world, &instance, only()).await.unwrap();
    assert_eq!(empty.databases, 0);
    assert_eq!(
        filed(&world, &instance, &db).await,
        before,
        "an empty answer erases nothing"
    );
    common::drop_pg_database(&db).await;
    world.teardown().await;
}

/// A batch of kind `table_sizes` over two instances, through the broker
/// and the workers: both succeed and every one of their databases the
/// filters keep has a snapshot.
async fn a_batch_of_the_kind_files_every_instances_tables(backend: Backend) {
    let world = World::on(backend).await;
    let db = format!("dbft_tsb_{}", world.tag);
    let mut admin = pg_admin().await;
    pg_database(&mut admin, &db, 10).await;
    let pg = world.add_postgres("ts-batch-pg").await;
    let fleet = Fleet::start(&world, 1);
    let request = BatchRequest {
        params: &dbfleet::message::JobParams::default_for(JobKind::TableSizes),
        selection: Selection::AllActive,
        deadline: world.settings.job.deadline,
        requested_by: None,
        interactive: false,
    };
    let broker = world.broker.as_ref();
    let batch = dispatcher::start_batch(&world.store, broker, &request)
        .await
        .unwrap();
    let poll = Duration::from_millis(100);
    let ended = common::within("the batch", dispatcher::wait(&world.store, batch.id, poll))
        .await
        .unwrap();
    fleet.stop().await;
    assert_eq!(ended.status, BatchStatus::Success, "{ended:?}");
    assert!(ended.summary.get("tables") >= 1, "{:?}", ended.summary);
    let rows = filed(&world, &pg, &db).await;
    assert_eq!(
        rows.iter()
            .map(|r| r.row.table_name.as_str())
            .collect::<Vec<_>>(),
        ["public.t"]
    );
    common::drop_pg_database(&db).await;
    world.teardown().await;
}

/// A budget that runs out: through a link slow enough that one database
/// takes longer than the instance's one-second budget, the first database
/// read is filed and every other one is skipped with the reason, and the
/// job still succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spent_budget_skips_the_databases_left_and_files_the_ones_read() {
    let world = World::new().await;
    let mut admin = pg_admin().await;
    let dbs: Vec<String> = (0..3)
        .map(|n| format!("dbft_tsbud{n}_{}", world.tag))
        .collect();
    for db in &dbs {
        pg_database(&mut admin, db, 10).await;
    }
    let link = SlowLink::start(5432, Duration::from_millis(300)).await;
    let instance = world
        .add_instance(
            "ts-slow",
            dbfleet::domain::DbType::Postgresql,
            link.port,
            "postgres",
            dbfleet::secret::PasswordRef::None,
        )
        .await;
    let params = Params {
        database: None,
        top: None,
        budget_seconds: Some(1),
        ..Params::default()
    };
    // Other tests' databases come and go on this server: the first one
    // read may have been dropped meanwhile, so the job may even fail for
    // want of a database read; either way the budget's skips are named.
    let output = match sizes(&world, &instance, params).await {
        Ok(output) => output,
        Err(failed) => {
            let said = failed.to_string();
            assert!(
                said.matches("time budget of 1s ran out").count() >= 2,
                "{said}"
            );
            return cleanup(world, link, &dbs).await;
        }
    };
    let by_budget = output
        .skipped_databases
        .iter()
        .filter(|s| s.reason.contains("time budget of 1s ran out"))
        .count();
    assert!(by_budget >= 2, "the budget ran out: {output:?}");
    let filed = world
        .store
        .table_sizes()
        .latest(instance.id, None, common::today(&world))
        .await
        .unwrap();
    let mut read: Vec<&str> = filed.iter().map(|t| t.database.as_str()).collect();
    read.dedup();
    assert_eq!(read.len(), output.databases as usize, "{filed:?}");
    cleanup(world, link, &dbs).await;
}

async fn cleanup(world: World, link: SlowLink, dbs: &[String]) {
    drop(link);
    for db in dbs {
        common::drop_pg_database(db).await;
    }
    world.teardown().await;
}

/// Three MariaDB databases of four Aria tables each (sizes all different),
/// read with `instance_top: 5`: see [`check_instance_top`].
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_instance_top_bounds_the_tables_filed_one_by_one() {
    let world = World::new().await;
    let maria = MariaUser::new().await;
    let dbs: Vec<String> = ["a", "b", "c"]
        .iter()
        .map(|s| format!("{}_it{s}", maria.prefix))
        .collect();
    for (i, db) in dbs.iter().enumerate() {
        let mut statements = vec![format!("CREATE DATABASE `{db}`")];
        for j in 0..4 {
            let rows = 10 * (i * 4 + j + 1);
            statements.push(format!("CREATE TABLE `{db}`.t{j} (v TEXT) ENGINE=Aria"));
            statements.push(format!(
                "INSERT INTO `{db}`.t{j} SELECT REPEAT('x', 1000) FROM `{db}`.seq_1_to_{rows}"
            ));
        }
        maria.admin(&statements).await;
    }
    let instance = world.add_mariadb("ts-top-maria", &maria).await;
    check_instance_top(&world, &instance, &world.filters, &dbs).await;
    maria.teardown().await;
    world.teardown().await;
}

/// The same on PostgreSQL; the server is shared, so every database that
/// exists before the test's own is left out by the filters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_instance_top_bounds_the_tables_filed_one_by_one() {
    let world = World::new().await;
    let mut admin = pg_admin().await;
    let others: Vec<String> = sqlx::query_scalar("SELECT datname::text FROM pg_database")
        .fetch_all(&mut admin)
        .await
        .unwrap();
    let dbs: Vec<String> = ["a", "b", "c"]
        .iter()
        .map(|s| format!("dbft_tsit{s}_{}", world.tag))
        .collect();
    for (i, db) in dbs.iter().enumerate() {
        // Under 1,000 rows a table, so autovacuum leaves its size alone
        // between the two runs.
        let rows = |j: usize| 30 + 60 * (i * 4 + j);
        pg_database(&mut admin, db, u32::try_from(rows(0)).unwrap()).await;
        let url = format!("postgres://postgres@127.0.0.1:5432/{db}");
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
        for j in 1..4 {
            let sql = format!(
                "CREATE TABLE u{j} AS SELECT g, repeat('y', 500) AS v \
                 FROM generate_series(1, {}) g",
                rows(j)
            );
            conn.execute(sql.as_str()).await.unwrap();
        }
        conn.close().await.unwrap();
    }
    let quoted: Vec<String> = others
        .iter()
        .map(|d| format!("'{}'", d.replace('\'', "''")))
        .collect();
    let yaml = format!(
        "database_filters:\n  postgresql:\n    exclude_databases: [{}]\n",
        quoted.join(", ")
    );
    let filters = DatabaseFilters::from_yaml_str("test-filters.yaml", &yaml).unwrap();
    let instance = world.add_postgres("ts-top-pg").await;
    check_instance_top(&world, &instance, &filters, &dbs).await;
    common::drop_pg_databases(&dbs).await;
    world.teardown().await;
}

/// With `dbs` of four tables each: a run with no effective bound files
/// every table one by one; a run with `instance_top: 5` files exactly five
/// tables one by one across the instance, each as large as any table
/// folded, and gives each database with a table folded one `rest` row
/// holding its other tables, so its rows count its four tables and sum
/// to what the first run read. (The sizes grow with the database's
/// letter: `a` is all folded, `b` keeps one table, `c` all four.)
async fn check_instance_top(
    world: &World,
    instance: &Instance,
    filters: &DatabaseFilters,
    dbs: &[String],
) {
    let everything = Params {
        top: Some(1000),
        instance_top: Some(100_000),
        ..Params::default()
    };
    sizes_with(world, instance, everything, filters)
        .await
        .unwrap();
    let mut read = std::collections::BTreeMap::new();
    for db in dbs {
        let rows = filed(world, instance, db).await;
        assert!(
            rows.len() == 4 && rows.iter().all(|r| !r.row.is_rest),
            "{rows:?}"
        );
        for r in rows {
            read.insert((db.clone(), r.row.table_name.clone()), r.row.total_bytes);
        }
    }

    let bounded = Params {
        instance_top: Some(5),
        ..Params::default()
    };
    let output = sizes_with(world, instance, bounded, filters).await.unwrap();
    assert_eq!(output.tables, 5, "{output:?}");
    let all = world
        .store
        .table_sizes()
        .latest(instance.id, None, common::today(world))
        .await
        .unwrap();
    let exact = all.iter().filter(|t| !t.row.is_rest).count();
    assert_eq!(exact, 5, "across the instance: {all:?}");

    let (mut kept, mut folded) = (Vec::new(), Vec::new());
    for db in dbs {
        let rows = filed(world, instance, db).await;
        let (rest, one_by_one): (Vec<_>, Vec<_>) = rows.iter().partition(|r| r.row.is_rest);
        let folds = rest.first().map_or(0, |r| r.row.tables);
        assert_eq!(one_by_one.len() as i64 + folds, 4, "{db}: {rows:?}");
        assert_eq!(rest.len(), usize::from(folds > 0), "{db}: {rows:?}");
        for r in &one_by_one {
            let key = (db.clone(), r.row.table_name.clone());
            assert_eq!(r.row.total_bytes, read[&key], "{key:?}");
            kept.push(r.row.total_bytes);
        }
        let theirs: Vec<i64> = read
            .iter()
            .filter(|((d, name), _)| {
                d == db && !one_by_one.iter().any(|r| &r.row.table_name == name)
            })
            .map(|(_, bytes)| *bytes)
            .collect();
        let rest_bytes = rest.first().map_or(0, |r| r.row.total_bytes);
        assert_eq!(rest_bytes, theirs.iter().sum::<i64>(), "{db}: {rows:?}");
        folded.extend(theirs);
    }
    assert!(!folded.is_empty());
    let (smallest_kept, largest_folded) = (kept.iter().min(), folded.iter().max());
    assert!(
        smallest_kept >= largest_folded,
        "the largest are kept: {kept:?} vs {folded:?}"
    );
}
