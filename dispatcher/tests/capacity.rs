//! `dbfleet capacity …`, black-box on the embedded defaults: `tables`
//! after `dbfleet run --kind table_sizes` (the largest tables of a
//! database, the rest summed on one line, the same rows as JSON), and
//! `forecast` over a seeded history against the configured ceilings; the
//! fleet-wide reads (`top`, `growth`, `tables`, `forecast`) narrowed by
//! `--engine` and `--instance`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../tests/common/mod.rs"]
#[macro_use]
mod common;
mod support;

use common::{pg_admin, pg_database, Backend, World};
use sqlx::{Connection, Executor};
use support::api::{database_sizes, grown, table_names};
use support::{dbfleet, json, stderr, stdout, Files};

on_both_backends!(
    top_growth_and_history_read_the_seeded_days,
    fleet_reads_are_narrowed_by_engine_and_instance,
);

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

/// Thirty days of history for three instances (growing 10 MiB a day
/// towards a 2 GiB ceiling with one wild day; flat under a selector's
/// ceiling; growing with no ceiling): the growing one is first with the
/// days the straight line gives, the others say why they have no day.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_forecast_lists_the_soonest_to_fill_first_and_says_why_others_have_no_day() {
    let world = World::on(Backend::Embedded).await;
    let growing = world.add_postgres("growing").await;
    let flat = world.add_postgres("flat").await;
    let open = world.add_postgres("open-ended").await;
    let labels = dbfleet::labels::Labels::new([("tier", "1")]).unwrap();
    world
        .store
        .instances()
        .set_labels(&flat.name, &labels)
        .await
        .unwrap();
    let first = chrono::NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
    for n in 0..30 {
        let day = first + chrono::Duration::days(n);
        let spike = if n == 20 { 40_000 } else { 0 };
        file_day(&world, &growing, day, 1000 + 10 * n + spike).await;
        file_day(&world, &flat, day, 5000).await;
        file_day(&world, &open, day, 100 + n).await;
    }
    let files = Files::new();
    let store = world.settings.store.url.as_ref().map(|u| {
        use secrecy::ExposeSecret;
        u.expose_secret().to_string()
    });
    let config = files.write(
        "dbfleet.yaml",
        &format!(
            "store:\n  url: {}\nfilters:\n  path: {}/config/database_filters.yaml\n\
             log:\n  level: warn\ncapacity:\n  forecast_days: 30\n  ceilings:\n\
             \x20   - {{ instance: growing, size: 2GiB }}\n\
             \x20   - {{ selector: 'tier=1', size: 10GiB }}\n",
            store.unwrap(),
            common::repo_root().display()
        ),
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dbfleet"))
        .current_dir(common::repo_root())
        .args(["--config", config.to_str().unwrap()])
        .args(["capacity", "forecast", "--date", "2026-03-30", "--json"])
        .output()
        .unwrap();
    let found = json(&out);
    let rows = found.as_array().unwrap();
    let names: Vec<&str> = rows
        .iter()
        .map(|r| r["instance"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["growing", "flat", "open-ended"], "{found:#}");
    assert_eq!(
        rows[0]["days_left"], 76,
        "(2048 - 1290) MiB at 10 a day: {found:#}"
    );
    assert_eq!(
        rows[0]["growth_mb_per_day"], 10.0,
        "the wild day is ignored"
    );
    assert_eq!(rows[0]["ceiling_mb"], 2048);
    assert_eq!(rows[1]["ceiling_mb"], 10_240, "from the selector");
    assert_eq!(rows[1]["days_left"], serde_json::Value::Null);
    assert_eq!(rows[1]["reason"], "not growing");
    assert!(
        rows[2]["reason"].as_str().unwrap().contains("no ceiling"),
        "{found:#}"
    );
    assert_eq!(rows[2]["fit"], "theil-sen");
    world.teardown().await;
}

/// File `mb` MiB in one database of `instance` for `day`, as a capacity
/// sync would (the instance total with it).
async fn file_day(
    world: &World,
    instance: &dbfleet::store::Instance,
    day: chrono::NaiveDate,
    mb: i64,
) {
    let at = day.and_hms_opt(3, 0, 0).unwrap().and_utc();
    let filing = dbfleet::store::Filing {
        measured: vec![dbfleet::store::StatRow {
            database_name: "app".to_string(),
            size_mb: mb,
            data_size_mb: None,
            log_size_mb: None,
            method: None,
            collected_at: at,
        }],
        ..dbfleet::store::Filing::new(day, at)
    };
    world.store.runs().file(instance.id, &filing).await.unwrap();
}

/// `capacity top`, `growth` and `history` over a seeded week of two
/// instances: the largest databases first, the fastest-growing first with
/// the change in MiB and percent, and one instance's and one database's
/// days; on both stores.
async fn top_growth_and_history_read_the_seeded_days(backend: Backend) {
    let world = World::on(backend).await;
    let a = world.add_postgres("hist-a").await.id.0;
    let b = world.add_postgres("hist-b").await.id.0;
    for (day, orders, logs, pay) in [
        ("2026-04-01", 100, 500, 40),
        ("2026-04-04", 150, 500, 42),
        ("2026-04-07", 300, 490, 50),
    ] {
        support::api::file_day(&world, a, day, &[("orders", orders), ("logs", logs)]).await;
        support::api::file_day(&world, b, day, &[("pay", pay)]).await;
    }
    let read = |args: &[&str]| json(&dbfleet(&world, args));

    let top = read(&["capacity", "top", "--limit", "2", "--json"]);
    let top: Vec<(&str, i64)> = top
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["database_name"].as_str().unwrap(),
                r["size_mb"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(top, [("logs", 490), ("orders", 300)]);

    let growth = read(&[
        "capacity",
        "growth",
        "--days",
        "6",
        "--date",
        "2026-04-07",
        "--json",
    ]);
    let rows = growth.as_array().unwrap();
    let changes: Vec<(&str, i64)> = rows
        .iter()
        .map(|r| {
            (
                r["database_name"].as_str().unwrap(),
                r["change_mb"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(changes, [("orders", 200), ("pay", 10), ("logs", -10)]);
    assert_eq!(rows[0]["change_percent"], 200.0);
    assert_eq!(
        (&rows[0]["from_date"], &rows[0]["to_date"]),
        (
            &serde_json::json!("2026-04-01"),
            &serde_json::json!("2026-04-07")
        )
    );
    let narrow = read(&[
        "capacity",
        "growth",
        "--days",
        "3",
        "--date",
        "2026-04-07",
        "--json",
    ]);
    assert_eq!(narrow[0]["change_mb"], 150, "from the 4th only: {narrow:#}");

    let days = read(&[
        "capacity",
        "history",
        "hist-a",
        "--since",
        "2026-04-01",
        "--date",
        "2026-04-07",
        "--json",
    ]);
    let totals: Vec<i64> = days
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["total_size_mb"].as_i64().unwrap())
        .collect();
    assert_eq!(totals, [600, 650, 790]);
    let one = read(&[
        "capacity",
        "history",
        "hist-a",
        "--database",
        "orders",
        "--since",
        "2026-04-02",
        "--date",
        "2026-04-07",
        "--json",
    ]);
    let sizes: Vec<i64> = one
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["size_mb"].as_i64().unwrap())
        .collect();
    assert_eq!(sizes, [150, 300]);
    let text = stdout(&dbfleet(
        &world,
        &["capacity", "growth", "--days", "6", "--date", "2026-04-07"],
    ));
    assert!(text.contains("+200") && text.contains("+200.00"), "{text}");
    world.teardown().await;
}

/// `dbfleet run --kind aggregate --params …` on the embedded defaults, for
/// an instance nothing listens for (the kind needs only the store), then
/// `capacity aggregates` as a table and as JSON.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregates_are_run_and_read_from_the_command_line() {
    let world = World::on(Backend::Embedded).await;
    let down = world
        .add_instance(
            "agg-cli",
            dbfleet::domain::DbType::Postgresql,
            common::closed_port(),
            "nobody",
            dbfleet::secret::PasswordRef::None,
        )
        .await;
    // Every parameter has a default: the kind alone runs (before any
    // history is filed, so it writes nothing).
    let alone = dbfleet(&world, &["run", "--kind", "aggregate"]);
    assert_eq!(alone.status.code(), Some(0), "{}", stderr(&alone));
    for (day, mb) in [
        ("2026-01-05", 100),
        ("2026-02-03", 110),
        ("2026-02-04", 121),
    ] {
        file_day(&world, &down, day.parse().unwrap(), mb).await;
    }
    let params = r#"{"periods":["monthly"],"date":"2026-03-01"}"#;
    let ran = dbfleet(&world, &["run", "--kind", "aggregate", "--params", params]);
    assert_eq!(ran.status.code(), Some(0), "{}", stderr(&ran));
    assert!(
        stdout(&ran).contains("monthly 2026-02-01..2026-02-28"),
        "{}",
        stdout(&ran)
    );

    // February: (110 + 121) / 2 = 115.5 → 116; January 100: +15.5 → +16
    // MiB, +15.50 %, growing. The instance's totals are the same.
    let shown = dbfleet(
        &world,
        &["capacity", "aggregates", "agg-cli", "--period", "monthly"],
    );
    assert_eq!(shown.status.code(), Some(0), "{}", stderr(&shown));
    let text = stdout(&shown);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "a header, the instance, `app`: {text}");
    assert!(lines[1].contains("(instance)"), "{text}");
    for part in ["2026-02-01", "app", "116", "+16", "+15.50", "growing"] {
        assert!(lines[2].contains(part), "`{part}` in {text}");
    }

    let read = |args: &[&str]| json(&dbfleet(&world, args));
    let app = read(&[
        "capacity",
        "aggregates",
        "agg-cli",
        "--database",
        "app",
        "--json",
    ]);
    let rows = app.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{app:#}");
    assert_eq!(
        (
            &rows[0]["avg_size_mb"],
            &rows[0]["sample_count"],
            &rows[0]["trend"]
        ),
        (
            &serde_json::json!(116),
            &serde_json::json!(2),
            &serde_json::json!("growing")
        )
    );
    assert_eq!(rows[0]["size_change_percent"], 15.5);
    let later = read(&[
        "capacity",
        "aggregates",
        "agg-cli",
        "--since",
        "2026-03-01",
        "--json",
    ]);
    assert_eq!(later, serde_json::json!([]));
    let bad = dbfleet(
        &world,
        &["capacity", "aggregates", "agg-cli", "--period", "hourly"],
    );
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    world.teardown().await;
}

/// The world of `support::api::seed_two_engines`, registered here; the
/// instances' ids.
async fn two_engines(world: &World) -> [i64; 3] {
    let pg_a = world.add_postgres("pg-a").await.id.0;
    let pg_b = world.add_postgres("pg-b").await.id.0;
    let my_a = world
        .add_instance(
            "my-a",
            dbfleet::domain::DbType::Mysql,
            common::closed_port(),
            "nobody",
            dbfleet::secret::PasswordRef::None,
        )
        .await
        .id
        .0;
    support::api::seed_two_engines(world, [pg_a, pg_b, my_a]).await;
    [pg_a, pg_b, my_a]
}

/// `top`, `growth`, `tables` and `forecast` over two PostgreSQL instances
/// and a MySQL one, narrowed by engine (in any of its spellings) and by
/// instance; an unknown instance is an error, a bad engine a usage error.
async fn fleet_reads_are_narrowed_by_engine_and_instance(backend: Backend) {
    let world = World::on(backend).await;
    let [_, pg_b, _] = two_engines(&world).await;
    let read = |args: &[&str]| json(&dbfleet(&world, args));
    let owned = |rows: &[(&str, &str, i64)]| -> Vec<(String, String, i64)> {
        rows.iter()
            .map(|(i, d, n)| (i.to_string(), d.to_string(), *n))
            .collect()
    };

    let top = read(&["capacity", "top", "--json"]);
    let all = [
        ("pg-a", "logs", 410),
        ("my-a", "shop", 330),
        ("pg-a", "orders", 180),
        ("pg-b", "pay", 60),
        ("my-a", "cart", 40),
    ];
    assert_eq!(database_sizes(&top), owned(&all));
    for engine in ["mysql", "mariadb", "MySQL"] {
        let mysql = read(&["capacity", "top", "--engine", engine, "--json"]);
        let want = [("my-a", "shop", 330), ("my-a", "cart", 40)];
        assert_eq!(database_sizes(&mysql), owned(&want), "--engine {engine}");
    }
    let one = read(&[
        "capacity",
        "top",
        "--instance",
        "pg-a",
        "--limit",
        "1",
        "--json",
    ]);
    assert_eq!(database_sizes(&one), owned(&[("pg-a", "logs", 410)]));
    let none = read(&[
        "capacity",
        "top",
        "--engine",
        "pg",
        "--instance",
        "my-a",
        "--json",
    ]);
    assert_eq!(none, serde_json::json!([]), "both filters apply");

    let window = ["capacity", "growth", "--days", "4", "--date", "2026-05-05"];
    let pg = read(&[&window[..], &["--engine", "postgresql", "--json"]].concat());
    let want = serde_json::json!([
        grown("pg-a", "postgresql", "orders", (100, 180), 80.0),
        grown("pg-a", "postgresql", "logs", (400, 410), 2.5),
        grown("pg-b", "postgresql", "pay", (50, 60), 20.0),
    ]);
    assert_eq!(pg, want);
    let my = read(
        &[
            &window[..],
            &["--instance", "my-a", "--limit", "1", "--json"],
        ]
        .concat(),
    );
    let want = serde_json::json!([grown("my-a", "mysql", "cart", (10, 40), 300.0)]);
    assert_eq!(my, want, "30 MiB each; `cart` first by name");
    let text = stdout(&dbfleet(
        &world,
        &[&window[..], &["--engine", "mysql"]].concat(),
    ));
    assert!(text.contains("cart") && text.contains("+300.00"), "{text}");
    assert!(!text.contains("orders"), "{text}");

    let on_5th = ["capacity", "tables", "--date", "2026-05-05"];
    let tables = read(&[&on_5th[..], &["--limit", "3", "--json"]].concat());
    let names = |rows: &[(&str, &str, &str)]| -> Vec<(String, String, String)> {
        rows.iter()
            .map(|(i, d, t)| (i.to_string(), d.to_string(), t.to_string()))
            .collect()
    };
    let want = [
        ("pg-a", "orders", "public.lines"),
        ("my-a", "shop", "shop.items"),
        ("pg-a", "logs", "public.events"),
    ];
    assert_eq!(table_names(&tables), names(&want), "{tables:#}");
    assert_eq!(
        (&tables[0]["total_bytes"], &tables[0]["collected_date"]),
        (&serde_json::json!(12_000), &serde_json::json!("2026-05-04")),
        "the database's latest snapshot on or before the day"
    );
    let mysql = read(&[&on_5th[..], &["--engine", "mysql", "--json"]].concat());
    let want = [
        ("my-a", "shop", "shop.items"),
        ("my-a", "shop", "shop.users"),
    ];
    assert_eq!(
        table_names(&mysql),
        names(&want),
        "rest rows are not tables"
    );
    let pg_a = read(&[&on_5th[..], &["--instance", "pg-a", "--json"]].concat());
    assert_eq!(table_names(&pg_a).len(), 3, "{pg_a:#}");
    let latest = read(&["capacity", "tables", "--limit", "1", "--json"]);
    assert_eq!(
        latest[0]["total_bytes"], 99_999,
        "today: the 7th's snapshot"
    );
    let text = stdout(&dbfleet(&world, &[&on_5th[..], &["--limit", "2"]].concat()));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "a header and two tables: {text}");
    assert!(
        lines[0].starts_with("INSTANCE") && lines[1].contains("pg-a"),
        "{text}"
    );
    let per_instance = read(&[
        "capacity",
        "tables",
        "my-a",
        "--date",
        "2026-05-05",
        "--json",
    ]);
    assert_eq!(
        per_instance.as_array().unwrap().len(),
        3,
        "with its rest row"
    );

    let forecast = read(&["capacity", "forecast", "--engine", "mysql", "--json"]);
    let instances: Vec<&str> = forecast
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["instance"].as_str().unwrap())
        .collect();
    assert_eq!(instances, ["my-a"]);

    // `--since`: what was last measured (or snapshot) before it is left out.
    support::api::file_day(&world, pg_b, "2026-04-20", &[("old", 5)]).await;
    let pg_b = read(&["capacity", "top", "--instance", "pg-b", "--json"]);
    let want = [("pg-b", "pay", 60), ("pg-b", "old", 5)];
    assert_eq!(database_sizes(&pg_b), owned(&want));
    let since = [
        "capacity",
        "top",
        "--instance",
        "pg-b",
        "--since",
        "2026-05-01",
    ];
    let recent = read(&[&since[..], &["--json"]].concat());
    assert_eq!(database_sizes(&recent), owned(&[("pg-b", "pay", 60)]));
    let since = ["--since", "2026-05-04", "--json"];
    let recent = read(&[&on_5th[..], &since[..]].concat());
    let want = [
        ("pg-a", "orders", "public.lines"),
        ("my-a", "shop", "shop.items"),
        ("pg-a", "orders", "public.heads"),
        ("my-a", "shop", "shop.users"),
    ];
    assert_eq!(
        table_names(&recent),
        names(&want),
        "logs' snapshot is older"
    );

    for args in [
        &["capacity", "top", "--instance", "ghost"][..],
        &["capacity", "growth", "--instance", "ghost"],
        &["capacity", "tables", "--instance", "ghost"],
        &["capacity", "forecast", "--instance", "ghost"],
    ] {
        let missing = dbfleet(&world, args);
        assert_eq!(
            missing.status.code(),
            Some(1),
            "{args:?}: {}",
            stderr(&missing)
        );
        assert!(
            stderr(&missing).contains("no instance named `ghost`"),
            "{}",
            stderr(&missing)
        );
    }
    for args in [
        &["capacity", "top", "--engine", "oracle"][..],
        &["capacity", "growth", "--engine", "oracle"],
        &["capacity", "tables", "--engine", "oracle"],
        &["capacity", "forecast", "--engine", "oracle"],
        &["capacity", "tables", "my-a", "--engine", "mysql"],
    ] {
        let bad = dbfleet(&world, args);
        assert_eq!(bad.status.code(), Some(2), "{args:?}: {}", stderr(&bad));
        assert!(stderr(&bad).contains("--engine"), "{}", stderr(&bad));
    }
    world.teardown().await;
}
