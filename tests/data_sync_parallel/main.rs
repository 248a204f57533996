//! Data sync jobs that share their servers: a job's tables in parallel
//! (`max_parallel`), the source slots all jobs of a definition share
//! (`source_connections`), and a target table another sync holds
//! (`lock_wait`). Each test holds something on a server to freeze the
//! runs where they must wait, observes the wait from outside (the
//! servers' own views and the runs' log events), then lets them go.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../common/mod.rs"]
mod common;
mod waits;

use std::time::Duration;

use common::{pg_admin, pg_ident, within, Backend, Fleet, MariaUser, World};
use dbfleet::domain::BatchId;
use dbfleet::fleet::dispatcher;
use dbfleet::fleet::sync;
use dbfleet::store::{Batch, BatchStatus, RunFilter, SyncRun};
use sqlx::{Connection, Executor, MySqlConnection, PgConnection};

/// `rows` rows of `(id, v)` in each of `tables`, on a PostgreSQL database.
async fn pg_tables(database: &str, tables: &[&str], rows: i64) {
    let mut admin = pg_admin().await;
    let sql = format!("CREATE DATABASE {}", pg_ident(database));
    admin.execute(sql.as_str()).await.unwrap();
    let mut conn = pg(database).await;
    for t in tables {
        let sql = format!(
            "CREATE TABLE {t} (id bigint PRIMARY KEY, v text NOT NULL); \
             INSERT INTO {t} SELECT g, 'row ' || g FROM generate_series(1, {rows}) g"
        );
        sqlx::raw_sql(&sql).execute(&mut conn).await.unwrap();
    }
}

async fn pg(database: &str) -> PgConnection {
    let url = format!("postgres://postgres@127.0.0.1:5432/{database}");
    PgConnection::connect(&url).await.unwrap()
}

async fn maria(database: &str) -> MySqlConnection {
    let url = format!("mysql://root@127.0.0.1:3306/{database}");
    MySqlConnection::connect(&url).await.unwrap()
}

async fn pg_count(database: &str, table: &str) -> i64 {
    let sql = format!("SELECT count(*) FROM {table}");
    let mut conn = pg(database).await;
    sqlx::query_scalar(&sql).fetch_one(&mut conn).await.unwrap()
}

async fn my_count(database: &str, table: &str) -> i64 {
    let sql = format!("SELECT count(*) FROM `{database}`.`{table}`");
    let mut conn = maria(database).await;
    sqlx::query_scalar(&sql).fetch_one(&mut conn).await.unwrap()
}

/// A definition of `tables` (full copies), its source and targets
/// `{ instance, database }` lines, and its extra keys.
fn definition(
    name: &str,
    source: &str,
    targets: &[String],
    tables: &[&str],
    extra: &str,
) -> String {
    let targets: String = targets.iter().map(|t| format!("      - {t}\n")).collect();
    let tables: String = tables
        .iter()
        .map(|t| format!("      - {{ name: {t} }}\n"))
        .collect();
    format!(
        "  - name: {name}\n    source: {source}\n    targets:\n{targets}\
         \x20   mode: full\n    tables:\n{tables}{extra}"
    )
}

/// A world whose sessions wait for row and table locks for two minutes
/// (the runs are frozen on purpose), with `syncs` declared.
async fn world(syncs: &str) -> World {
    let yaml = format!("job:\n  lock_timeout: 2m\nsyncs:\n{syncs}");
    World::with_yaml(Backend::Fleet, &yaml).await
}

async fn reconcile(world: &World) {
    let problems = sync::reconcile(&world.store, &world.settings.syncs)
        .await
        .unwrap();
    assert!(problems.is_empty(), "{problems:?}");
}

/// Start `definition` as `dbfleet sync run` does, without waiting.
async fn start(world: &World, definition: &str) -> BatchId {
    common::syncs::start_sync(world, definition).await.id
}

async fn ended(world: &World, batch: BatchId) -> Batch {
    let poll = Duration::from_millis(100);
    within(
        "sync batch end",
        dispatcher::wait(&world.store, batch, poll),
    )
    .await
    .unwrap()
}

