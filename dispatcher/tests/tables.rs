//! `dbfleet run --kind table_sizes` then `dbfleet capacity tables`,
//! black-box on the embedded defaults: the largest tables of a database,
//! the rest summed on one line, and the same rows as JSON.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../tests/common/mod.rs"]
#[macro_use]
mod common;
mod support;

use common::{pg_admin, pg_database, Backend, World};
use sqlx::{Connection, Executor};
use support::{dbfleet, json, stderr, stdout};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_largest_tables_of_a_database_are_listed_with_the_rest_summed() {
    let world = World::on(Backend::Embedded).await;
    let db = format!("dbft_tscli_{}", world.tag);
    let mut admin = pg_admin().await;
    pg_database(&mut admin, &db, 5000).await;
    let url = format!("postgres://postgres@127.0.0.1:5432/{db}");
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    conn.execute("CREATE TABLE a (x int); CREATE TABLE b (x int); CREATE TABLE c (x int)")
        .await
        .unwrap();
    conn.close().await.unwrap();
    world.add_postgres("cli-pg").await;

    let ran = dbfleet(&world, &["run", "--kind", "table_sizes"]);
    assert_eq!(ran.status.code(), Some(0), "{}", stderr(&ran));
    assert!(stdout(&ran).contains("TABLES"), "{}", stdout(&ran));

    let shown = dbfleet(
        &world,
        &[
            "capacity",
            "tables",
            "cli-pg",
            "--database",
            &db,
            "--limit",
            "1",
        ],
    );
    assert_eq!(shown.status.code(), Some(0), "{}", stderr(&shown));
    let text = stdout(&shown);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.len(),
        3,
        "a header, the largest table, the rest: {text}"
    );
    assert!(
        lines[1].contains("public.t") && lines[1].contains("exact"),
        "{text}"
    );
    assert!(lines[2].contains("(3 other tables)"), "{text}");

    let listed = json(&dbfleet(
        &world,
        &["capacity", "tables", "cli-pg", "--database", &db, "--json"],
    ));
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["table_name"].as_str().unwrap())
        .collect();
    assert_eq!(names[0], "public.t", "{listed:#}");
    assert_eq!(names.len(), 4, "{listed:#}");

    let missing = dbfleet(&world, &["capacity", "tables", "no-such"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        stderr(&missing).contains("no instance named `no-such`"),
        "{}",
        stderr(&missing)
    );
    common::drop_pg_database(&db).await;
    world.teardown().await;
}
