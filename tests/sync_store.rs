//! The control store's side of data sync, on both backends: definitions
//! reconciled from the configuration (an operator's switch survives
//! reconciliation, a definition gone from the file is kept but marked),
//! and the run history (a redelivered job rewrites its rows, filters).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod common;

use chrono::{Duration, Utc};
use common::{Backend, World};
use dbfleet::config::RetentionSettings;
use dbfleet::domain::{BatchId, JobId};
use dbfleet::store::{Reconciled, RunFilter, SyncRun};
use dbfleet::sync::SyncDefinition;

on_both_backends!(
    reconciliation_keeps_the_operators_switch_and_marks_what_the_file_dropped,
    a_run_row_is_rewritten_by_its_job_and_found_by_its_filters,
    retention_deletes_old_ended_runs_and_keeps_running_ones,
    the_latest_ended_run_of_each_table_is_what_alerts_read,
    a_run_left_running_by_another_job_is_ended_as_failed,
);

fn definitions(yaml: &str) -> Vec<SyncDefinition> {
    dbfleet::config::load_from_str("syncs.yaml", yaml, Vec::new())
        .unwrap()
        .syncs
}

fn declared(names: &[(&str, &str)]) -> Vec<SyncDefinition> {
    let mut yaml = "syncs:\n".to_string();
    for (name, table) in names {
        yaml.push_str(&format!(
            "  - {{ name: {name}, source: {{ instance: p, database: s }}, \
             targets: [ {{ instance: b, database: s }} ], tables: [ {{ name: {table} }} ] }}\n"
        ));
    }
    definitions(&yaml)
}

async fn reconciliation_keeps_the_operators_switch_and_marks_what_the_file_dropped(
    backend: Backend,
) {
    let world = World::on(backend).await;
    let syncs = world.store.syncs();
    let now = Utc::now();
    let first = syncs
        .reconcile(&declared(&[("a", "t"), ("b", "t")]), now)
        .await
        .unwrap();
    assert_eq!(first.created, ["a", "b"]);
    assert!(syncs
        .set_enabled("a", Some(false), "ops", now)
        .await
        .unwrap());
    assert!(!syncs
        .set_enabled("nope", Some(false), "ops", now)
        .await
        .unwrap());

    // `a` changes its table, `b` leaves the file, `c` arrives.
    let again = syncs
        .reconcile(&declared(&[("a", "u"), ("c", "t")]), now)
        .await
        .unwrap();
    let expected = Reconciled {
        created: vec!["c".to_string()],
        updated: vec!["a".to_string()],
        unchanged: vec![],
        undeclared: vec!["b".to_string()],
    };
    assert_eq!(again, expected);
    let a = syncs.get("a").await.unwrap().unwrap();
    assert_eq!(a.definition.tables[0].name, "u");
    assert_eq!(
        (a.enabled_override, a.changed_by.as_deref()),
        (Some(false), Some("ops"))
    );
    assert!(
        !a.is_enabled(),
        "the operator's switch outlives reconciliation"
    );
    let b = syncs.get("b").await.unwrap().unwrap();
    assert!(!b.declared && !b.is_enabled());
    let same = syncs
        .reconcile(&declared(&[("a", "u"), ("c", "t")]), now)
        .await
        .unwrap();
    assert_eq!(same.unchanged, ["a", "c"]);
    assert!(syncs.set_enabled("a", None, "ops", now).await.unwrap());
    assert!(syncs.get("a").await.unwrap().unwrap().is_enabled());
    let names: Vec<String> = syncs
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.definition.name)
        .collect();
    assert_eq!(names, ["a", "b", "c"]);
    world.teardown().await;
}

fn run(job: JobId, target: &str, table: &str, status: &str, started: i64) -> SyncRun {
    SyncRun {
        job_id: job,
        batch_id: BatchId(job.0),
        definition: "orders".to_string(),
        target: target.to_string(),
        table: table.to_string(),
        mode: "incremental".to_string(),
        status: status.to_string(),
        started_at: Utc::now() - Duration::seconds(1000 - started),
        ended_at: None,
        rows_read: 0,
        rows_applied: 0,
        rows_deleted: 0,
        chunks_verified: None,
        chunks_differing: None,
        error: None,
        attempt: 1,
        worker: "w".to_string(),
    }
}

