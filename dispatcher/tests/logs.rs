//! Black-box: what the real `dbfleet` logs. `dbfleet serve` tells each
//! batch's first result and its end at info, and a SIGTERM stops it with
//! nothing above info (lapin's own lines switched on, so an error from a
//! connection left open when the runtime stops would show); `dbfleet
//! migrate` on an up-to-date store says nothing about it on stderr. Logs
//! go to a file here, so they must be plain text.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{eventually, Fleet, World, AMQP};
use dbfleet::fleet::dispatcher::{self, BatchRequest, Selection};
use dbfleet::message::JobKind;

fn store_url(world: &World) -> String {
    format!(
        "postgres://postgres@127.0.0.1:5432/dbft_store_{}",
        world.tag
    )
}

/// `dbfleet` pointed at this world, logging at `level` into `log`.
fn dbfleet(world: &World, args: &[&str], level: &str, log: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dbfleet"));
    command
        .arg("--config")
        .arg(common::repo_root().join("config/dbfleet.yaml"))
        .args(args)
        .env("DBFLEET__STORE__URL", store_url(world))
        .env("DBFLEET__BROKER__URL", AMQP)
        .env("DBFLEET__BROKER__PREFIX", &world.settings.broker.prefix)
        .env(
            "DBFLEET__FILTERS__PATH",
            common::repo_root().join("config/database_filters.yaml"),
        )
        .env("DBFLEET__LOG__LEVEL", level)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap());
    command
}

/// A child process killed if the test fails before it exits.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn read(log: &Path) -> String {
    std::fs::read_to_string(log).unwrap_or_default()
}

/// Lines logged above info, and any sign of a connection that outlived
/// the runtime.
fn above_info(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|line| {
            line.contains(" ERROR ") || line.contains(" WARN ") || line.contains("being shutdown")
        })
        .collect()
}

fn log_dir(world: &World) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dbfleet-logs-{}", world.tag));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_logs_each_batch_and_stops_on_sigterm_with_nothing_above_info() {
    let world = World::new().await;
    world.add_postgres("pg").await;
    world.add_unreachable("down").await;
    let dir = log_dir(&world);
    let log = dir.join("serve.log");
    let serve = dbfleet(&world, &["serve"], "info,lapin=info", &log)
        .spawn()
        .unwrap();
    let mut serve = Proc(serve);
    eventually("serve consuming results", || async {
        read(&log).contains("queue=Results").then_some(())
    })
    .await;

    let mut fleet = Fleet::new();
    fleet.worker(&world, "logs-worker");
    let request = BatchRequest {
        params: &dbfleet::message::JobParams::default_for(JobKind::CapacitySync),
        selection: Selection::AllActive,
        deadline: world.settings.job.deadline,
        requested_by: None,
        interactive: false,
    };
    let batch = dispatcher::start_batch(&world.store, world.broker.as_ref(), &request)
        .await
        .unwrap();
    let ended = dispatcher::wait(&world.store, batch.id, Duration::from_millis(100));
    let ended = common::within("the batch", ended).await.unwrap();
    fleet.stop().await;
    let id = batch.id;
    let end = format!("batch {id} (capacity_sync) ended partial_success");
    eventually("the end logged", || async {
        read(&log).contains(&end).then_some(())
    })
    .await;

    let sigterm = Command::new("kill")
        .args(["-TERM", &serve.0.id().to_string()])
        .status()
        .unwrap();
    assert!(sigterm.success());
    let status = eventually("serve to exit", || {
        let status = serve.0.try_wait().unwrap();
        async move { status }
    })
    .await;
    let text = read(&log);
    assert_eq!(status.code(), Some(0), "{text}");
    assert_eq!(ended.total, 2);
    let progress = format!("INFO dbfleet::fleet::folder: batch {id} (capacity_sync) in progress");
    assert_eq!(text.matches(&progress).count(), 1, "{text}");
    let line = text.lines().find(|l| l.contains(&end)).unwrap();
    for field in [
        "total=2",
        "succeeded=1",
        "failed=1",
        // Other tests create and drop databases on the same server, so the
        // job may warn of one it listed but could not size.
        "warned=",
        "duration=",
    ] {
        assert!(line.contains(field), "{field} missing from {line}");
    }
    assert!(text.contains("shutdown requested"), "{text}");
    assert!(above_info(&text).is_empty(), "{text}");
    assert!(
        !text.contains('\u{1b}'),
        "colour codes in a log file: {text:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    world.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_on_an_up_to_date_store_shows_no_database_notice() {
    let world = World::new().await;
    let dir = log_dir(&world);
    let log = dir.join("migrate.log");
    let status = dbfleet(&world, &["migrate"], "info", &log)
        .status()
        .unwrap();
    let text = read(&log);
    assert!(status.success(), "{text}");
    assert!(!text.contains("already exists"), "{text}");
    assert!(!text.contains("sqlx::postgres::notice"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
    world.teardown().await;
}
