//! Black-box: what `dbfleet` says when it cannot work as asked, and the
//! exit code scripts see. Usage and configuration problems exit 2 and name
//! the flag or key; a store or broker that cannot be reached exits 1 at
//! once, naming its endpoint (never its password) and the root cause, once.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::closed_port;

const PASSWORD: &str = "hunter2-do-not-show";

fn repo_file(path: &str) -> PathBuf {
    common::repo_root().join(path)
}

/// `dbfleet` on the shipped configuration, with `env` overrides.
fn dbfleet(args: &[&str], env: &[(&str, String)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dbfleet"));
    command
        .arg("--config")
        .arg(repo_file("config/dbfleet.yaml"))
        .args(args)
        .env(
            "DBFLEET__FILTERS__PATH",
            repo_file("config/database_filters.yaml"),
        )
        .env("DBFLEET__LOG__LEVEL", "warn")
        .env_remove("RUST_LOG");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// Exit code 2, and every one of `wanted` in what it printed.
fn assert_usage(out: &Output, wanted: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for text in wanted {
        assert!(err.contains(text), "`{text}` missing from:\n{err}");
    }
}

/// A directory of the test's own, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("dbfleet-errors-{}", common::tag()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn bad_flags_exit_2_and_name_the_flag() {
    let add = |extra: &[&str]| {
        let mut args = vec!["instance", "add", "x", "--db-type", "mysql"];
        args.extend_from_slice(extra);
        dbfleet(&args, &[])
    };
    let cases = [
        (
            add(&["--host", "h", "--username", "u", "--port", "0"]),
            "error: invalid value '0' for '--port <PORT>': 0 is not in 1..=65535",
        ),
        (
            add(&["--host", "", "--username", "u"]),
            "error: invalid value '' for '--host <HOST>': must not be empty",
        ),
        (
            add(&["--host", "h", "--username", ""]),
            "error: invalid value '' for '--username <USERNAME>': must not be empty",
        ),
        (
            add(&[
                "--host",
                "h",
                "--username",
                "u",
                "--password-env",
                "DB PASS",
            ]),
            "error: invalid value 'DB PASS' for '--password-env <PASSWORD_ENV>': \
             not an environment variable name",
        ),
        (
            dbfleet(&["batch", "list", "--limit", "0"], &[]),
            "error: invalid value '0' for '--limit <LIMIT>': 0 is not in 1..=10000",
        ),
        (
            dbfleet(&["dlq", "list", "--limit", "0"], &[]),
            "error: invalid value '0' for '--limit <LIMIT>': 0 is not in 1..=10000",
        ),
    ];
    for (out, message) in cases {
        assert_usage(&out, &[message]);
        assert!(
            !stderr(&out).contains("check constraint"),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn a_missing_configuration_file_exits_2_and_names_it_and_the_flag() {
    let scratch = Scratch::new();
    let missing = scratch.path().join("nowhere.yaml");
    let out = Command::new(env!("CARGO_BIN_EXE_dbfleet"))
        .arg("--config")
        .arg(&missing)
        .args(["instance", "list"])
        .output()
        .unwrap();
    assert_usage(
        &out,
        &[&format!(
            "{}: cannot read configuration file: No such file or directory (os error 2) \
             (name the file with --config or DBFLEET_CONFIG)",
            missing.display()
        )],
    );
}

#[test]
fn a_missing_or_unreadable_filter_file_exits_2_and_names_it() {
    let scratch = Scratch::new();
    let missing = scratch.path().join("filters.yaml");
    let env = [("DBFLEET__FILTERS__PATH", missing.display().to_string())];
    let out = dbfleet(&["config", "check"], &env);
    assert_usage(
        &out,
        &[&format!(
            "error: filter file `{}` not found",
            missing.display()
        )],
    );

    // A directory where the file should be: unreadable, said once.
    let env = [(
        "DBFLEET__FILTERS__PATH",
        scratch.path().display().to_string(),
    )];
    let out = dbfleet(&["config", "check"], &env);
    let said = format!(
        "error: cannot read filter file `{}`: Is a directory (os error 21)\n",
        scratch.path().display()
    );
    assert_usage(&out, &[&said]);
    assert_eq!(stderr(&out).matches("Is a directory").count(), 1);
}

#[test]
fn config_check_rejects_each_bad_value_and_never_shows_a_password() {
    let cases = [
        (
            "DBFLEET__STORE__URL",
            "postgres://::::".to_string(),
            "environment: store.url: invalid store URL: empty host (from DBFLEET__STORE__URL)",
        ),
        (
            "DBFLEET__STORE__URL",
            format!("postgres://fleet:{PASSWORD}@db:5432/x?sslmode=bogus"),
            "environment: store.url: invalid store URL: ",
        ),
        (
            "DBFLEET__BROKER__URL",
            format!("amqp://guest:{PASSWORD}@mq:99999/%2f"),
            "environment: broker.url: invalid broker URL: invalid port number \
             (from DBFLEET__BROKER__URL)",
        ),
        (
            "DBFLEET__BROKER__URL",
            format!("amqp://guest:{PASSWORD}@mq/%2f?heartbeat=often"),
            "environment: broker.url: invalid broker URL: invalid digit found in string",
        ),
        (
            "DBFLEET__LOG__LEVEL",
            "loud".to_string(),
            "environment: log.level: invalid log filter: `loud`: neither a level \
             (trace, debug, info, warn, error, off) nor `target=level`",
        ),
        (
            "DBFLEET__LOG__LEVEL",
            "info,dbfleet=loud".to_string(),
            "environment: log.level: invalid log filter: `dbfleet=loud`: `loud` is not a level",
        ),
    ];
    for (var, value, message) in cases {
        let out = dbfleet(&["config", "check"], &[(var, value.clone())]);
        assert_usage(&out, &[message]);
        assert_eq!(stderr(&out).lines().count(), 1, "{value}: {}", stderr(&out));
        assert!(!stderr(&out).contains(PASSWORD), "{}", stderr(&out));
    }
}

#[test]
fn config_check_names_the_file_and_key_of_every_bad_value_at_once() {
    let scratch = Scratch::new();
    let file = scratch.path().join("dbfleet.yaml");
    std::fs::write(
        &file,
        format!(
            "store:\n  url: 'postgres://::::'\nbroker:\n  url: 'amqp://guest:{PASSWORD}@mq:0x/%2f'\n\
             log:\n  level: loud\n"
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dbfleet"))
        .arg("--config")
        .arg(&file)
        .args(["config", "check"])
        .env_remove("DBFLEET__STORE__URL")
        .env_remove("DBFLEET__BROKER__URL")
        .env_remove("DBFLEET__LOG__LEVEL")
        .output()
        .unwrap();
    let at = file.display();
    assert_usage(
        &out,
        &[
            &format!("{at}: store.url: invalid store URL: empty host\n"),
            &format!("{at}: broker.url: invalid broker URL: invalid port number\n"),
            &format!("{at}: log.level: invalid log filter: `loud`: neither a level"),
        ],
    );
    assert_eq!(stderr(&out).lines().count(), 3, "{}", stderr(&out));
    assert!(!stderr(&out).contains(PASSWORD), "{}", stderr(&out));
}

/// `dbfleet instance list` on `store_url`: its output and how long it took.
fn list_instances(store_url: &str) -> (Output, Duration) {
    let started = Instant::now();
    let out = dbfleet(
        &["instance", "list"],
        &[("DBFLEET__STORE__URL", store_url.to_string())],
    );
    (out, started.elapsed())
}

#[test]
fn an_unreachable_store_fails_at_once_with_its_endpoint_and_the_cause() {
    let port = closed_port();
    let (out, took) = list_instances(&format!(
        "postgres://postgres:{PASSWORD}@127.0.0.1:{port}/dbfleet?sslmode=prefer"
    ));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(
        err,
        format!(
            "error: cannot open the control store postgres://postgres@127.0.0.1:{port}/dbfleet: \
             connection refused\n"
        )
    );
    assert!(took < Duration::from_secs(5), "took {took:?}");

    // What the server says reaches the operator, once.
    let role = format!("dbft_nobody_{}", common::tag());
    let (out, took) = list_instances(&format!(
        "postgres://{role}:{PASSWORD}@127.0.0.1:5432/postgres"
    ));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let cause = format!("role \"{role}\" does not exist");
    assert!(
        err.starts_with(&format!(
            "error: cannot open the control store postgres://{role}@127.0.0.1:5432/postgres: "
        )),
        "{err}"
    );
    assert_eq!(err.matches(&cause).count(), 1, "{err}");
    assert!(!err.contains(PASSWORD), "{err}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[test]
fn an_unreachable_broker_fails_with_its_endpoint_and_the_cause() {
    let scratch = Scratch::new();
    let store = format!("sqlite:{}/store.sqlite", scratch.path().display());
    let port = closed_port();
    let cases = [
        (
            port,
            format!("amqp://guest@127.0.0.1:{port}/%2f: connection refused"),
        ),
        (
            5672,
            "amqp://guest@127.0.0.1:5672/%2f: ACCESS_REFUSED - Login was refused".to_string(),
        ),
    ];
    // A store at the right schema, so the broker is what fails.
    let migrated = dbfleet(&["migrate"], &[("DBFLEET__STORE__URL", store.clone())]);
    assert_eq!(migrated.status.code(), Some(0), "{}", stderr(&migrated));
    for (port, said) in cases {
        let env = [
            ("DBFLEET__STORE__URL", store.clone()),
            (
                "DBFLEET__BROKER__URL",
                format!("amqp://guest:{PASSWORD}@127.0.0.1:{port}/%2f"),
            ),
        ];
        let out = dbfleet(&["dlq", "replay", "--all"], &env);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(
            err.starts_with(&format!("error: cannot connect to the broker {said}")),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(!err.contains(PASSWORD), "{err}");
    }
}
