//! Black-box: why `dbfleet-worker` will not start, and its exit code. A
//! configuration problem (the file, the filter file) exits 2 and names
//! it; a control store that cannot be reached is waited for, each attempt
//! naming its endpoint (never its password) and the root cause, once.

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
fn an_unreachable_store_is_waited_for_naming_its_endpoint_and_the_cause() {
    let port = closed_port();
    let url = format!("postgres://postgres:{PASSWORD}@127.0.0.1:{port}/dbfleet");
    let dir = scratch();
    let log = dir.join("worker.log");
    let mut child = Command::new(WORKER_BIN)
        .arg("--config")
        .arg(common::repo_root().join("config/dbfleet.yaml"))
        .env("DBFLEET__BROKER__URL", AMQP)
        .env("DBFLEET__LOG__LEVEL", "warn")
        .env("DBFLEET__STORE__URL", url)
        .env(
            "DBFLEET__FILTERS__PATH",
            common::repo_root().join("config/database_filters.yaml"),
        )
        .env_remove("RUST_LOG")
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let endpoint = format!(
        "cannot open the control store postgres://postgres@127.0.0.1:{port}/dbfleet: \
         connection refused"
    );
    let started = Instant::now();
    let text = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains(&endpoint) || started.elapsed() > Duration::from_secs(20) {
            break text;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let waiting = child.try_wait().unwrap().is_none();
    // SAFETY-free stop: SIGTERM through the shell's `kill`.
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let status = child.wait().unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert!(text.contains(&endpoint), "{text}");
    assert!(
        text.contains("the control store is not ready; waiting"),
        "{text}"
    );
    assert_eq!(
        text.matches("connection refused").count(),
        text.lines().count(),
        "the cause once a line: {text}"
    );
    assert!(!text.contains(PASSWORD), "{text}");
    assert!(waiting, "it waits instead of exiting: {text}");
    assert_eq!(
        status.code(),
        Some(0),
        "SIGTERM while waiting is a clean stop: {text}"
    );
}
