//! Schedules, black-box: two `dbfleet serve` processes on one control store
//! fire each slot once; `dbfleet schedule …` and `/api/v1/schedules` list,
//! pause, resume and trigger them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../tests/common/mod.rs"]
#[macro_use]
mod common;
mod support;

use std::path::PathBuf;

use common::{eventually, World};
use dbfleet::domain::DbType;
use dbfleet::secret::PasswordRef;
use reqwest::StatusCode;
use serde_json::json;
use support::api::Api;
use support::{dbfleet_with, json, stderr, stdout, Files};

/// A configuration file holding `schedules` (YAML lines).
fn config(files: &Files, schedules: &str) -> PathBuf {
    let filters = common::repo_root().join("config/database_filters.yaml");
    let text = format!(
        "filters:\n  path: {}\naggregator:\n  sweep_interval: 1s\nschedules:\n{schedules}",
        filters.display()
    );
    files.write("dbfleet.yaml", &text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_serve_processes_fire_each_slot_once() {
    // No instance: each run is a batch of no job, which ends at once, so a
    // schedule firing every second is never held back by its last batch.
    let world = World::new().await;
    let files = Files::new();
    let every_second = "  - { name: tick, kind: probe, cron: \"* * * * * *\" }\n";
    let config = config(&files, every_second);
    let (a, b) = (
        Api::start_with(&world, &config, &[]).await,
        Api::start_with(&world, &config, &[]).await,
    );
    let runs = eventually("five runs of the schedule", || async {
        let runs = world.store.schedules().runs("tick", 1000).await.unwrap();
        (runs.len() >= 5).then_some(())
    });
    runs.await;
    let (log_a, log_b) = (a.stop(), b.stop());
    let runs = world.store.schedules().runs("tick", 1000).await.unwrap();
    let batches = world.store.batches().list(1000).await.unwrap();
    let scheduled: Vec<_> = batches
        .iter()
        .filter(|b| b.requested_by.as_deref() == Some("schedule tick"))
        .collect();
    assert_eq!(
        scheduled.len(),
        runs.len(),
        "one batch per run:\n{log_a}\n{log_b}"
    );
    let mut slots: Vec<_> = runs.iter().map(|r| r.slot).collect();
    slots.dedup();
    assert_eq!(slots.len(), runs.len(), "each slot once");
    for run in &runs {
        assert!(scheduled.iter().any(|b| b.id == run.batch_id));
        assert!(run.started_by.starts_with("serve "), "{}", run.started_by);
    }
    world.teardown().await;
}

/// A fleet world with one instance nobody listens for: its probe jobs
/// stay pending with no worker, so a triggered batch keeps running.
async fn world_with_an_unreachable_instance() -> World {
    let world = World::new().await;
    let password = PasswordRef::env("DBFLEET_TEST_NO_PASSWORD").unwrap();
    let port = common::closed_port();
    let instance = world.add_instance("far", DbType::Postgresql, port, "nobody", password);
    instance.await;
    world
}

const NIGHTLY: &str = "  - name: nightly\n    kind: probe\n    cron: \"0 2 * * *\"\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_lists_pauses_resumes_and_triggers() {
    let world = world_with_an_unreachable_instance().await;
    let files = Files::new();
    let config = config(&files, NIGHTLY);
    let cli = |args: &[&str]| dbfleet_with(&world, &config, args);

    let listed = json(&cli(&["schedule", "list", "--json"]));
    assert_eq!(listed[0]["name"], "nightly");
    assert_eq!(
        (listed[0]["kind"].as_str(), listed[0]["paused"].as_bool()),
        (Some("probe"), Some(false))
    );
    assert!(
        listed[0]["next_start"]
            .as_str()
            .unwrap()
            .ends_with("T02:00:00Z"),
        "{listed}"
    );

    let paused = cli(&["schedule", "pause", "nightly"]);
    assert_eq!(paused.status.code(), Some(0), "{}", stderr(&paused));
    assert!(stdout(&paused).contains("schedule `nightly` paused"));
    let listed = json(&cli(&["schedule", "list", "--json"]));
    assert_eq!(listed[0]["paused"], true);
    assert!(listed[0]["next_start"].is_null());
    let table = stdout(&cli(&["schedule", "list"]));
    assert!(
        table.contains("nightly") && table.contains("paused"),
        "{table}"
    );
    let resumed = cli(&["schedule", "resume", "nightly"]);
    assert_eq!(resumed.status.code(), Some(0), "{}", stderr(&resumed));

    let triggered = json(&cli(&["schedule", "trigger", "nightly", "--json"]));
    assert_eq!(triggered["kind"], "probe");
    assert_eq!(triggered["requested_by"], "schedule nightly");
    let again = cli(&["schedule", "trigger", "nightly"]);
    assert_eq!(again.status.code(), Some(1), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("still running"),
        "{}",
        stderr(&again)
    );

    let unknown = cli(&["schedule", "pause", "nightlly"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        stderr(&unknown).contains("no schedule named `nightlly`"),
        "{}",
        stderr(&unknown)
    );
    world.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_lists_pauses_resumes_and_triggers() {
    let world = world_with_an_unreachable_instance().await;
    let files = Files::new();
    let api = Api::start_with(&world, &config(&files, NIGHTLY), &[]).await;

    let (status, listed) = api.get("/schedules").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (listed[0]["name"].as_str(), listed[0]["cron"].as_str()),
        (Some("nightly"), Some("0 2 * * *"))
    );
    let (status, paused) = api.post("/schedules/nightly/pause", json!(null)).await;
    assert_eq!(status, StatusCode::OK, "{paused}");
    assert_eq!(
        (paused["paused"].as_bool(), paused["changed_by"].as_str()),
        (Some(true), Some("api"))
    );
    let (status, resumed) = api.post("/schedules/nightly/resume", json!(null)).await;
    assert_eq!(
        (status, resumed["paused"].as_bool()),
        (StatusCode::OK, Some(false))
    );

    let (status, batch) = api.post("/schedules/nightly/trigger", json!(null)).await;
    assert_eq!(status, StatusCode::CREATED, "{batch}");
    assert_eq!(
        (batch["kind"].as_str(), batch["total"].as_i64()),
        (Some("probe"), Some(1))
    );
    let (status, refused) = api.post("/schedules/nightly/trigger", json!(null)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    let (status, _) = api.post("/schedules/nope/pause", json!(null)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, listed) = api.get("/schedules").await;
    assert_eq!(listed[0]["last_run"]["manual"], true);
    assert_eq!(listed[0]["last_run"]["batch_id"], batch["id"]);
    api.stop();
    world.teardown().await;
}
