//! The `dbfleet` binary as an operator runs it: a fleet whose instances
//! hang, and a control store whose schema has one owner.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{pg_admin, pg_ident};
use serde_json::Value;

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// A server on loopback that accepts connections and never says a word,
/// as a hung instance or a black-holed route does.
fn silent_server() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    port
}

/// Six instances that hang, one job at a time, a 5-second job budget: every
/// job is attempted and fails from its own run (its connection times out),
/// none for having waited in the queue behind the others.
#[test]
fn every_job_of_a_hung_fleet_is_attempted_from_its_own_start() {
    let port = silent_server();
    let dir = std::env::temp_dir().join(format!("dbfleet-hung-{}", common::tag()));
    std::fs::create_dir_all(&dir).unwrap();
    let instances: String = (0..6)
        .map(|n| {
            format!(
                "  - {{ name: hung-{n}, engine: mysql, host: 127.0.0.1, port: {port}, username: x }}\n"
            )
        })
        .collect();
    let config = dir.join("dbfleet.yaml");
    std::fs::write(
        &config,
        format!(
            "data_dir: {}\nfilters:\n  path: config/database_filters.yaml\nlog:\n  level: warn\n\
             worker:\n  concurrency: 1\njob:\n  deadline: 5s\n  connect_timeout: 2s\n  \
             statement_timeout: 4s\ninstances:\n{instances}",
            dir.join("data").display()
        ),
    )
    .unwrap();
    let began = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_dbfleet"))
        .current_dir(common::repo_root())
        .args(["--config", config.to_str().unwrap(), "run", "--json"])
        .env_remove("DBFLEET__STORE__URL")
        .env_remove("DBFLEET__BROKER__URL")
        .output()
        .unwrap();
    let took = began.elapsed();
    std::fs::remove_dir_all(&dir).ok();

    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        (report["total"].as_i64(), report["failed"].as_i64()),
        (Some(6), Some(6))
    );
    let jobs = report["jobs"].as_array().unwrap();
    let messages: BTreeMap<&str, &str> = jobs
        .iter()
        .map(|j| {
            (
                j["instance"].as_str().unwrap(),
                j["error"]["message"].as_str().unwrap(),
            )
        })
        .collect();
    for job in jobs {
        let message = job["error"]["message"].as_str().unwrap();
        assert_eq!(job["error"]["class"], "timeout", "{messages:#?}");
        assert!(message.contains("took longer than 2s"), "{messages:#?}");
        assert!(job["started_at"].is_string(), "every job ran: {job}");
    }
    // One at a time, each about its connect timeout: the queue's tail did
    // not wait for a deadline counted from dispatch.
    assert!(took >= Duration::from_secs(12), "{took:?}");
}

/// A PostgreSQL database of our own, dropped at the end.
struct StoreDb {
    name: String,
}

impl StoreDb {
    async fn new() -> Self {
        let name = format!("dbft_owner_{}", common::tag());
        let mut admin = pg_admin().await;
        let sql = format!("CREATE DATABASE {}", pg_ident(&name));
        sqlx::raw_sql(&sql).execute(&mut admin).await.unwrap();
        Self { name }
    }

    fn url(&self, user: &str) -> String {
        format!("postgres://{user}@127.0.0.1:5432/{}", self.name)
    }

    async fn drop(self, role: &str) {
        common::drop_pg_database(&self.name).await;
        let mut admin = pg_admin().await;
        let sql = format!("DROP ROLE IF EXISTS {}", pg_ident(role));
        let _ = sqlx::raw_sql(&sql).execute(&mut admin).await;
    }
}

fn dbfleet(store_url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dbfleet"))
        .current_dir(common::repo_root())
        .args(["--config", "config/dbfleet.yaml"])
        .args(args)
        .env("DBFLEET__STORE__URL", store_url)
        .env("DBFLEET__LOG__LEVEL", "warn")
        .output()
        .unwrap()
}

/// Grant `role` data rights only on `db`: no DDL anywhere.
async fn data_rights_only(db: &str, role: &str) {
    let mut admin = pg_admin().await;
    let create = format!("CREATE ROLE {} LOGIN", pg_ident(role));
    sqlx::raw_sql(&create).execute(&mut admin).await.unwrap();
    let mut store = sqlx::postgres::PgConnectOptions::new_without_pgpass()
        .host("127.0.0.1")
        .username("postgres")
        .database(db);
    store = store.port(5432);
    let mut conn = sqlx::ConnectOptions::connect(&store).await.unwrap();
    let role = pg_ident(role);
    for sql in [
        format!("REVOKE CREATE ON SCHEMA public FROM PUBLIC, {role}"),
        format!("GRANT USAGE ON SCHEMA public TO {role}"),
        format!("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}"),
        format!("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}"),
    ] {
        sqlx::raw_sql(&sql).execute(&mut conn).await.unwrap();
    }
}

/// Only `dbfleet migrate` changes the schema. Every other command checks it
/// and, when it is missing or older, stops with exit 2 and says what to
/// run; a role with data rights only runs every other command.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_migrate_changes_the_schema_and_a_data_only_role_runs_the_rest() {
    let db = StoreDb::new().await;
    let owner = db.url("postgres");

    let early = dbfleet(&owner, &["instance", "list"]);
    assert_eq!(early.status.code(), Some(2), "{}", stderr(&early));
    assert!(
        stderr(&early).contains("run `dbfleet migrate`"),
        "{}",
        stderr(&early)
    );

    let created = dbfleet(&owner, &["migrate"]);
    assert_eq!(created.status.code(), Some(0), "{}", stderr(&created));
    assert!(stdout(&created).starts_with("created the control store's schema at version"));
    assert!(
        !stderr(&created).contains("already exists"),
        "no notice: {}",
        stderr(&created)
    );
    let again = dbfleet(&owner, &["migrate"]);
    assert!(stdout(&again).starts_with("the control store is already at version"));

    let role = format!("dbft_dml_{}", common::tag());
    data_rights_only(&db.name, &role).await;
    let dml = db.url(&role);
    let add = dbfleet(
        &dml,
        &[
            "instance",
            "add",
            "orders",
            "--db-type",
            "postgresql",
            "--host",
            "10.0.0.5",
            "--username",
            "mon",
        ],
    );
    assert_eq!(add.status.code(), Some(0), "{}", stderr(&add));
    let list = dbfleet(&dml, &["instance", "list", "--json"]);
    assert_eq!(list.status.code(), Some(0), "{}", stderr(&list));
    let listed: Value = serde_json::from_str(&stdout(&list)).unwrap();
    assert_eq!(listed[0]["name"], "orders");

    db.drop(&role).await;
}