async fn history(world: &World, definition: &str) -> Vec<SyncRun> {
    let filter = RunFilter {
        definition: Some(definition),
        limit: 100,
        ..RunFilter::default()
    };
    world.store.sync_runs().history(&filter).await.unwrap()
}

/// The tables of each job's output, in the order the output lists them.
async fn output_tables(world: &World, batch: BatchId) -> Vec<Vec<String>> {
    let report = dispatcher::report(&world.store, batch).await.unwrap();
    report
        .jobs
        .iter()
        .map(|j| {
            j.output["tables"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["table"].as_str().unwrap().to_string())
                .collect()
        })
        .collect()
}

/// Three tables, `max_parallel: 3`: the job reads all three at once. The
/// source tables are locked by another transaction, so each table's read
/// blocks where the server shows it; three sessions blocked at once (and
/// three source slots held) is the overlap, whatever the timing. A job
/// that ran the tables one by one would never show more than one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_runs_its_tables_in_parallel() {
    let tag = common::tag();
    let source = format!("dbft_par_{tag}");
    let tables = ["t_c", "t_a", "t_b"];
    pg_tables(&source, &tables, 300).await;
    let maria_user = MariaUser::new().await;
    let target = format!("{}_copy", maria_user.prefix);
    maria_user
        .admin(&[format!("CREATE DATABASE `{target}`")])
        .await;
    let world = parallel_world(&source, &target, &tables, &maria_user).await;
    let fleet = Fleet::start(&world, 1);

    let mut holder = pg(&source).await;
    sqlx::raw_sql("BEGIN; LOCK TABLE t_a, t_b, t_c IN ACCESS EXCLUSIVE MODE")
        .execute(&mut holder)
        .await
        .unwrap();
    let batch = start(&world, "par").await;
    let mut observer = pg(&source).await;
    within("three tables reading the source at once", async {
        while pg_readers(&mut observer).await != (3, 3) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    let runs = history(&world, "par").await;
    assert_eq!(runs.len(), 3, "{runs:#?}");
    assert!(runs.iter().all(|r| r.status == "running"), "{runs:#?}");
    sqlx::raw_sql("COMMIT").execute(&mut holder).await.unwrap();

    let done = ended(&world, batch).await;
    fleet.stop().await;
    assert_eq!(done.status, BatchStatus::Success, "{done:?}");
    all_synced(&world, batch, &target, &tables).await;
    world.teardown().await;
    common::drop_pg_databases(&[source]).await;
    maria_user.teardown().await;
}

/// `par`: `tables` from `source` on PostgreSQL into `target` on MariaDB,
/// three at once.
async fn parallel_world(
    source: &str,
    target: &str,
    tables: &[&str],
    maria_user: &MariaUser,
) -> World {
    let def = definition(
        "par",
        &format!("{{ instance: src-pg, database: {source} }}"),
        &[format!("{{ instance: dst-my, database: {target} }}")],
        tables,
        "    max_parallel: 3\n",
    );
    let world = world(&def).await;
    world.add_postgres("src-pg").await;
    world.add_mariadb("dst-my", maria_user).await;
    reconcile(&world).await;
    world
}

/// Every table's 300 rows in the target, the output in the definition's
/// order whatever order the tables ended in, and every run ended.
async fn all_synced(world: &World, batch: BatchId, target: &str, tables: &[&str]) {
    for t in tables {
        assert_eq!(my_count(target, t).await, 300, "{t}");
    }
    let listed: Vec<String> = tables.iter().map(|t| t.to_string()).collect();
    assert_eq!(output_tables(world, batch).await, [listed]);
    let runs = history(world, "par").await;
    assert_eq!(runs.len(), 3, "{runs:#?}");
    assert!(runs.iter().all(|r| r.status == "success"), "{runs:#?}");
}

/// Sessions of the source database waiting for a table lock, and the
/// advisory locks (source slots) held in it.
async fn pg_readers(observer: &mut PgConnection) -> (i64, i64) {
    sqlx::query_as(
        "SELECT (SELECT count(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND wait_event_type = 'Lock'), \
                (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted \
                   AND database = (SELECT oid FROM pg_database \
                                   WHERE datname = current_database()))",
    )
    .fetch_one(observer)
    .await
    .unwrap()
}
