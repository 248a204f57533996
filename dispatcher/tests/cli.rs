//! Black-box tests of the `dbfleet` binary: exit codes, messages and JSON
//! that scripts rely on.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../tests/common/mod.rs"]
mod common;

use std::process::{Command, Output};

use common::{closed_port, Fleet, MariaUser, World};
use dbfleet::domain::DbType;
use serde_json::Value;

fn repo_file(path: &str) -> String {
    format!("{}/../{path}", env!("CARGO_MANIFEST_DIR"))
}

/// `dbfleet` pointed at this world through environment overrides.
fn dbfleet(world: &World, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dbfleet"))
        .args(["--config", &repo_file("config/dbfleet.yaml")])
        .args(args)
        .env("DBFLEET__STORE__URL", store_url(world))
        .env("DBFLEET__BROKER__PREFIX", &world.settings.broker.prefix)
        .env(
            "DBFLEET__FILTERS__PATH",
            repo_file("config/database_filters.yaml"),
        )
        .env("DBFLEET__LOG__LEVEL", "warn")
        .output()
        .unwrap()
}

fn store_url(world: &World) -> String {
    format!(
        "postgres://postgres@127.0.0.1:5432/dbft_store_{}",
        world.tag
    )
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[test]
fn a_bad_config_names_the_file_and_every_problem_with_exit_code_2() {
    let dir = std::env::temp_dir().join(format!("dbfleet-cli-{}", common::tag()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.yaml");
    std::fs::write(
        &file,
        "store:\n  url: postgres://u:hunter2@db/x\nbroker:\n  url: http://guest:hunter2@mq\n  prefx: x\nworker:\n  concurrency: lots\ntimezone: Mars/Base\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dbfleet"))
        .args(["--config", file.to_str().unwrap(), "config", "check"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    for key in [
        "broker.prefx",
        "broker.url",
        "worker.concurrency",
        "timezone",
    ] {
        assert!(err.contains(key), "`{key}` missing from:\n{err}");
    }
    assert!(
        err.lines().all(|l| l.starts_with(file.to_str().unwrap())),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "a password leaked: {err}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn help_is_available_everywhere() {
    for args in [
        &["--help"][..],
        &["instance", "add", "--help"],
        &["batch", "start", "--help"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_dbfleet"))
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}");
        assert!(stdout(&out).contains("Usage:"), "{args:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_start_wait_json_reports_partial_success_with_exit_code_3() {
    let world = World::new().await;
    let maria = MariaUser::new().await;
    maria
        .create_database(&format!("{}_cli", maria.prefix), 64)
        .await;
    let var = format!("DBFT_CLI_PW_{}", world.tag);
    std::env::set_var(&var, &maria.password);

    let port = maria_port_arg();
    let out = dbfleet(
        &world,
        &[
            "instance",
            "add",
            "maria",
            "--db-type",
            "mariadb",
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--username",
            &maria.user,
            "--password-env",
            &var,
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let down = closed_port().to_string();
    let out = dbfleet(
        &world,
        &[
            "instance",
            "add",
            "down",
            "--db-type",
            "postgresql",
            "--host",
            "127.0.0.1",
            "--port",
            &down,
            "--username",
            "x",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let again = dbfleet(
        &world,
        &[
            "instance",
            "add",
            "down",
            "--db-type",
            "mysql",
            "--host",
            "h",
            "--username",
            "x",
        ],
    );
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );

    let list: Value =
        serde_json::from_str(&stdout(&dbfleet(&world, &["instance", "list", "--json"]))).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert!(
        !list.to_string().contains(&maria.password),
        "instance list must not show a password"
    );

    // A worker and the control plane run in this process; the binary
    // dispatches and watches.
    let fleet = Fleet::start(&world, 1);
    let out = dbfleet(&world, &["batch", "start", "--wait", "--json"]);
    fleet.stop().await;
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let batch: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(batch["status"], "partial_success");
    assert_eq!(
        (
            batch["total"].as_i64(),
            batch["succeeded"].as_i64(),
            batch["failed"].as_i64()
        ),
        (Some(2), Some(1), Some(1))
    );
    assert_eq!(batch["total_records"].as_i64(), Some(1));
    let jobs = batch["jobs"].as_array().unwrap();
    let by_name = |n: &str| jobs.iter().find(|j| j["instance"] == n).unwrap().clone();
    assert_eq!(by_name("maria")["status"], "succeeded");
    assert_eq!(by_name("maria")["error"], Value::Null);
    assert!(by_name("maria")["instance_id"].is_i64());
    assert_eq!(by_name("down")["error"]["class"], "connect");
    assert!(by_name("down")["error"]["message"].is_string());
    assert!(!stdout(&out).contains(&maria.password) && !stderr(&out).contains(&maria.password));

    let id = batch["id"].as_str().unwrap();
    let shown: Value =
        serde_json::from_str(&stdout(&dbfleet(&world, &["batch", "show", id, "--json"]))).unwrap();
    assert_eq!(shown["status"], "partial_success");
    assert_eq!(shown["jobs"], batch["jobs"]);
    let unknown = dbfleet(
        &world,
        &["batch", "show", "0190d7a0-0000-7000-8000-000000000001"],
    );
    assert_eq!(unknown.status.code(), Some(1));
    assert!(stderr(&unknown).contains("not found"));

    maria.teardown().await;
    world.teardown().await;
}

fn maria_port_arg() -> String {
    DbType::Mysql.default_port().to_string()
}

/// `dbfleet run` with a configuration file and a data directory of its own.
fn dbfleet_run(config: &std::path::Path, data_dir: &std::path::Path, json: bool) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dbfleet"));
    command
        .current_dir(repo_file(""))
        .args(["--config", config.to_str().unwrap(), "run"])
        .env("DBFLEET__DATA_DIR", data_dir)
        .env_remove("DBFLEET__STORE__URL")
        .env_remove("DBFLEET__BROKER__URL");
    if json {
        command.arg("--json");
    }
    command.output().unwrap()
}

#[test]
fn the_quick_start_syncs_the_local_servers_on_embedded_defaults() {
    let data = std::env::temp_dir().join(format!("dbfleet-quick-{}", common::tag()));
    let out = dbfleet_run(
        &std::path::PathBuf::from(repo_file("config/quickstart.yaml")),
        &data,
        false,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    for instance in ["local-mariadb", "local-postgres"] {
        let line = text
            .lines()
            .find(|l| l.starts_with(instance))
            .unwrap_or_else(|| panic!("{text}"));
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(fields[1], "succeeded", "{line}");
        assert!(
            fields[2].parse::<u32>().unwrap() >= 1,
            "databases sized: {line}"
        );
    }
    assert!(
        text.contains("success: 2 of 2 instances succeeded"),
        "{text}"
    );
    assert!(
        data.join("dbfleet.sqlite").exists(),
        "state lives in the data directory"
    );
    std::fs::remove_dir_all(data).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_reports_a_partial_failure_with_exit_code_3_and_keeps_history() {
    let maria = MariaUser::new().await;
    maria
        .create_database(&format!("{}_run", maria.prefix), 64)
        .await;
    let tag = common::tag();
    let var = format!("DBFT_RUN_PW_{tag}");
    std::env::set_var(&var, &maria.password);
    let dir = std::env::temp_dir().join(format!("dbfleet-run-{tag}"));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("dbfleet.yaml");
    std::fs::write(
        &config,
        format!(
            "filters:\n  path: config/database_filters.yaml\nlog:\n  level: warn\ninstances:\n\
             \x20 - {{ name: maria, engine: mariadb, host: 127.0.0.1, username: {}, password_env: {var} }}\n\
             \x20 - {{ name: down, engine: postgresql, host: 127.0.0.1, port: {}, username: x }}\n",
            maria.user,
            closed_port()
        ),
    )
    .unwrap();

    let out = dbfleet_run(&config, &dir.join("data"), false);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let text = stdout(&out);
    let line = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .unwrap()
            .to_string()
    };
    assert!(line("maria").contains("succeeded"), "{text}");
    assert!(
        line("down").contains("failed") && line("down").contains("connect:"),
        "{text}"
    );
    assert!(!text.contains(&maria.password) && !stderr(&out).contains(&maria.password));

    let again = dbfleet_run(&config, &dir.join("data"), true);
    assert_eq!(again.status.code(), Some(3), "{}", stderr(&again));
    let batch: Value = serde_json::from_str(&stdout(&again)).unwrap();
    assert_eq!(batch["status"], "partial_success");
    assert_eq!(
        (batch["total"].as_i64(), batch["failed"].as_i64()),
        (Some(2), Some(1))
    );
    let instance_ids: Vec<i64> = batch["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["instance_id"].as_i64().unwrap())
        .collect();
    assert_eq!(
        instance_ids.len(),
        2,
        "the same two instances, reconciled, not duplicated"
    );

    std::fs::remove_dir_all(dir).unwrap();
    maria.teardown().await;
}

#[test]
fn batch_start_on_the_embedded_defaults_refuses_and_names_dbfleet_run() {
    let data = std::env::temp_dir().join(format!("dbfleet-refuse-{}", common::tag()));
    let out = Command::new(env!("CARGO_BIN_EXE_dbfleet"))
        .current_dir(repo_file(""))
        .args([
            "--config",
            "config/quickstart.yaml",
            "batch",
            "start",
            "--wait",
        ])
        .env("DBFLEET__DATA_DIR", &data)
        .env_remove("DBFLEET__STORE__URL")
        .env_remove("DBFLEET__BROKER__URL")
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&data);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("dbfleet run"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_goes_away_is_not_an_error() {
    let world = World::new().await;
    for n in 0..3 {
        world.add_unreachable(&format!("closed-{n}")).await;
    }
    // Standard output is a pipe whose reading end is already closed, as
    // after `| head` has read what it wanted.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_dbfleet"))
        .args([
            "--config",
            &repo_file("config/dbfleet.yaml"),
            "instance",
            "list",
        ])
        .env("DBFLEET__STORE__URL", store_url(&world))
        .env("DBFLEET__LOG__LEVEL", "warn")
        .stdout(writer)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    world.teardown().await;
}

/// `instance add` takes a TLS mode in the engine's own words (a word of the
/// other engine is a usage error naming the allowed ones), certificate
/// files as paths, and the fleet's default when no mode is given; `import`
/// takes the same columns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_take_tls_settings_in_their_engine_s_words() {
    let world = World::new().await;
    let add = |name: &str, engine: &str, extra: &[&str]| {
        let mut args = vec!["instance", "add", name, "--db-type", engine];
        args.extend(["--host", "db.example", "--username", "mon"]);
        args.extend(extra);
        dbfleet(&world, &args)
    };
    let wrong = add("maria", "mariadb", &["--tls-mode", "verify-full"]);
    assert_eq!(wrong.status.code(), Some(2), "{}", stderr(&wrong));
    assert!(
        stderr(&wrong).contains(
            "--tls-mode: unknown TLS mode `verify-full` for mysql; expected one of disabled, \
             preferred, required, verify_ca, verify_identity"
        ),
        "{}",
        stderr(&wrong)
    );
    let half = add("maria", "mariadb", &["--tls-cert-file", "/c.pem"]);
    assert_eq!(half.status.code(), Some(2), "{}", stderr(&half));

    let files = [
        "--tls-mode",
        "verify_identity",
        "--tls-ca-file",
        "/etc/dbfleet/ca.pem",
        "--tls-cert-file",
        "/etc/dbfleet/client.pem",
        "--tls-key-file",
        "/etc/dbfleet/client.key",
    ];
    let out = add("maria", "mariadb", &files);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = add("pg", "postgresql", &[]);
    assert!(out.status.success(), "{}", stderr(&out));

    let dir = std::env::temp_dir().join(format!("dbfleet-cli-tls-{}", world.tag));
    std::fs::create_dir_all(&dir).unwrap();
    let csv = dir.join("fleet.csv");
    std::fs::write(
        &csv,
        "name,engine,host,username,tls_mode,tls_ca_file\n\
         pg-csv,postgresql,h,mon,verify-full,/etc/dbfleet/provider-ca.pem\n",
    )
    .unwrap();
    let out = dbfleet(&world, &["instance", "import", csv.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    std::fs::write(
        &csv,
        "name,engine,host,username,tls_mode\nm,mysql,h,u,require\n",
    )
    .unwrap();
    let bad = dbfleet(&world, &["instance", "import", csv.to_str().unwrap()]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    assert!(stderr(&bad).contains("tls_mode"), "{}", stderr(&bad));

    let listed = stdout(&dbfleet(&world, &["instance", "list"]));
    let shown = dbfleet(&world, &["instance", "show", "maria", "--json"]);
    world.teardown().await;

    let mode_of = |name: &str| {
        let line = listed.lines().find(|l| l.contains(name)).unwrap();
        line.split_whitespace().nth(5).unwrap().to_string()
    };
    assert_eq!(mode_of(" maria "), "verify_identity", "{listed}");
    assert_eq!(mode_of(" pg "), "prefer", "{listed}");
    assert_eq!(mode_of(" pg-csv "), "verify-full", "{listed}");
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    let tls = &shown[0]["tls"];
    assert_eq!(tls["mode"], "verify-full", "{shown}");
    assert_eq!(tls["key_file"], "/etc/dbfleet/client.key", "{shown}");
}
