//! Data sync on the fleet: definitions declared in the configuration and
//! reconciled into the store, a definition's run as a batch of `data_sync`
//! jobs (one per target instance) on both backends, its history, a target
//! that cannot be reached failing only its own job after its retries, a
//! failed job that its retries carry to success, and a `data_sync` job
//! published by a program that is not dbfleet. The engine's own cases
//! (types, watermark traps, verification) are in `data_sync_engine.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod common;

use std::time::Duration;

use common::raw::{ended_batch, publish_raw};
use common::syncs::start_sync;
use common::{pg_admin, pg_ident, within, Backend, Fleet, MariaUser, World, MARIADB_ADMIN};
use dbfleet::domain::JobId;
use dbfleet::fleet::dispatcher;
use dbfleet::fleet::sync;
use dbfleet::store::{Batch, BatchStatus, RunFilter, SyncRun};
use serde_json::json;
use sqlx::{Connection, Executor, MySqlConnection, PgConnection, Row};

on_both_backends!(
    a_definition_syncs_each_target_instance_in_one_batch,
    an_unreachable_target_fails_only_its_own_job,
    a_failed_sync_runs_again_until_it_succeeds,
);

/// A source database on PostgreSQL with `orders` (`rows` rows), an empty
/// target database on PostgreSQL and one on MariaDB.
struct Databases {
    source: String,
    pg_target: String,
    maria: MariaUser,
    my_target: String,
}

impl Databases {
    async fn new(tag: &str, rows: i64) -> Self {
        let (source, pg_target) = (format!("dbft_src_{tag}"), format!("dbft_dst_{tag}"));
        let mut admin = pg_admin().await;
        for db in [&source, &pg_target] {
            let sql = format!("CREATE DATABASE {}", pg_ident(db));
            admin.execute(sql.as_str()).await.unwrap();
        }
        let mut src = pg(&source).await;
        src.execute(
            "CREATE TABLE orders (id bigint PRIMARY KEY, note text, amount numeric(12,2), \
                 updated_at timestamptz NOT NULL DEFAULT now())",
        )
        .await
        .unwrap();
        insert_orders(&mut src, 1, rows).await;
        let maria = MariaUser::new().await;
        let my_target = format!("{}_copy", maria.prefix);
        maria
            .admin(&[format!("CREATE DATABASE `{my_target}`")])
            .await;
        Self {
            source,
            pg_target,
            maria,
            my_target,
        }
    }

    async fn teardown(self) {
        common::drop_pg_databases(&[self.source, self.pg_target]).await;
        self.maria.teardown().await;
    }
}

async fn pg(database: &str) -> PgConnection {
    let url = format!("postgres://postgres@127.0.0.1:5432/{database}");
    PgConnection::connect(&url).await.unwrap()
}

/// Orders `from..=to`, stamped a minute ago (older than any settle time
/// the tests use).
async fn insert_orders(conn: &mut PgConnection, from: i64, to: i64) {
    sqlx::query(
        "INSERT INTO orders (id, note, amount, updated_at) \
         SELECT g, 'order ' || g || ' ✓', g * 1.25, now() - interval '1 minute' \
         FROM generate_series($1::bigint, $2::bigint) g",
    )
    .bind(from)
    .bind(to)
    .execute(conn)
    .await
    .unwrap();
}

/// `id|note|amount` of every order, by id, as each engine's own client
/// renders it.
async fn pg_orders(database: &str) -> Vec<String> {
    let rows = sqlx::query("SELECT id, note, amount::text AS amount FROM orders ORDER BY id")
        .fetch_all(&mut pg(database).await)
        .await
        .unwrap();
    rows.iter()
        .map(|r| {
            let (id, note, amount): (i64, String, String) =
                (r.get("id"), r.get("note"), r.get("amount"));
            format!("{id}|{note}|{amount}")
        })
        .collect()
}

