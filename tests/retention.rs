//! Retention, as `dbfleet migrate --maintain` applies it, on both stores:
//! each history is deleted past its own retention and not a day earlier;
//! on PostgreSQL whole months of the daily tables are dropped as
//! partitions, and partitions are made ahead so no row waits in the
//! default one. "Today" is an argument, so the test chooses it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod common;

use chrono::{NaiveDate, Utc};
use common::{Backend, World};
use dbfleet::config::RetentionSettings;
use dbfleet::domain::{BatchId, DbType, InstanceId};
use dbfleet::secret::PasswordRef;
use dbfleet::store::{Filing, Origin, StatRow, TableRow, TableSnapshot, Tally, UnmeasuredRow};
use sqlx::{Connection, PgConnection};

fn day(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

/// File a day of `instance` as a capacity and a table-sizes job would:
/// one database's size, one unmeasured database, one table.
async fn file_day(world: &World, instance: InstanceId, date: &str) {
    let now = Utc::now();
    let mut filing = Filing::new(day(date), now);
    filing.measured.push(StatRow {
        database_name: "orders".into(),
        size_mb: 10,
        data_size_mb: None,
        log_size_mb: None,
        method: Some("pg_database_size".into()),
        collected_at: now,
    });
    filing.unmeasured.push(UnmeasuredRow {
        database_name: "locked".into(),
        reason: "permission".into(),
        detail: "GRANT CONNECT".into(),
        collected_at: now,
    });
    filing.tables.push(TableSnapshot {
        database: "orders".into(),
        method: "exact",
        rows: vec![TableRow {
            table_name: "lines".into(),
            is_rest: false,
            tables: 1,
            total_bytes: 8192,
            data_bytes: 8192,
            index_bytes: 0,
            row_estimate: Some(1),
        }],
    });
    world.store.runs().file(instance, &filing).await.unwrap();
}

async fn world_with_history(backend: Backend) -> (World, InstanceId) {
    let world = World::on(backend).await;
    let password = PasswordRef::env("DBFLEET_TEST_NO_PASSWORD").unwrap();
    let instance = world
        .add_instance("kept", DbType::Postgresql, 5432, "nobody", password)
        .await
        .id;
    for date in ["2026-09-15", "2026-10-31", "2026-11-01", "2026-11-29"] {
        file_day(&world, instance, date).await;
    }
    (world, instance)
}

/// The days of `instance` that still have a size, a total, an unmeasured
/// database and a table snapshot.
async fn days_left(world: &World, instance: InstanceId) -> Vec<(String, bool, bool, bool, bool)> {
    let mut left = Vec::new();
    for date in ["2026-09-15", "2026-10-31", "2026-11-01", "2026-11-29"] {
        let stats = world.store.stats();
        let sizes = !stats
            .databases(instance, day(date))
            .await
            .unwrap()
            .is_empty();
        let total = stats
            .instance_total(instance, day(date))
            .await
            .unwrap()
            .is_some();
        let unmeasured = !stats
            .unmeasured(instance, day(date))
            .await
            .unwrap()
            .is_empty();
        let tables = world
            .store
            .table_sizes()
            .latest(instance, None, day(date))
            .await
            .unwrap();
        let snapshot = tables.iter().any(|t| t.collected_date == day(date));
        left.push((date.to_string(), sizes, total, unmeasured, snapshot));
    }
    left
}

async fn each_history_goes_at_its_own_retention(backend: Backend) {
    let (world, instance) = world_with_history(backend).await;
    let keep_all = RetentionSettings {
        months_ahead: 2,
        ..RetentionSettings::default()
    };
    world
        .store
        .maintain(&keep_all, day("2026-12-01"))
        .await
        .unwrap();
    let all = days_left(&world, instance).await;
    assert!(
        all.iter().all(|(_, a, b, c, d)| *a && *b && *c && *d),
        "{all:?}"
    );

    // 30 days of daily stats before 2026-12-01: from 2026-11-01 on; the
    // table snapshots are kept for 60 days: from 2026-10-02 on.
    let retention = RetentionSettings {
        daily_stats: Some(30),
        table_snapshots: Some(60),
        ..keep_all
    };
    let done = world
        .store
        .maintain(&retention, day("2026-12-01"))
        .await
        .unwrap();
    let expected = [
        ("2026-09-15".to_string(), false, false, false, false),
        ("2026-10-31".to_string(), false, false, false, true),
        ("2026-11-01".to_string(), true, true, true, true),
        ("2026-11-29".to_string(), true, true, true, true),
    ];
    assert_eq!(days_left(&world, instance).await, expected, "{done:?}");
    if backend == Backend::Fleet {
        // Whole months went as partitions, not row by row.
        let dropped = &done.partitions_dropped;
        for month in ["202609", "202610"] {
            for table in ["database_size_stats", "instance_size_stats"] {
                let name = format!("{table}_p{month}");
                assert!(dropped.contains(&name), "{name} in {dropped:?}");
            }
        }
    } else {
        let deleted = |table: &str| done.deleted.iter().find(|d| d.table == table).unwrap().rows;
        assert_eq!(
            (
                deleted("database_size_stats"),
                deleted("instance_size_stats")
            ),
            (2, 2)
        );
    }
    world.teardown().await;
}

async fn ended_batches_and_old_dead_letters_go_running_ones_stay(backend: Backend) {
    let world = World::on(backend).await;
    let password = PasswordRef::env("DBFLEET_TEST_NO_PASSWORD").unwrap();
    let instance = world
        .add_instance("a", DbType::Postgresql, 5432, "nobody", password)
        .await
        .id;
    let batches = world.store.batches();
    let far = Utc::now() + chrono::Duration::days(365);
    let ended = batches
        .create(
            BatchId::new(),
            "probe",
            &Origin::by("t"),
            &[],
            &Tally::default(),
        )
        .await
        .unwrap();
    let job = dbfleet::store::NewJob {
        job_id: dbfleet::domain::JobId::new(),
        instance_id: Some(instance),
        target: "a".into(),
        deadline: far,
    };
    let running = batches
        .create(
            BatchId::new(),
            "probe",
            &Origin::by("t"),
            &[job],
            &Tally::default(),
        )
        .await
        .unwrap();
    world
        .store
        .dead_letters()
        .record(None, "unknown", "bad", b"x")
        .await
        .unwrap();
    let retention = RetentionSettings {
        batches: Some(30),
        dead_letters: Some(30),
        months_ahead: 1,
        ..RetentionSettings::default()
    };
    let today = Utc::now().date_naive();
    // Within retention: nothing goes.
    world
        .store
        .maintain(&retention, today + chrono::Days::new(29))
        .await
        .unwrap();
    assert!(batches.get(ended.id).await.unwrap().is_some());
    assert_eq!(
        world
            .store
            .dead_letters()
            .list(true, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    // Past it: the ended batch and the dead letter go, the running one stays.
    world
        .store
        .maintain(&retention, today + chrono::Days::new(32))
        .await
        .unwrap();
    assert!(batches.get(ended.id).await.unwrap().is_none());
    assert!(batches.get(running.id).await.unwrap().is_some());
    assert_eq!(batches.jobs(running.id).await.unwrap().len(), 1);
    assert!(world
        .store
        .dead_letters()
        .list(true, 10)
        .await
        .unwrap()
        .is_empty());
    world.teardown().await;
}

on_both_backends!(
    each_history_goes_at_its_own_retention,
    ended_batches_and_old_dead_letters_go_running_ones_stay,
);

/// On PostgreSQL: the months ahead get their partitions, and a row filed
/// for a month without one (it waited in the default partition) is moved
/// into the partition made for it. Whatever the real date: the migration
/// makes the month it runs in, so which of the months ahead this call
/// makes depends on the clock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_are_made_ahead_and_the_default_one_is_emptied() {
    let world = World::on(Backend::Fleet).await;
    let password = PasswordRef::env("DBFLEET_TEST_NO_PASSWORD").unwrap();
    let instance = world
        .add_instance("a", DbType::Postgresql, 5432, "nobody", password)
        .await
        .id;
    file_day(&world, instance, "2027-06-10").await;
    let url = format!("postgres://postgres@127.0.0.1:5432/{}", world.store_db());
    let mut conn = PgConnection::connect(&url).await.unwrap();
    let home = "SELECT tableoid::regclass::text FROM database_size_stats WHERE collected_date = '2027-06-10'";
    let before: String = sqlx::query_scalar(home).fetch_one(&mut conn).await.unwrap();
    assert_eq!(before, "database_size_stats_default");

    let retention = RetentionSettings {
        months_ahead: 2,
        ..RetentionSettings::default()
    };
    let done = world
        .store
        .maintain(&retention, day("2026-11-30"))
        .await
        .unwrap();
    // The migration made the month it ran in; the rest are this call's.
    let partitions: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
         WHERE i.inhparent = 'database_size_stats'::regclass",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    for month in ["202611", "202612", "202701", "202706"] {
        let name = format!("database_size_stats_p{month}");
        assert!(partitions.contains(&name), "{name} in {partitions:?}");
    }
    assert!(
        done.partitions_created
            .iter()
            .any(|p| p == "database_size_stats_p202706"),
        "the default partition's month made: {done:?}"
    );
    let after: String = sqlx::query_scalar(home).fetch_one(&mut conn).await.unwrap();
    assert_eq!(after, "database_size_stats_p202706");
    let again = world
        .store
        .maintain(&retention, day("2026-11-30"))
        .await
        .unwrap();
    assert!(again.partitions_created.is_empty(), "{again:?}");
    conn.close().await.unwrap();
    world.teardown().await;
}

/// Old notifications, long-resolved alerts and old batch alerts (firing,
/// but of a rule that fires once per batch) go; a standing condition's
/// firing alert stays however old, or it would alert again.
async fn old_alert_records_go_firing_alerts_stay(backend: Backend) {
    use dbfleet::store::{AlertSend, AlertState, NewTransition};
    let world = World::on(backend).await;
    let alerts = world.store.alerts();
    let details = serde_json::json!({});
    let now = Utc::now();
    let batch = dbfleet::domain::BatchId::new().0.to_string();
    for (rule, subject, fires_once) in [
        ("stale", "resolved-one", false),
        ("stale", "firing-one", false),
        ("batch-failed", batch.as_str(), true),
    ] {
        let fire = NewTransition {
            rule,
            subject,
            from: None,
            to: AlertState::Firing,
            summary: "not collected",
            details: &details,
            silenced: true,
            fires_once,
        };
        assert!(alerts.record(&fire, now).await.unwrap());
    }
    let resolve = NewTransition {
        rule: "stale",
        subject: "resolved-one",
        from: Some(AlertState::Firing),
        to: AlertState::Resolved,
        summary: "collected again",
        details: &details,
        silenced: true,
        fires_once: false,
    };
    assert!(alerts.record(&resolve, now).await.unwrap());
    let send = AlertSend {
        channel: "ops".into(),
        rule: "stale".into(),
        subject: "firing-one".into(),
        state: AlertState::Firing,
        since: now,
        delivered: true,
        attempts: 1,
        error: None,
        sent_at: now,
    };
    alerts.record_send(&send).await.unwrap();
    let retention = RetentionSettings {
        alert_records: Some(30),
        months_ahead: 1,
        ..RetentionSettings::default()
    };
    let today = now.date_naive();
    world
        .store
        .maintain(&retention, today + chrono::Days::new(29))
        .await
        .unwrap();
    assert_eq!(alerts.states().await.unwrap().len(), 3, "none is old yet");
    assert_eq!(alerts.sends(10).await.unwrap().len(), 1);
    world
        .store
        .maintain(&retention, today + chrono::Days::new(32))
        .await
        .unwrap();
    let left: Vec<_> = alerts
        .states()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.subject)
        .collect();
    assert_eq!(left, ["firing-one"]);
    assert!(alerts.sends(10).await.unwrap().is_empty());
    world.teardown().await;
}

on_both_backends!(old_alert_records_go_firing_alerts_stay);
