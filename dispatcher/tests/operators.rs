//! What an operator does at the command line and expects to stick: a
//! runtime switch on a declared instance, a name in their own script, two
//! records that turn out to be one server.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../tests/common/mod.rs"]
mod common;

use std::path::PathBuf;
use std::process::{Command, Output};

use common::closed_port;
use serde_json::Value;

/// A configuration file and a data directory of one test's own, on the
/// embedded defaults.
struct Embedded {
    dir: PathBuf,
    config: PathBuf,
}

impl Embedded {
    fn new(instances: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("dbfleet-ops-{}", common::tag()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("dbfleet.yaml");
        let yaml = format!(
            "filters:\n  path: {}/config/database_filters.yaml\nlog:\n  level: warn\n\
             instances:\n{instances}",
            common::repo_root().display()
        );
        std::fs::write(&config, yaml).unwrap();
        Self { dir, config }
    }

    fn dbfleet(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_dbfleet"))
            .args(["--config", self.config.to_str().unwrap()])
            .args(args)
            .env("DBFLEET__DATA_DIR", self.dir.join("data"))
            .env_remove("DBFLEET__STORE__URL")
            .env_remove("DBFLEET__BROKER__URL")
            .output()
            .unwrap()
    }

    fn show(&self, name: &str) -> Value {
        let out = self.dbfleet(&["instance", "show", name, "--json"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        serde_json::from_slice::<Value>(&out.stdout).unwrap()[0].clone()
    }
}

impl Drop for Embedded {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_string()
}

fn declared(name: &str, port: u16) -> String {
    format!("  - {{ name: {name}, engine: mysql, host: 127.0.0.1, port: {port}, username: x }}\n")
}

#[test]
fn an_operator_disable_of_a_declared_instance_survives_the_next_run() {
    let world = Embedded::new(&declared("declared", closed_port()));
    let first = world.dbfleet(&["run"]);
    assert_eq!(
        world.show("declared")["is_active"],
        true,
        "{}",
        text(&first.stderr)
    );

    let out = world.dbfleet(&["instance", "disable", "declared"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("instance reset declared"),
        "{}",
        text(&out.stdout)
    );
    let again = world.dbfleet(&["run"]);
    let shown = world.show("declared");
    assert_eq!(
        shown["is_active"], false,
        "reconciliation undid it: {shown}"
    );
    assert_eq!(shown["active_override"], false, "{shown}");
    assert!(
        again.status.success(),
        "nothing to run: {}",
        text(&again.stderr)
    );
    let listed = text(&world.dbfleet(&["instance", "list"]).stdout);
    assert!(listed.contains("no (override)"), "{listed}");

    // Reset: the configuration (`active: true` by default) decides again.
    let out = world.dbfleet(&["instance", "reset", "declared"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = world.show("declared");
    assert_eq!(
        (&shown["is_active"], &shown["active_override"]),
        (&Value::Bool(true), &Value::Null),
        "{shown}"
    );
    world.dbfleet(&["run"]);
    assert_eq!(world.show("declared")["is_active"], true);

    // Only a declared instance has an override to reset.
    let added = world.dbfleet(&[
        "instance",
        "add",
        "by-hand",
        "--db-type",
        "mysql",
        "--host",
        "h",
        "--username",
        "x",
    ]);
    assert!(added.status.success(), "{}", text(&added.stderr));
    let refused = world.dbfleet(&["instance", "reset", "by-hand"]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stderr));
    assert!(
        text(&refused.stderr).contains("not declared"),
        "{}",
        text(&refused.stderr)
    );
}

#[test]
fn an_instance_name_may_be_written_in_any_script() {
    let world = Embedded::new("  []\n");
    let out = world.dbfleet(&[
        "instance",
        "add",
        "订单库-主",
        "--db-type",
        "mysql",
        "--host",
        "127.0.0.1",
        "--username",
        "x",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(world.show("订单库-主")["name"], "订单库-主");

    let refused = world.dbfleet(&["instance", "show", "订单 库"]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused.stderr));
}

/// Two records of the local MariaDB (two spellings of its address) and one
/// of the local PostgreSQL, as `root` and `postgres`.
fn twice_the_same_server() -> String {
    "  - { name: maria-a, engine: mariadb, host: 127.0.0.1, username: root }\n\
     \x20 - { name: maria-b, engine: mariadb, host: localhost, username: root }\n\
     \x20 - { name: pg, engine: postgresql, host: 127.0.0.1, username: postgres }\n"
        .to_string()
}

#[test]
fn instances_sharing_a_server_are_flagged_by_check_and_run() {
    let world = Embedded::new(&twice_the_same_server());
    let out = world.dbfleet(&["run", "--json"]);
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", text(&out.stderr)));
    let shared = &report["shared_servers"];
    assert_eq!(shared.as_array().map(Vec::len), Some(1), "{report}");
    assert_eq!(
        shared[0]["instances"],
        serde_json::json!(["maria-a", "maria-b"])
    );

    let summary = world.dbfleet(&["run"]);
    let said = text(&summary.stdout);
    assert!(said.contains("maria-a, maria-b"), "{said}");

    let check = world.dbfleet(&["instance", "check"]);
    assert_eq!(check.status.code(), Some(3), "{}", text(&check.stderr));
    let said = text(&check.stdout);
    assert!(said.contains("maria-a, maria-b"), "{said}");
    assert!(!said.contains("pg,"), "{said}");
}

#[test]
fn a_malformed_filter_file_stops_config_check_with_exit_code_2() {
    let world = Embedded::new("  []\n");
    let filters = world.dir.join("filters.yaml");
    std::fs::write(
        &filters,
        "database_filters:\n  mysql:\n    exclude_database: [scratch]\n    exclude_patterns: 'tmp%'\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dbfleet"))
        .args([
            "--config",
            world.config.to_str().unwrap(),
            "config",
            "check",
        ])
        .env("DBFLEET__FILTERS__PATH", &filters)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let said = text(&out.stderr);
    assert!(said.contains("unknown key `exclude_database`"), "{said}");
    assert!(said.contains("exclude_patterns: must be a list"), "{said}");
    assert!(said.contains(filters.to_str().unwrap()), "{said}");
}
