//! Black-box: why `dbfleet-worker` will not start, and its exit code. A
//! configuration problem (the file, the filter file) exits 2 and names
//! it; a control store that cannot be reached exits 1 at once, naming its
//! endpoint (never its password) and the root cause, once.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../tests/common/mod.rs"]
mod common;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{closed_port, AMQP};

const WORKER_BIN: &str = env!("CARGO_BIN_EXE_dbfleet-worker");
const PASSWORD: &str = "hunter2-do-not-show";

/// The worker on the shipped configuration, with `env` overrides.
fn worker(env: &[(&str, String)]) -> Output {
    let mut command = Command::new(WORKER_BIN);
    command
        .arg("--config")
        .arg(common::repo_root().join("config/dbfleet.yaml"))
        .env("DBFLEET__BROKER__URL", AMQP)
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

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dbfleet-worker-errors-{}", common::tag()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_missing_or_unreadable_filter_file_exits_2() {
    let dir = scratch();
    let missing = dir.join("filters.yaml");
    let not_found = worker(&[("DBFLEET__FILTERS__PATH", missing.display().to_string())]);
    let unreadable = worker(&[("DBFLEET__FILTERS__PATH", dir.display().to_string())]);
    std::fs::remove_dir_all(&dir).unwrap();
    let expected = [
        (
            not_found,
            format!("error: filter file `{}` not found\n", missing.display()),
        ),
        (
            unreadable,
            format!(
                "error: cannot read filter file `{}`: Is a directory (os error 21)\n",
                dir.display()
            ),
        ),
    ];
    for (out, said) in expected {
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert_eq!(stderr(&out), said);
    }
}

#[test]
fn a_missing_configuration_file_exits_2_and_names_the_flag() {
    let missing = scratch().join("none.yaml");
    let out = Command::new(WORKER_BIN)
        .arg("--config")
        .arg(&missing)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.starts_with(&format!("{}: cannot read", missing.display())),
        "{err}"
    );
    assert!(err.contains("--config or DBFLEET_CONFIG"), "{err}");
    let _ = std::fs::remove_dir_all(missing.parent().unwrap());
}

#[test]
fn an_unreachable_store_fails_at_once_with_its_endpoint_and_the_cause() {
    let port = closed_port();
    let url = format!("postgres://postgres:{PASSWORD}@127.0.0.1:{port}/dbfleet");
    let started = Instant::now();
    let out = worker(&[
        ("DBFLEET__STORE__URL", url),
        (
            "DBFLEET__FILTERS__PATH",
            common::repo_root()
                .join("config/database_filters.yaml")
                .display()
                .to_string(),
        ),
    ]);
    let took = started.elapsed();
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
}
