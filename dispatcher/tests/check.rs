//! `dbfleet instance check`, black-box: the real binary probes real servers
//! through the fleet (RabbitMQ, a PostgreSQL control store, a worker and the
//! control plane in this process) and on the embedded defaults (everything
//! in the binary). Each monitoring account is made by the test: a MariaDB
//! account without `PROCESS`, a PostgreSQL role that may not `CONNECT` to
//! one database, accounts that hold everything, and an address where
//! nothing listens.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../tests/common/mod.rs"]
#[macro_use]
mod common;
mod support;

use std::collections::BTreeMap;
use std::process::Output;

use common::{closed_port, pg_admin, pg_ident, Backend, Fleet, World};
use dbfleet::domain::DbType;
use dbfleet::secret::PasswordRef;
use dbfleet::tls::{TlsMode, TlsSettings};
use serde_json::Value;
use sqlx::{Connection, Executor, MySqlConnection};

on_both_backends!(
    check_names_each_missing_grant_and_the_unreachable_instance,
    check_of_fully_privileged_accounts_is_clean_and_exits_0,
);

/// `dbfleet instance check` against this world, with `args` after `check`.
fn check(world: &World, args: &[&str]) -> Output {
    support::dbfleet(world, &[&["instance", "check"], args].concat())
}

/// A MariaDB account of its own, with exactly `privileges` globally.
struct MariaAccount {
    user: String,
    password: String,
}

impl MariaAccount {
    async fn new(privileges: &[&str]) -> Self {
        let user = format!("dbfc_{}", common::tag());
        let password = format!("pw-{}", common::tag());
        let mut root = MySqlConnection::connect(common::MARIADB_ADMIN)
            .await
            .unwrap();
        for host in ["%", "localhost"] {
            let sql = format!("CREATE USER '{user}'@'{host}' IDENTIFIED BY '{password}'");
            root.execute(sql.as_str()).await.unwrap();
            for privilege in privileges {
                let sql = format!("GRANT {privilege} ON *.* TO '{user}'@'{host}'");
                root.execute(sql.as_str()).await.unwrap();
            }
        }
        Self { user, password }
    }

    /// Registered with `mode`: the local server offers no TLS.
    async fn register(&self, world: &World, name: &str, mode: TlsMode) {
        let var = format!("DBFC_PW_{}", self.user);
        std::env::set_var(&var, &self.password);
        let env = PasswordRef::Env(var);
        let tls = TlsSettings::mode(mode);
        world
            .add_instance_tls(name, DbType::Mysql, 3306, &self.user, env, tls)
            .await;
    }

    async fn drop(self) {
        let mut root = MySqlConnection::connect(common::MARIADB_ADMIN)
            .await
            .unwrap();
        for host in ["%", "localhost"] {
            let sql = format!("DROP USER IF EXISTS '{}'@'{host}'", self.user);
            let _ = root.execute(sql.as_str()).await;
        }
    }
}

/// A PostgreSQL login role and a database it may not connect to.
struct PgLocked {
    role: String,
    database: String,
}

impl PgLocked {
    async fn new() -> Self {
        let tag = common::tag();
        let (role, database) = (format!("dbfc_mon_{tag}"), format!("dbfc_locked_{tag}"));
        let mut admin = pg_admin().await;
        for sql in [
            format!("CREATE ROLE {} LOGIN", pg_ident(&role)),
            format!("CREATE DATABASE {}", pg_ident(&database)),
            format!(
                "REVOKE CONNECT ON DATABASE {} FROM PUBLIC",
                pg_ident(&database)
            ),
        ] {
            sqlx::raw_sql(&sql).execute(&mut admin).await.unwrap();
        }
        Self { role, database }
    }

    async fn drop(self) {
        common::drop_pg_database(&self.database).await;
        let mut admin = pg_admin().await;
        let sql = format!("DROP ROLE IF EXISTS {}", pg_ident(&self.role));
        let _ = sqlx::raw_sql(&sql).execute(&mut admin).await;
    }
}

/// Start what runs the batch: on the fleet, a worker and the control plane
/// in this process; on the embedded defaults, the binary does it all.
fn start(world: &World) -> Option<Fleet> {
    (world.backend == Backend::Fleet).then(|| Fleet::start(world, 1))
}