async fn my_orders(database: &str) -> Vec<String> {
    let mut conn = MySqlConnection::connect(MARIADB_ADMIN).await.unwrap();
    let sql = format!(
        "SELECT CAST(id AS SIGNED) AS id, CAST(note AS CHAR) AS note, \
             CAST(amount AS CHAR) AS amount FROM `{database}`.orders ORDER BY id"
    );
    let rows = sqlx::query(&sql).fetch_all(&mut conn).await.unwrap();
    rows.iter()
        .map(|r| {
            let (id, note, amount): (i64, String, String) =
                (r.get("id"), r.get("note"), r.get("amount"));
            format!("{id}|{note}|{amount}")
        })
        .collect()
}

fn syncs_yaml(name: &str, dbs: &Databases, extra_target: &str) -> String {
    format!(
        "syncs:\n\
         \x20 - name: {name}\n\
         \x20   source: {{ instance: src-pg, database: {} }}\n\
         \x20   targets:\n\
         \x20     - {{ instance: dst-pg, database: {} }}\n\
         \x20     - {{ instance: dst-my, database: {} }}\n{extra_target}\
         \x20   mode: incremental\n\
         \x20   settle: 0s\n\
         \x20   verify: true\n\
         \x20   tables:\n\
         \x20     - {{ name: orders, key: [id], cursor: [updated_at] }}\n",
        dbs.source, dbs.pg_target, dbs.my_target
    )
}

/// Register the source and the two targets, and reconcile the
/// configuration's definitions.
async fn register(world: &World, dbs: &Databases) {
    world.add_postgres("src-pg").await;
    world.add_postgres("dst-pg").await;
    world.add_mariadb("dst-my", &dbs.maria).await;
    let problems = sync::reconcile(&world.store, &world.settings.syncs)
        .await
        .unwrap();
    assert!(problems.is_empty(), "{problems:?}");
}

