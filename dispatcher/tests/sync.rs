//! `dbfleet sync …`, black-box, on the embedded defaults (SQLite and the
//! in-process queue): run, verify, list, show, history, the operator's
//! switch, and the exit codes scripts rely on; and the same through the
//! API of `dbfleet serve` on the fleet.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../tests/common/mod.rs"]
#[macro_use]
mod common;
mod support;

use std::path::PathBuf;

use common::{eventually, pg_admin, pg_ident, Backend, World};
use reqwest::StatusCode;
use serde_json::json;
use sqlx::{Connection, Executor, PgConnection};
use support::api::Api;
use support::{dbfleet_with, json, stderr, stdout, Files};

async fn pg(database: &str) -> PgConnection {
    let url = format!("postgres://postgres@127.0.0.1:5432/{database}");
    PgConnection::connect(&url).await.unwrap()
}

/// `orders` of `database`, as PostgreSQL renders them, by id.
async fn orders(database: &str) -> Vec<(i64, String)> {
    sqlx::query_as("SELECT id, note FROM orders ORDER BY id")
        .fetch_all(&mut pg(database).await)
        .await
        .unwrap()
}

fn config(files: &Files, source: &str, target: &str) -> PathBuf {
    let filters = common::repo_root().join("config/database_filters.yaml");
    let instance = |name: &str| {
        format!("  - {{ name: {name}, engine: postgresql, host: 127.0.0.1, port: 5432, username: postgres }}\n")
    };
    let text = format!(
        "filters:\n  path: {}\ninstances:\n{}{}syncs:\n\
         \x20 - name: orders-copy\n\
         \x20   source: {{ instance: src-pg, database: {source} }}\n\
         \x20   targets: [ {{ instance: dst-pg, database: {target} }} ]\n\
         \x20   mode: full\n\
         \x20   retry_times: 1\n\
         \x20   retry_delay: 1s\n\
         \x20   tables: [ {{ name: orders }} ]\n",
        filters.display(),
        instance("src-pg"),
        instance("dst-pg"),
    );
    files.write("dbfleet.yaml", &text)
}