async fn a_run_row_is_rewritten_by_its_job_and_found_by_its_filters(backend: Backend) {
    let world = World::on(backend).await;
    let runs = world.store.sync_runs();
    let (one, two) = (JobId::new(), JobId::new());
    runs.record(&run(one, "b_1/copy", "orders", "running", 1))
        .await
        .unwrap();
    let ended = SyncRun {
        ended_at: Some(Utc::now()),
        rows_applied: 42,
        chunks_verified: Some(3),
        chunks_differing: Some(1),
        error: Some("1 chunk differs".to_string()),
        ..run(one, "b_1/copy", "orders", "failed", 1)
    };
    runs.record(&ended).await.unwrap();
    runs.record(&run(one, "b_1/copy", "items", "success", 2))
        .await
        .unwrap();
    runs.record(&run(two, "bx1/copy", "orders", "success", 3))
        .await
        .unwrap();

    let all = |filter: RunFilter<'static>| {
        let runs = world.store.sync_runs();
        async move {
            let found = runs
                .history(&RunFilter {
                    limit: 10,
                    ..filter
                })
                .await
                .unwrap();
            found
                .into_iter()
                .map(|r| format!("{}:{}:{}", r.target, r.table, r.status))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        all(RunFilter::default()).await,
        [
            "bx1/copy:orders:success",
            "b_1/copy:items:success",
            "b_1/copy:orders:failed"
        ]
    );
    // `b_1` is an instance name: its `_` is not a wildcard.
    let by_instance = RunFilter {
        target: Some("b_1"),
        ..RunFilter::default()
    };
    assert_eq!(
        all(by_instance).await,
        ["b_1/copy:items:success", "b_1/copy:orders:failed"]
    );
    let failed = RunFilter {
        status: Some("failed"),
        table: Some("orders"),
        ..RunFilter::default()
    };
    assert_eq!(all(failed).await, ["b_1/copy:orders:failed"]);
    let stored = runs
        .history(&RunFilter {
            status: Some("failed"),
            limit: 1,
            ..RunFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(stored[0].rows_applied, 42);
    assert_eq!(
        (stored[0].chunks_verified, stored[0].chunks_differing),
        (Some(3), Some(1))
    );
    assert_eq!(stored[0].error.as_deref(), Some("1 chunk differs"));
    world.teardown().await;
}

async fn retention_deletes_old_ended_runs_and_keeps_running_ones(backend: Backend) {
    let world = World::on(backend).await;
    let runs = world.store.sync_runs();
    let days_ago = |d: i64| Utc::now() - Duration::days(d);
    let at = |job, table, started: i64, ended: Option<i64>| SyncRun {
        started_at: days_ago(started),
        ended_at: ended.map(days_ago),
        ..run(
            job,
            "b/copy",
            table,
            if ended.is_some() {
                "success"
            } else {
                "running"
            },
            0,
        )
    };
    let job = JobId::new();
    runs.record(&at(job, "old", 40, Some(40))).await.unwrap();
    runs.record(&at(job, "long", 40, None)).await.unwrap();
    runs.record(&at(job, "recent", 40, Some(2))).await.unwrap();
    let retention = RetentionSettings {
        sync_history: Some(30),
        months_ahead: 2,
        ..RetentionSettings::default()
    };
    let today = Utc::now().date_naive();
    let done = world.store.maintain(&retention, today).await.unwrap();
    let deleted: Vec<(String, u64)> = done
        .deleted
        .iter()
        .map(|d| (d.table.clone(), d.rows))
        .collect();
    assert!(
        deleted.contains(&("sync_runs".to_string(), 1)),
        "{deleted:?}"
    );
    let left = runs
        .history(&RunFilter {
            limit: 10,
            ..RunFilter::default()
        })
        .await
        .unwrap();
    let mut tables: Vec<String> = left.into_iter().map(|r| r.table).collect();
    tables.sort();
    assert_eq!(tables, ["long", "recent"]);
    world.teardown().await;
}

async fn the_latest_ended_run_of_each_table_is_what_alerts_read(backend: Backend) {
    let world = World::on(backend).await;
    let syncs = world.store.syncs();
    let now = Utc::now();
    syncs
        .reconcile(&declared(&[("orders", "t")]), now)
        .await
        .unwrap();
    let runs = world.store.sync_runs();
    let ended = |job, table: &str, status: &str, minutes: i64| SyncRun {
        ended_at: Some(Utc::now() - Duration::minutes(minutes)),
        ..run(job, "b/copy", table, status, 0)
    };
    let (old, new) = (JobId::new(), JobId::new());
    runs.record(&ended(old, "orders", "failed", 30))
        .await
        .unwrap();
    runs.record(&ended(new, "orders", "success", 5))
        .await
        .unwrap();
    runs.record(&ended(old, "items", "success", 30))
        .await
        .unwrap();
    runs.record(&ended(new, "items", "failed", 5))
        .await
        .unwrap();
    // Still running: not an outcome yet.
    runs.record(&run(JobId::new(), "b/copy", "lines", "running", 0))
        .await
        .unwrap();
    let latest: Vec<(String, String)> = runs
        .latest_ended()
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.table, r.status))
        .collect();
    let expected =
        [("items", "failed"), ("orders", "success")].map(|(t, s)| (t.to_string(), s.to_string()));
    assert_eq!(latest, expected);
    // A definition gone from the configuration no longer alerts.
    syncs.reconcile(&[], now).await.unwrap();
    assert!(runs.latest_ended().await.unwrap().is_empty());
    world.teardown().await;
}

async fn a_run_left_running_by_another_job_is_ended_as_failed(backend: Backend) {
    let world = World::on(backend).await;
    let runs = world.store.sync_runs();
    let (dead, next) = (JobId::new(), JobId::new());
    runs.record(&run(dead, "b/copy", "orders", "running", 1))
        .await
        .unwrap();
    runs.record(&run(dead, "b/copy", "items", "running", 1))
        .await
        .unwrap();
    let starting = run(next, "b/copy", "orders", "running", 5);
    assert_eq!(runs.close_stale(&starting).await.unwrap(), 1);
    let all = runs
        .history(&RunFilter {
            limit: 10,
            ..RunFilter::default()
        })
        .await
        .unwrap();
    let dead_orders = all
        .iter()
        .find(|r| r.job_id == dead && r.table == "orders")
        .unwrap();
    assert_eq!(dead_orders.status, "failed");
    assert!(dead_orders.ended_at.is_some());
    assert!(dead_orders
        .error
        .as_deref()
        .unwrap()
        .contains("ended before the table did"));
    let other_table = all.iter().find(|r| r.table == "items").unwrap();
    assert_eq!(
        other_table.status, "running",
        "another table is not touched"
    );
    world.teardown().await;
}