/// Run `definition` as `dbfleet sync run` does, to the batch's end.
async fn run_sync(world: &World, definition: &str) -> Batch {
    let batch = start_sync(world, definition).await;
    let poll = Duration::from_millis(100);
    within(
        "sync batch end",
        dispatcher::wait(&world.store, batch.id, poll),
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

async fn a_definition_syncs_each_target_instance_in_one_batch(backend: Backend) {
    let tag = common::tag();
    let dbs = Databases::new(&tag, 1_500).await;
    let world = World::with_yaml(backend, &syncs_yaml("orders-backup", &dbs, "")).await;
    register(&world, &dbs).await;
    let fleet = Fleet::start(&world, 2);

    let first = run_sync(&world, "orders-backup").await;
    assert_eq!(first.status, BatchStatus::Success, "{first:?}");
    assert_eq!((first.kind.as_str(), first.total), ("data_sync", 2));
    assert_eq!(first.summary.get("rows_applied"), 3_000);
    assert_eq!(first.summary.get("chunks_differing"), 0);
    let source = pg_orders(&dbs.source).await;
    assert_eq!(source.len(), 1_500);
    assert_eq!(pg_orders(&dbs.pg_target).await, source);
    assert_eq!(my_orders(&dbs.my_target).await, source);

    // New and changed rows arrive with the next incremental run, and only
    // they are read.
    let mut src = pg(&dbs.source).await;
    insert_orders(&mut src, 1_501, 1_520).await;
    src.execute(
        "UPDATE orders SET note = 'changed', updated_at = now() - interval '30 seconds' \
         WHERE id <= 5",
    )
    .await
    .unwrap();
    let second = run_sync(&world, "orders-backup").await;
    fleet.stop().await;
    assert_eq!(second.status, BatchStatus::Success, "{second:?}");
    assert_eq!(second.summary.get("rows_read"), 2 * 25);
    let source = pg_orders(&dbs.source).await;
    assert_eq!(pg_orders(&dbs.pg_target).await, source);
    assert_eq!(my_orders(&dbs.my_target).await, source);

    // One history row per (run, target, table), newest first.
    let runs = history(&world, "orders-backup").await;
    assert_eq!(runs.len(), 4, "{runs:#?}");
    assert!(runs
        .iter()
        .all(|r| r.status == "success" && r.ended_at.is_some()));
    let mut latest: Vec<(String, i64)> = runs[..2]
        .iter()
        .map(|r| (r.target.clone(), r.rows_applied))
        .collect();
    latest.sort();
    let expected = vec![
        (format!("dst-my/{}", dbs.my_target), 25),
        (format!("dst-pg/{}", dbs.pg_target), 25),
    ];
    assert_eq!(latest, expected);
    world.teardown().await;
    dbs.teardown().await;
}

async fn an_unreachable_target_fails_only_its_own_job(backend: Backend) {
    let tag = common::tag();
    let dbs = Databases::new(&tag, 200).await;
    let down = "\x20     - { instance: dst-down, database: shop }\n\
                \x20   retry_times: 1\n    retry_delay: 1s\n";
    let world = World::with_yaml(backend, &syncs_yaml("orders-two", &dbs, down)).await;
    world.add_unreachable("dst-down").await;
    register(&world, &dbs).await;
    let fleet = Fleet::start(&world, 1);
    let batch = run_sync(&world, "orders-two").await;
    fleet.stop().await;

    assert_eq!(batch.status, BatchStatus::PartialSuccess, "{batch:?}");
    assert_eq!((batch.total, batch.succeeded, batch.failed), (3, 2, 1));
    let report = dispatcher::report(&world.store, batch.id).await.unwrap();
    let failed = report.jobs.iter().find(|j| j.status == "failed").unwrap();
    assert_eq!(failed.instance, "dst-down");
    // It ran twice (once more after its retry delay), then failed for good;
    // the targets that synced ran once.
    assert_eq!(failed.attempt, 2, "{failed:?}");
    assert!(report
        .jobs
        .iter()
        .all(|j| j.status == "failed" || j.attempt == 1));
    let error = failed.error.as_ref().unwrap();
    assert!(
        error.message.contains("orders into dst-down/shop"),
        "{error:?}"
    );
    let runs = history(&world, "orders-two").await;
    let down_run = runs.iter().find(|r| r.target == "dst-down/shop").unwrap();
    assert_eq!((down_run.status.as_str(), down_run.attempt), ("failed", 2));
    assert!(
        down_run.error.as_deref().unwrap().contains("connect"),
        "{down_run:?}"
    );
    assert_eq!(
        my_orders(&dbs.my_target).await,
        pg_orders(&dbs.source).await
    );
    world.teardown().await;
    dbs.teardown().await;
}

/// Another system asks for a sync after its own maintenance ends: raw
/// JSON on the jobs exchange, naming the target instance by name and the
/// definition in `params`. It runs as a batch of one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_sync_job_from_another_system_runs() {
    let tag = common::tag();
    let dbs = Databases::new(&tag, 300).await;
    let world = World::with_yaml(Backend::Fleet, &syncs_yaml("orders-ext", &dbs, "")).await;
    register(&world, &dbs).await;
    let fleet = Fleet::start(&world, 1);
    let job_id = JobId::new().to_string();
    let deadline = chrono::Utc::now() + chrono::Duration::minutes(10);
    let job = json!({
        "schema": "dbfleet.job.v1",
        "job_id": job_id,
        "kind": "data_sync",
        "instance": "dst-my",
        "params": { "definition": "orders-ext" },
        "deadline": deadline.to_rfc3339(),
        "requested_by": "maintenance-runner",
        "enqueued_at": chrono::Utc::now().to_rfc3339(),
    });
    publish_raw(&world, "job.data_sync", &job).await;
    let batch = ended_batch(&world, &job_id).await;
    fleet.stop().await;

    assert_eq!(batch.status, BatchStatus::Success, "{batch:?}");
    assert_eq!(batch.kind, "data_sync");
    assert_eq!(batch.summary.get("rows_applied"), 300);
    assert_eq!(
        my_orders(&dbs.my_target).await,
        pg_orders(&dbs.source).await
    );
    // Only the named target instance synced.
    let runs = history(&world, "orders-ext").await;
    let targets: Vec<&str> = runs.iter().map(|r| r.target.as_str()).collect();
    assert_eq!(targets, [format!("dst-my/{}", dbs.my_target)]);
    assert_eq!(runs[0].worker, "worker-0");
    world.teardown().await;
    dbs.teardown().await;
}

/// A definition whose second table is missing from the source fails its
/// first run; while its next attempt waits, the job and its batch stay
/// pending with the reason, and once the table exists an attempt succeeds:
/// one batch, one success, the history's row at that attempt.
async fn a_failed_sync_runs_again_until_it_succeeds(backend: Backend) {
    let tag = common::tag();
    let dbs = Databases::new(&tag, 100).await;
    let yaml = format!(
        "syncs:\n\
         \x20 - name: orders-late\n\
         \x20   source: {{ instance: src-pg, database: {} }}\n\
         \x20   targets: [ {{ instance: dst-pg, database: {} }} ]\n\
         \x20   mode: full\n\
         \x20   retry_times: 5\n    retry_delay: 1s\n    retry_backoff: linear\n\
         \x20   tables: [ {{ name: orders }}, {{ name: late }} ]\n",
        dbs.source, dbs.pg_target
    );
    let world = World::with_yaml(backend, &yaml).await;
    register(&world, &dbs).await;
    let fleet = Fleet::start(&world, 1);
    let batch = start_sync(&world, "orders-late").await;

    let waiting = within("a parked retry", async {
        loop {
            let report = dispatcher::report(&world.store, batch.id).await.unwrap();
            let job = report.jobs[0].clone();
            if job.attempt >= 2 && job.status == "pending" {
                return (report.batch, job);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let (pending, job) = waiting;
    assert!(!pending.status.is_terminal(), "{pending:?}");
    let error = job.error.as_ref().expect("the failure that is retried");
    assert!(error.message.contains("late"), "{error:?}");
    pg(&dbs.source)
        .await
        .execute("CREATE TABLE late (id int PRIMARY KEY, v text); INSERT INTO late VALUES (1, 'x')")
        .await
        .unwrap();

    let poll = Duration::from_millis(100);
    let ended = within(
        "sync batch end",
        dispatcher::wait(&world.store, batch.id, poll),
    )
    .await
    .unwrap();
    fleet.stop().await;
    assert_eq!(ended.status, BatchStatus::Success, "{ended:?}");
    assert_eq!((ended.total, ended.succeeded, ended.failed), (1, 1, 0));
    let report = dispatcher::report(&world.store, batch.id).await.unwrap();
    let attempt = report.jobs[0].attempt;
    assert!((2..=6).contains(&attempt), "{:?}", report.jobs[0]);
    assert!(report.jobs[0].error.is_none(), "{:?}", report.jobs[0]);
    let runs = history(&world, "orders-late").await;
    let late = runs.iter().find(|r| r.table == "late").unwrap();
    assert_eq!((late.status.as_str(), late.attempt), ("success", attempt));
    // `orders` synced on the first attempt: the retries left it be.
    let orders = runs.iter().find(|r| r.table == "orders").unwrap();
    assert_eq!((orders.status.as_str(), orders.attempt), ("success", 1));
    assert_eq!(ended.summary.get("rows_applied"), 101);
    let copied: i64 = sqlx::query_scalar("SELECT count(*) FROM late")
        .fetch_one(&mut pg(&dbs.pg_target).await)
        .await
        .unwrap();
    assert_eq!(copied, 1);
    assert_eq!(
        pg_orders(&dbs.pg_target).await,
        pg_orders(&dbs.source).await
    );
    world.teardown().await;
    dbs.teardown().await;
}

/// Tables declared by pattern: each source table it matches is synced
/// under its own name, from PostgreSQL and from MariaDB (where dbfleet's
/// own checkpoint table is never taken for data), and a pattern that
/// matches nothing fails as a table of its own while the others sync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_declared_by_pattern_are_listed_from_the_source() {
    let tag = common::tag();
    let dbs = Databases::new(&tag, 10).await;
    let mut src = pg(&dbs.source).await;
    for (table, rows) in [("audit_1", 3), ("audit_2", 2), ("auditx", 1)] {
        let sql = format!(
            "CREATE TABLE {table} (id int PRIMARY KEY, v text); \
             INSERT INTO {table} SELECT g, 'v' || g FROM generate_series(1, {rows}) g"
        );
        src.execute(sql.as_str()).await.unwrap();
    }
    let yaml = format!(
        "syncs:\n\
         \x20 - name: audit-out\n\
         \x20   source: {{ instance: src-pg, database: {} }}\n\
         \x20   targets: [ {{ instance: dst-my, database: {} }} ]\n\
         \x20   retry_times: 0\n\
         \x20   tables: [ {{ pattern: \"audit_*\" }}, {{ pattern: \"nothing_*\" }} ]\n\
         \x20 - name: audit-back\n\
         \x20   source: {{ instance: dst-my, database: {} }}\n\
         \x20   targets: [ {{ instance: dst-pg, database: {} }} ]\n\
         \x20   tables: [ {{ pattern: \"*\" }} ]\n",
        dbs.source, dbs.my_target, dbs.my_target, dbs.pg_target
    );
    let world = World::with_yaml(Backend::Embedded, &yaml).await;
    register(&world, &dbs).await;
    let fleet = Fleet::start(&world, 1);
    let out = run_sync(&world, "audit-out").await;
    let back = run_sync(&world, "audit-back").await;
    fleet.stop().await;

    assert_eq!(out.status, BatchStatus::Failed, "{out:?}");
    let mut runs: Vec<(String, String)> = history(&world, "audit-out")
        .await
        .into_iter()
        .map(|r| (r.table, r.status))
        .collect();
    runs.sort();
    let expected = [
        ("audit_1", "success"),
        ("audit_2", "success"),
        ("nothing_*", "failed"),
    ];
    let expected: Vec<(String, String)> =
        expected.map(|(t, s)| (t.to_string(), s.to_string())).into();
    assert_eq!(runs, expected);
    let nothing = history(&world, "audit-out").await;
    let nothing = nothing.iter().find(|r| r.table == "nothing_*").unwrap();
    let error = nothing.error.as_deref().unwrap();
    assert!(error.contains("matches no table"), "{error}");

    // Back from MariaDB: its tables, not the checkpoints kept beside them.
    assert_eq!(back.status, BatchStatus::Success, "{back:?}");
    let mut tables: Vec<String> = history(&world, "audit-back")
        .await
        .into_iter()
        .map(|r| r.table)
        .collect();
    tables.sort();
    assert_eq!(tables, ["audit_1", "audit_2"]);
    let copied: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM audit_1) + (SELECT count(*) FROM audit_2)",
    )
    .fetch_one(&mut pg(&dbs.pg_target).await)
    .await
    .unwrap();
    assert_eq!(copied, 5);
    world.teardown().await;
    dbs.teardown().await;
}

/// A table that fails on its configuration (here a target table without
/// one of the source's columns) would fail the same way again: the job
/// fails at once, class `config`, without a retry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_only_the_configuration_can_fix_is_not_retried() {
    let tag = common::tag();
    let dbs = Databases::new(&tag, 10).await;
    pg(&dbs.pg_target)
        .await
        .execute("CREATE TABLE orders (id bigint PRIMARY KEY, note text)")
        .await
        .unwrap();
    let yaml = format!(
        "syncs:\n\
         \x20 - name: orders-narrow\n\
         \x20   source: {{ instance: src-pg, database: {} }}\n\
         \x20   targets: [ {{ instance: dst-pg, database: {} }} ]\n\
         \x20   retry_times: 3\n    retry_delay: 1s\n\
         \x20   tables: [ {{ name: orders }} ]\n",
        dbs.source, dbs.pg_target
    );
    let world = World::with_yaml(Backend::Embedded, &yaml).await;
    register(&world, &dbs).await;
    let fleet = Fleet::start(&world, 1);
    let batch = run_sync(&world, "orders-narrow").await;
    fleet.stop().await;

    assert_eq!(batch.status, BatchStatus::Failed, "{batch:?}");
    let report = dispatcher::report(&world.store, batch.id).await.unwrap();
    let job = &report.jobs[0];
    assert_eq!(job.attempt, 1, "{job:?}");
    let error = job.error.as_ref().unwrap();
    assert_eq!(error.class.as_str(), "config", "{error:?}");
    assert!(
        error.message.contains("lacks the source's columns amount"),
        "{error:?}"
    );
    world.teardown().await;
    dbs.teardown().await;
}