fn by_instance(report: &Value) -> BTreeMap<String, Value> {
    report["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| (j["instance"].as_str().unwrap().to_string(), j.clone()))
        .collect()
}

fn warnings(job: &Value) -> Vec<String> {
    job["warnings"]
        .as_array()
        .map(|w| {
            w.iter()
                .map(|w| w["message"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

async fn check_names_each_missing_grant_and_the_unreachable_instance(backend: Backend) {
    let world = World::on(backend).await;
    // Everything but PROCESS (SHOW VIEW is needed since tables outside
    // InnoDB are sized).
    let no_process = MariaAccount::new(&["SHOW DATABASES", "SHOW VIEW"]).await;
    no_process
        .register(&world, "maria-no-process", TlsMode::Prefer)
        .await;
    let locked = PgLocked::new().await;
    let role = locked.role.clone();
    world
        .add_instance("pg-mon", DbType::Postgresql, 5432, &role, PasswordRef::None)
        .await;
    world
        .add_instance("down", DbType::Mysql, closed_port(), "x", PasswordRef::None)
        .await;
    let fleet = start(&world);

    let out = check(&world, &["--json"]);
    if let Some(fleet) = fleet {
        fleet.stop().await;
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["kind"], "probe");
    assert_eq!(report["status"], "partial_success");
    let jobs = by_instance(&report);

    let maria = &jobs["maria-no-process"];
    assert_eq!(maria["status"], "succeeded");
    assert_eq!(maria["flavor"], "mariadb");
    let grant = format!("GRANT PROCESS ON *.* TO '{}'@", no_process.user);
    let found = warnings(maria);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found[0].contains(&grant), "{found:?}");
    // The local MariaDB offers no TLS: `preferred` fell back to clear.
    assert!(found[1].contains("connected in clear"), "{found:?}");
    assert_eq!(maria["security"]["encrypted"], false);
    assert_eq!(maria["security"]["tls_mode"], "preferred");

    let pg = &jobs["pg-mon"];
    assert_eq!(pg["status"], "succeeded");
    // The local PostgreSQL offers TLS, which `prefer` takes.
    assert_eq!(pg["security"]["encrypted"], true, "{pg}");
    assert_eq!(pg["security"]["certificate_verified"], false, "{pg}");
    assert_eq!(pg["account"], role.as_str());
    let grant = format!(
        "GRANT CONNECT ON DATABASE {} TO {}",
        pg_ident(&locked.database),
        pg_ident(&role)
    );
    let found = warnings(pg);
    assert!(found.iter().any(|w| w.contains(&grant)), "{found:?}");
    assert!(
        found.iter().all(|w| w.contains("pg_read_all_stats")),
        "{found:?}"
    );

    let down = &jobs["down"];
    assert_eq!(down["status"], "failed");
    assert_eq!(down["error"]["class"], "connect");
    assert!(report["warned"].as_i64().unwrap() >= 2);

    no_process.drop().await;
    locked.drop().await;
    world.teardown().await;
}

async fn check_of_fully_privileged_accounts_is_clean_and_exits_0(backend: Backend) {
    let world = World::on(backend).await;
    let full = MariaAccount::new(&["PROCESS", "SHOW DATABASES", "SHOW VIEW"]).await;
    full.register(&world, "maria-full", TlsMode::Disable).await;
    world.add_postgres("pg-superuser").await;
    let fleet = start(&world);

    let out = check(&world, &[]);
    if let Some(fleet) = fleet {
        fleet.stop().await;
    }
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    for name in ["maria-full", "pg-superuser"] {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{stdout}"));
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(fields[1], "succeeded", "{line}");
        assert_eq!(fields.last(), Some(&"ok"), "{line}");
    }
    let tls_of = |name: &str| {
        let line = stdout.lines().find(|l| l.starts_with(name)).unwrap();
        line.split_whitespace().rev().nth(1).unwrap().to_string()
    };
    assert_eq!(tls_of("maria-full"), "clear", "{stdout}");
    assert!(tls_of("pg-superuser").starts_with("TLSv1."), "{stdout}");
    assert!(
        stdout.contains("2 of 2 instances reachable, 0 with something to fix"),
        "{stdout}"
    );
    assert!(!stdout.contains(&full.password) && !stderr.contains(&full.password));

    full.drop().await;
    world.teardown().await;
}