/// A source database with `orders` (`rows` rows) and an empty target
/// database, both on PostgreSQL, named for this test.
async fn databases(rows: i64) -> (String, String) {
    let tag = common::tag();
    let (source, target) = (format!("dbft_src_{tag}"), format!("dbft_dst_{tag}"));
    let mut admin = pg_admin().await;
    for db in [&source, &target] {
        let sql = format!("CREATE DATABASE {}", pg_ident(db));
        admin.execute(sql.as_str()).await.unwrap();
    }
    pg(&source)
        .await
        .execute("CREATE TABLE orders (id bigint PRIMARY KEY, note text)")
        .await
        .unwrap();
    sqlx::query("INSERT INTO orders SELECT g, 'n' || g FROM generate_series(1, $1::bigint) g")
        .bind(rows)
        .execute(&mut pg(&source).await)
        .await
        .unwrap();
    (source, target)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_commands_on_the_embedded_defaults() {
    let (source, target) = databases(500).await;
    let world = World::on(Backend::Embedded).await;
    let files = Files::new();
    let config = config(&files, &source, &target);
    let dbfleet = |args: &[&str]| dbfleet_with(&world, &config, args);

    let ran = json(&dbfleet(&["sync", "run", "orders-copy", "--json"]));
    assert_eq!(ran["status"], "success", "{ran:#}");
    assert_eq!(ran["kind"], "data_sync");
    assert_eq!(orders(&target).await, orders(&source).await);

    let listed = json(&dbfleet(&["sync", "list", "--json"]));
    assert_eq!(listed[0]["name"], "orders-copy");
    assert_eq!(listed[0]["declared"], true);
    let history = json(&dbfleet(&["sync", "history", "--json"]));
    assert_eq!(history.as_array().unwrap().len(), 1, "{history:#}");
    assert_eq!(history[0]["status"], "success");
    assert_eq!(history[0]["rows_applied"], 500);
    let shown = dbfleet(&["sync", "show", "orders-copy"]);
    assert!(
        stdout(&shown).contains("orders -> orders"),
        "{}",
        stdout(&shown)
    );

    let verified = json(&dbfleet(&["sync", "verify", "orders-copy", "--json"]));
    assert_eq!(verified["status"], "success", "{verified:#}");
    assert_eq!(verified["chunks_differing"], 0);

    // Usage problems exit 2 and say what is wrong.
    let unknown = dbfleet(&["sync", "run", "nope"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(stderr(&unknown).contains("there is no sync definition `nope`"));
    let elsewhere = dbfleet(&["sync", "run", "orders-copy", "--target", "dst-pg/other"]);
    assert_eq!(elsewhere.status.code(), Some(2));
    assert!(stderr(&elsewhere).contains("is not a target of sync definition"));
    assert_eq!(
        dbfleet(&["sync", "disable", "orders-copy"]).status.code(),
        Some(0)
    );
    let disabled = dbfleet(&["sync", "run", "orders-copy"]);
    assert_eq!(disabled.status.code(), Some(2));
    assert!(
        stderr(&disabled).contains("disabled"),
        "{}",
        stderr(&disabled)
    );
    let listed = json(&dbfleet(&["sync", "list", "--json"]));
    assert_eq!(
        listed[0]["enabled_override"], false,
        "the switch survives reconciliation"
    );
    assert_eq!(
        dbfleet(&["sync", "enable", "orders-copy"]).status.code(),
        Some(0)
    );

    // A failed table fails the run: exit 1, and the history says why.
    pg(&source)
        .await
        .execute("DROP TABLE orders")
        .await
        .unwrap();
    let failed = dbfleet(&["sync", "run", "orders-copy"]);
    assert_eq!(failed.status.code(), Some(1), "{}", stdout(&failed));
    let history = json(&dbfleet(&[
        "sync", "history", "--status", "failed", "--json",
    ]));
    assert!(
        history[0]["error"].as_str().unwrap().contains("orders"),
        "{history:#}"
    );
    // It ran again once after its retry delay before the run failed.
    assert_eq!(history[0]["attempt"], 2, "{history:#}");
    world.teardown().await;
    common::drop_pg_databases(&[source, target]).await;
}

/// The API of `dbfleet serve` (which reconciles the configuration's
/// definitions as it starts): the definitions, a run started by `POST
/// /syncs/{name}/run` and carried out by a worker, its history, and the
/// answers a caller gets wrong.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_lists_runs_and_reports_syncs() {
    let (source, target) = databases(50).await;
    let world = World::new().await;
    world.add_postgres("src-pg").await;
    world.add_postgres("dst-pg").await;
    let files = Files::new();
    let config = config(&files, &source, &target);
    let api = Api::start_with(&world, &config, &[]).await;
    let mut fleet = common::Fleet::new();
    fleet.worker(&world, "w1");

    let (status, listed) = api.get("/syncs").await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(listed[0]["name"], "orders-copy");
    assert_eq!(listed[0]["targets"], json!([format!("dst-pg/{target}")]));
    assert_eq!(listed[0]["enabled"], true);

    let (status, batch) = api.post("/syncs/orders-copy/run", json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{batch}");
    assert_eq!(
        (batch["kind"].as_str(), batch["total"].as_i64()),
        (Some("data_sync"), Some(1))
    );
    let id: dbfleet::domain::BatchId = batch["id"].as_str().unwrap().parse().unwrap();
    let ended = eventually("the sync batch to end", || async {
        let batch = world.store.batches().get(id).await.unwrap();
        batch.filter(|b| b.status.is_terminal())
    })
    .await;
    assert_eq!(ended.status, dbfleet::store::BatchStatus::Success);
    assert_eq!(orders(&target).await, orders(&source).await);
    let (status, runs) = api
        .get("/sync-runs?definition=orders-copy&status=success")
        .await;
    assert_eq!(status, StatusCode::OK, "{runs}");
    assert_eq!(runs[0]["rows_applied"], 50);
    assert_eq!(runs[0]["worker"], "w1");

    let (status, body) = api.post("/syncs/nope/run", json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let elsewhere = json!({ "target": "src-pg" });
    let (status, body) = api.post("/syncs/orders-copy/run", elsewhere).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = api.get("/sync-runs?status=done").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = api
        .post("/syncs/orders-copy/run", json!({ "mode": "fast" }))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["details"]["field"], "mode", "{body}");
    let syncs = world.store.syncs();
    syncs
        .set_enabled("orders-copy", Some(false), "ops", chrono::Utc::now())
        .await
        .unwrap();
    let (status, body) = api.post("/syncs/orders-copy/run", json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    fleet.stop().await;
    api.stop();
    world.teardown().await;
    common::drop_pg_databases(&[source, target]).await;
}
