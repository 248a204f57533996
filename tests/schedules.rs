//! Schedules of the control plane, driven by a clock the test chooses: each
//! tick is given its instant, on the real stores and brokers of both
//! backends. What a user relies on: a slot runs once, at its time in the
//! configured zone, on one replica; never over a running batch of its kind;
//! not while paused; once after a short outage, never long after; held out
//! of maintenance windows.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod common;

use chrono::{DateTime, TimeZone, Timelike, Utc};
use common::{Backend, World};
use dbfleet::domain::{DbType, InstanceName};
use dbfleet::fleet::scheduler::{self, Outcome, Scheduler, TriggerError};
use dbfleet::labels::Labels;
use dbfleet::secret::PasswordRef;
use dbfleet::store::BatchStatus;

const SCHEDULES: &str = "\
timezone: Europe/Paris
schedules:
  - name: nightly
    kind: probe
    cron: \"0 2 * * *\"
    selector: \"env=prod\"
    grace: 1h
    maintenance: [\"sat 01:00-03:00\"]
  - name: sizes
    kind: table_sizes
    cron: \"30 3 1 * *\"
    params: { top: 5 }
";

/// An instant given as Paris wall-clock time (winter: UTC+1).
fn paris(d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    let tz = chrono_tz::Europe::Paris;
    tz.with_ymd_and_hms(2026, 11, d, h, mi, 0)
        .unwrap()
        .with_timezone(&Utc)
}

/// A world with the schedules above and two instances, one labelled
/// `env=prod`.
async fn world(backend: Backend) -> World {
    let world = World::with_yaml(backend, SCHEDULES).await;
    for name in ["pay-prod", "lab"] {
        let password = PasswordRef::env("DBFLEET_TEST_NO_PASSWORD").unwrap();
        world
            .add_instance(name, DbType::Postgresql, 5432, "nobody", password)
            .await;
    }
    let prod = Labels::new([("env", "prod")]).unwrap();
    let name = InstanceName::parse("pay-prod").unwrap();
    world
        .store
        .instances()
        .set_labels(&name, &prod)
        .await
        .unwrap();
    world
}

fn scheduler(world: &World, name: &str) -> Scheduler {
    let (store, broker) = (world.store.clone(), world.broker.clone());
    let schedules = world.settings.schedules.clone();
    Scheduler::new(
        store,
        broker,
        schedules,
        world.settings.batch.deadline,
        name.to_string(),
    )
}

fn started(outcomes: &[(String, Outcome)]) -> Vec<(String, DateTime<Utc>, i64)> {
    outcomes
        .iter()
        .filter_map(|(name, outcome)| match outcome {
            Outcome::Started { slot, batch } => Some((name.clone(), *slot, batch.total)),
            _ => None,
        })
        .collect()
}

/// End `batch` by cancelling its jobs, as if its workers were done.
async fn end(world: &World, batch: dbfleet::domain::BatchId) {
    world.store.batches().cancel(batch, "test").await.unwrap();
}

async fn fires_each_slot_once_at_its_time_in_the_zone(backend: Backend) {
    let world = world(backend).await;
    let s = scheduler(&world, "a");
    // First seen at 01:59: the run of 02:00 yesterday is not owed.
    assert!(s.tick(paris(30, 1, 59)).await.unwrap().is_empty());
    let fired = s.tick(paris(30, 2, 0)).await.unwrap();
    assert_eq!(
        started(&fired),
        [("nightly".to_string(), paris(30, 2, 0), 1)]
    );
    // 02:00 in Paris is 01:00 UTC.
    assert_eq!(
        paris(30, 2, 0),
        Utc.with_ymd_and_hms(2026, 11, 30, 1, 0, 0).unwrap()
    );
    let Outcome::Started { batch, .. } = &fired[0].1 else {
        unreachable!()
    };
    assert_eq!(batch.kind, "probe");
    assert_eq!(batch.requested_by.as_deref(), Some("schedule nightly"));
    assert_eq!(batch.selector.as_deref(), Some("env=prod"));
    assert!(
        s.tick(paris(30, 2, 0)).await.unwrap().is_empty(),
        "a slot runs once"
    );
    assert!(s.tick(paris(30, 2, 30)).await.unwrap().is_empty());
    world.teardown().await;
}

async fn never_overlaps_a_running_batch_of_its_kind(backend: Backend) {
    let world = world(backend).await;
    let s = scheduler(&world, "a");
    s.tick(paris(30, 1, 0)).await.unwrap();
    let first = s.tick(paris(30, 2, 0)).await.unwrap();
    let Outcome::Started { batch: first, .. } = &first[0].1 else {
        unreachable!()
    };
    // No worker ran it: still running the next night, so the slot waits.
    let next_night = paris(30, 2, 0) + chrono::Duration::days(1);
    let waiting = s.tick(next_night).await.unwrap();
    assert!(
        matches!(&waiting[..], [(_, Outcome::Waiting { running, .. })] if running.id == first.id),
        "{waiting:?}"
    );
    end(&world, first.id).await;
    let later = next_night + chrono::Duration::minutes(5);
    let fired = s.tick(later).await.unwrap();
    assert_eq!(started(&fired), [("nightly".to_string(), next_night, 1)]);
    world.teardown().await;
}

async fn two_control_planes_fire_a_slot_once(backend: Backend) {
    let world = world(backend).await;
    let (a, b) = (scheduler(&world, "a"), scheduler(&world, "b"));
    a.tick(paris(30, 1, 0)).await.unwrap();
    let at = paris(30, 2, 0);
    let (from_a, from_b) = tokio::join!(a.tick(at), b.tick(at));
    let outcomes: Vec<_> = from_a.unwrap().into_iter().chain(from_b.unwrap()).collect();
    assert_eq!(started(&outcomes).len(), 1, "{outcomes:?}");
    let batches = world.store.batches().list(50).await.unwrap();
    assert_eq!(batches.len(), 1, "one batch for one slot");
    let runs = world.store.schedules().runs("nightly", 10).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!((runs[0].slot, runs[0].batch_id), (at, batches[0].id));
    assert!(["a", "b"].contains(&runs[0].started_by.as_str()));
    world.teardown().await;
}

async fn a_paused_schedule_owes_nothing_until_resumed(backend: Backend) {
    let world = world(backend).await;
    let s = scheduler(&world, "a");
    let schedules = &world.settings.schedules;
    s.tick(paris(30, 1, 0)).await.unwrap();
    scheduler::set_paused(
        &world.store,
        schedules,
        ("nightly", true),
        "ops",
        paris(30, 1, 30),
    )
    .await
    .unwrap();
    assert!(s.tick(paris(30, 2, 0)).await.unwrap().is_empty());
    let resumed = scheduler::set_paused(
        &world.store,
        schedules,
        ("nightly", false),
        "ops",
        paris(30, 2, 10),
    )
    .await
    .unwrap();
    assert_eq!(
        (resumed.paused, resumed.changed_by.as_deref()),
        (false, Some("ops"))
    );
    // The run the pause skipped is not made up; the next one runs.
    assert!(s.tick(paris(30, 2, 11)).await.unwrap().is_empty());
    let tomorrow = paris(30, 2, 0) + chrono::Duration::days(1);
    assert_eq!(started(&s.tick(tomorrow).await.unwrap()).len(), 1);
    let unknown =
        scheduler::set_paused(&world.store, schedules, ("nope", true), "ops", tomorrow).await;
    assert!(matches!(unknown, Err(TriggerError::Unknown(_))));
    world.teardown().await;
}

async fn a_missed_slot_runs_once_within_grace_and_never_after(backend: Backend) {
    let world = world(backend).await;
    let s = scheduler(&world, "a");
    s.tick(paris(29, 1, 0)).await.unwrap();
    // Down from 01:00 to 03:30: the grace window (1h) has passed.
    assert!(s.tick(paris(29, 3, 30)).await.unwrap().is_empty());
    // Down from 01:00 to 02:40 the next night: it runs, once, for 02:00.
    let fired = s.tick(paris(30, 2, 40)).await.unwrap();
    assert_eq!(
        started(&fired),
        [("nightly".to_string(), paris(30, 2, 0), 1)]
    );
    assert!(s.tick(paris(30, 2, 41)).await.unwrap().is_empty());
    world.teardown().await;
}

async fn a_maintenance_window_holds_the_run_until_it_ends(backend: Backend) {
    let world = world(backend).await;
    let s = scheduler(&world, "a");
    // Saturday 2026-11-28, window 01:00-03:00.
    s.tick(paris(28, 0, 0)).await.unwrap();
    assert!(s.tick(paris(28, 2, 0)).await.unwrap().is_empty());
    assert!(s.tick(paris(28, 2, 59)).await.unwrap().is_empty());
    let fired = s.tick(paris(28, 3, 0)).await.unwrap();
    assert_eq!(
        started(&fired),
        [("nightly".to_string(), paris(28, 2, 0), 1)]
    );
    world.teardown().await;
}

async fn a_trigger_runs_now_with_the_schedules_parameters(backend: Backend) {
    let world = world(backend).await;
    let s = scheduler(&world, "a");
    let batch = s.trigger("sizes", "ops", Utc::now()).await.unwrap();
    assert_eq!((batch.kind.as_str(), batch.total), ("table_sizes", 2));
    assert_eq!(batch.status, BatchStatus::Running);
    let params = world.store.batches().params(batch.id).await.unwrap();
    assert_eq!(params.as_deref(), Some(r#"{"top":5}"#));
    let again = s.trigger("sizes", "ops", Utc::now()).await;
    assert!(
        matches!(&again, Err(TriggerError::Overlap(b)) if b.id == batch.id),
        "{again:?}"
    );
    let runs = world.store.schedules().runs("sizes", 10).await.unwrap();
    assert!(runs.len() == 1 && runs[0].manual && runs[0].started_by == "ops");
    // A manual run does not count as the cron's: the next slot still runs.
    end(&world, batch.id).await;
    s.tick(paris(30, 1, 0)).await.unwrap();
    let first_of_december = chrono_tz::Europe::Paris
        .with_ymd_and_hms(2026, 12, 1, 3, 30, 0)
        .unwrap()
        .with_timezone(&Utc);
    let fired = s.tick(first_of_december).await.unwrap();
    assert_eq!(
        started(&fired),
        [("sizes".to_string(), first_of_december, 2)]
    );
    world.teardown().await;
}

async fn two_triggers_in_one_second_start_one_batch(backend: Backend) {
    let world = world(backend).await;
    let (a, b) = (scheduler(&world, "a"), scheduler(&world, "b"));
    // Two instants of one second, 0.4 s apart.
    let now = Utc::now().with_nanosecond(100_000_000).unwrap();
    let (first, second) = tokio::join!(
        a.trigger("nightly", "ops", now),
        b.trigger("nightly", "api", now + chrono::Duration::milliseconds(400))
    );
    let ids: Vec<_> = [first, second]
        .into_iter()
        .map(|r| match r {
            Ok(batch) => batch.id,
            Err(TriggerError::Overlap(batch)) => batch.id,
            Err(e) => panic!("{e}"),
        })
        .collect();
    assert_eq!(ids[0], ids[1], "both name the one batch");
    assert_eq!(world.store.batches().list(10).await.unwrap().len(), 1);
    world.teardown().await;
}

on_both_backends!(
    two_triggers_in_one_second_start_one_batch,
    fires_each_slot_once_at_its_time_in_the_zone,
    never_overlaps_a_running_batch_of_its_kind,
    two_control_planes_fire_a_slot_once,
    a_paused_schedule_owes_nothing_until_resumed,
    a_missed_slot_runs_once_within_grace_and_never_after,
    a_maintenance_window_holds_the_run_until_it_ends,
    a_trigger_runs_now_with_the_schedules_parameters,
    sync_cadences_wait_only_for_their_own_definition,
    one_control_plane_at_a_time_holds_the_scheduling_role,
);

/// Two definitions syncing into one instance every 15 minutes: each
/// cadence is a schedule of `data_sync` batches that waits for its own
/// definition's running batch, never for the other's.
async fn sync_cadences_wait_only_for_their_own_definition(backend: Backend) {
    let sync = |name: &str| {
        format!(
            "  - {{ name: {name}, source: {{ instance: src, database: s }}, \
             targets: [ {{ instance: dst, database: {name} }} ], \
             tables: [ {{ name: t, cursor: ts }} ], mode: incremental, \
             incremental_every: 15m }}\n"
        )
    };
    let yaml = format!("timezone: Europe/Paris\nsyncs:\n{}{}", sync("a"), sync("b"));
    let world = World::with_yaml(backend, &yaml).await;
    for name in ["src", "dst"] {
        let password = PasswordRef::env("DBFLEET_TEST_NO_PASSWORD").unwrap();
        world
            .add_instance(name, DbType::Postgresql, 5432, "nobody", password)
            .await;
    }
    let syncs = &world.settings.syncs;
    dbfleet::fleet::sync::reconcile(&world.store, syncs)
        .await
        .unwrap();
    let s = scheduler(&world, "a");
    assert!(s.tick(paris(30, 1, 14)).await.unwrap().is_empty());
    let fired = started(&s.tick(paris(30, 1, 15)).await.unwrap());
    let slot = paris(30, 1, 15);
    assert_eq!(
        fired,
        [
            ("sync.a.incremental".to_string(), slot, 1),
            ("sync.b.incremental".to_string(), slot, 1),
        ]
    );
    // No worker ran them: each next slot waits for its own batch.
    let next = s.tick(paris(30, 1, 30)).await.unwrap();
    assert!(
        next.iter()
            .all(|(_, o)| matches!(o, Outcome::Waiting { .. })),
        "{next:?}"
    );
    world.teardown().await;
}

/// Of several `serve` replicas only the holder of the store's role lease
/// schedules; it renews its own, and another takes it once it expires or
/// is given up.
async fn one_control_plane_at_a_time_holds_the_scheduling_role(backend: Backend) {
    let world = World::on(backend).await;
    let roles = world.store.role_leases();
    let t0 = paris(30, 2, 0);
    let at = |s: i64| t0 + chrono::Duration::seconds(s);
    let hold = |who: &'static str, now: i64| {
        let roles = world.store.role_leases();
        async move {
            roles
                .hold("scheduler", who, (at(now + 15), at(now)))
                .await
                .unwrap()
        }
    };
    assert!(hold("a", 0).await);
    assert!(!hold("b", 1).await, "a holds it");
    assert!(hold("a", 10).await, "the holder renews");
    assert!(!hold("b", 20).await, "renewed until 25");
    assert!(hold("b", 26).await, "expired: b takes it");
    assert!(!hold("a", 27).await);
    roles.release("scheduler", "a").await.unwrap();
    assert!(!hold("a", 28).await, "only the holder gives it up");
    roles.release("scheduler", "b").await.unwrap();
    assert!(hold("a", 29).await, "given up: taken at once");
    world.teardown().await;
}
