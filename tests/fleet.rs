//! The capacity-sync fleet end to end on the real PostgreSQL, MariaDB and
//! RabbitMQ: dispatcher → broker → workers → aggregator → control store.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::NaiveDate;
use common::{
    drop_pg_database, pg_admin, pg_database, pg_expected_sizes, run_batch, sync_on, today, Backend,
    Fleet, MariaUser, PrivateMariaDb, World,
};
use dbfleet::domain::{DbType, JobId};
use dbfleet::fleet::dispatcher::{self, Selection};
use dbfleet::message::{ErrorClass, InstanceRef, JobKind, JobMessage, JobParams, Target};
use dbfleet::secret::PasswordRef;
use dbfleet::store::BatchStatus;

on_both_backends!(
    declared_instances_are_reconciled_and_cli_instances_left_alone,
    declared_credentials_are_written_first_and_removed_last,
    a_declared_instance_that_cannot_be_registered_leaves_the_others_registered,
    a_batch_with_an_unreachable_instance_ends_partial_success_with_exact_counters,
    inventory_history_records_created_deactivated_and_reactivated_with_dates,
    filters_and_system_database_rules_shape_the_inventory,
    rerunning_on_the_same_day_overwrites_instead_of_duplicating,
    two_workers_share_one_queue_and_every_job_is_counted_once,
    a_batch_with_no_active_instance_is_an_immediate_success,
    a_lone_failed_job_reports_its_batch_counters_as_zero,
);

/// A PostgreSQL database of our own with some data, and its expected size.
async fn pg_database_mb(name: &str) -> i64 {
    let mut admin = pg_admin().await;
    pg_database(&mut admin, name, 4000).await;
    let name = name.to_string();
    pg_expected_sizes(&mut admin, [&name]).await[&name]
}

async fn a_batch_with_an_unreachable_instance_ends_partial_success_with_exact_counters(
    backend: Backend,
) {
    let world = World::on(backend).await;
    let maria = MariaUser::new().await;
    let (db_a, db_b) = (format!("{}_a", maria.prefix), format!("{}_b", maria.prefix));
    maria.create_database(&db_a, 2048).await;
    maria.create_database(&db_b, 64).await;
    let pg_db = format!("dbft_pg_{}", world.tag);
    let pg_expected = pg_database_mb(&pg_db).await;

    let mariadb = world.add_mariadb("maria", &maria).await;
    let postgres = world.add_postgres("pg").await;
    world.add_unreachable("down").await;

    let fleet = Fleet::start(&world, 1);
    let report = run_batch(&world).await;
    fleet.stop().await;

    let b = &report.batch;
    assert_eq!(b.status, BatchStatus::PartialSuccess);
    assert_eq!((b.total, b.succeeded, b.failed), (3, 2, 1));
    let jobs: BTreeMap<&str, _> = report
        .jobs
        .iter()
        .map(|j| (j.instance.as_str(), j))
        .collect();
    assert_eq!(jobs["down"].status, "failed");
    assert_eq!(
        jobs["down"].error.as_ref().unwrap().class,
        ErrorClass::Connect
    );
    assert_eq!(jobs["maria"].status, "succeeded");
    assert_eq!(jobs["pg"].status, "succeeded");
    assert!(jobs["maria"].error.is_none() && jobs["pg"].error.is_none());

    // Every record counted is a stored row, and each size matches the server.
    let day = today(&world);
    let maria_rows = world
        .store
        .stats()
        .databases(mariadb.id, day)
        .await
        .unwrap();
    let pg_rows = world
        .store
        .stats()
        .databases(postgres.id, day)
        .await
        .unwrap();
    assert_eq!(
        b.summary.get("total_records"),
        (maria_rows.len() + pg_rows.len()) as i64
    );
    assert_eq!(jobs["maria"].count("records"), maria_rows.len() as i64);
    let expected = maria.expected_sizes_mb().await;
    let stored: BTreeMap<_, _> = maria_rows
        .iter()
        .map(|r| (r.database_name.as_str(), r.size_mb))
        .collect();
    assert_eq!(
        stored.keys().copied().collect::<Vec<_>>(),
        [db_a.as_str(), db_b.as_str()]
    );
    assert_eq!(stored[db_a.as_str()], expected[&db_a]);
    assert_eq!(stored[db_b.as_str()], expected[&db_b]);
    assert!(
        stored[db_a.as_str()] >= 2,
        "2 MiB of rows take at least 2 MiB on disk"
    );
    let pg_stored = pg_rows
        .iter()
        .find(|r| r.database_name == pg_db)
        .expect("our PG database is sized");
    assert_eq!(pg_stored.size_mb, pg_expected);
    assert!(!pg_rows
        .iter()
        .any(|r| r.database_name == "postgres" || r.database_name.starts_with("template")));

    // The instance total is the sum of the day's rows.
    let total = world
        .store
        .stats()
        .instance_total(mariadb.id, day)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(total.total_size_mb, stored.values().sum::<i64>());
    assert_eq!(total.database_count, 2);

    drop_pg_database(&pg_db).await;
    maria.teardown().await;
    world.teardown().await;
}

/// On a MariaDB server of the test's own, as an account that sees every
/// database (only then is a database missing from the list dropped), where
/// the only databases are the test's.
async fn inventory_history_records_created_deactivated_and_reactivated_with_dates(
    backend: Backend,
) {
    let world = World::on(backend).await;
    let server = PrivateMariaDb::start(&[]).await;
    server
        .account("mon", "mon-pw", "PROCESS, SHOW DATABASES, SHOW VIEW")
        .await;
    let (keep, flaky) = ("app_keep".to_string(), "app_flaky".to_string());
    server.create_database(&keep, 64).await;
    server.create_database(&flaky, 64).await;
    let var = format!("DBFT_PW_{}", world.tag);
    std::env::set_var(&var, "mon-pw");
    let instance = world
        .add_instance(
            "maria",
            DbType::Mysql,
            server.port,
            "mon",
            PasswordRef::Env(var),
        )
        .await;
    let day = |d| NaiveDate::from_ymd_opt(2026, 3, d).unwrap();

    let first = sync_on(&world, &instance, day(1)).await;
    assert_eq!((first.inventory.created, first.inventory.refreshed), (2, 0));

    server.exec(&[format!("DROP DATABASE {flaky}")]).await;
    let second = sync_on(&world, &instance, day(2)).await;
    assert_eq!(
        (second.inventory.refreshed, second.inventory.deactivated),
        (1, 1)
    );
    let gone = world.store.inventory().records(instance.id).await.unwrap();
    let flaky_row = gone.iter().find(|r| r.database_name == flaky).unwrap();
    assert!(!flaky_row.is_active && flaky_row.deleted_at.is_some());
    assert_eq!(
        (flaky_row.first_seen_date, flaky_row.last_seen_date),
        (day(1), day(1))
    );
    let total = world
        .store
        .stats()
        .instance_total(instance.id, day(2))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        total.database_count, 1,
        "a deactivated database leaves the day's total"
    );

    server.create_database(&flaky, 64).await;
    let third = sync_on(&world, &instance, day(3)).await;
    assert_eq!(
        (
            third.inventory.reactivated,
            third.inventory.refreshed,
            third.inventory.created
        ),
        (1, 1, 0)
    );
    let back = world.store.inventory().records(instance.id).await.unwrap();
    let flaky_row = back.iter().find(|r| r.database_name == flaky).unwrap();
    assert!(flaky_row.is_active && flaky_row.deleted_at.is_none());
    assert_eq!(
        (flaky_row.first_seen_date, flaky_row.last_seen_date),
        (day(1), day(3))
    );
    let keep_row = back.iter().find(|r| r.database_name == keep).unwrap();
    assert_eq!(
        (keep_row.first_seen_date, keep_row.last_seen_date),
        (day(1), day(3))
    );
    assert_eq!(back.len(), 2, "rows are never hard-deleted nor duplicated");

    drop(server);
    world.teardown().await;
}

async fn filters_and_system_database_rules_shape_the_inventory(backend: Backend) {
    let world = World::on(backend).await;
    let maria = MariaUser::new().await;
    let (kept, temp) = (
        format!("{}_app", maria.prefix),
        format!("tmp_{}", maria.prefix),
    );
    maria.create_database(&kept, 64).await;
    maria.create_database(&temp, 64).await;
    let mysql = world.add_mariadb("maria", &maria).await;
    let pg = world.add_postgres("pg").await;
    let day = today(&world);

    let counters = sync_on(&world, &mysql, day).await;
    let names: Vec<String> = world
        .store
        .inventory()
        .records(mysql.id)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.database_name)
        .collect();
    // information_schema is a MySQL system database: kept by the inventory
    // rule, then excluded by the shipped filter, like `tmp\_%`.
    assert_eq!(names, vec![kept]);
    assert_eq!(counters.records, 1);

    sync_on(&world, &pg, day).await;
    let names: Vec<String> = world
        .store
        .inventory()
        .records(pg.id)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.database_name)
        .collect();
    assert!(!names
        .iter()
        .any(|n| n == "postgres" || n.starts_with("template") || n.starts_with("pg_")));
    assert!(
        names.iter().any(|n| n == "test"),
        "ordinary databases are tracked: {names:?}"
    );

    maria.teardown().await;
    world.teardown().await;
}

async fn rerunning_on_the_same_day_overwrites_instead_of_duplicating(backend: Backend) {
    let world = World::on(backend).await;
    let maria = MariaUser::new().await;
    let db = format!("{}_grow", maria.prefix);
    maria.create_database(&db, 64).await;
    let instance = world.add_mariadb("maria", &maria).await;
    let day = NaiveDate::from_ymd_opt(2026, 5, 5).unwrap();

    sync_on(&world, &instance, day).await;
    let before = world
        .store
        .stats()
        .databases(instance.id, day)
        .await
        .unwrap();
    let inserts: Vec<String> = (0..64)
        .map(|_| {
            format!("INSERT INTO `{db}`.t (v) SELECT REPEAT('y', 1024) FROM `{db}`.seq_1_to_64")
        })
        .collect();
    maria.admin(&inserts).await;
    sync_on(&world, &instance, day).await;
    let after = world
        .store
        .stats()
        .databases(instance.id, day)
        .await
        .unwrap();

    assert_eq!(before.len(), 1);
    assert_eq!(after.len(), 1, "one row per database per day");
    assert!(
        after[0].size_mb > before[0].size_mb,
        "the later size wins: {before:?} → {after:?}"
    );
    assert_eq!(after[0].size_mb, maria.expected_sizes_mb().await[&db]);
    let total = world
        .store
        .stats()
        .instance_total(instance.id, day)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (total.database_count, total.total_size_mb),
        (1, after[0].size_mb)
    );

    maria.teardown().await;
    world.teardown().await;
}

async fn two_workers_share_one_queue_and_every_job_is_counted_once(backend: Backend) {
    let world = World::with_yaml(backend, "worker:\n  concurrency: 2\n").await;
    let maria = MariaUser::new().await;
    maria
        .create_database(&format!("{}_x", maria.prefix), 64)
        .await;
    let count = 12;
    for n in 0..count {
        world.add_mariadb(&format!("m{n}"), &maria).await;
    }

    let fleet = Fleet::start(&world, 2);
    let report = run_batch(&world).await;
    fleet.stop().await;

    let b = &report.batch;
    assert_eq!(b.status, BatchStatus::Success);
    assert_eq!((b.total, b.succeeded, b.failed), (count, count, 0));
    assert_eq!(report.jobs.len() as i64, count, "one row per job");
    assert_eq!(
        b.summary.get("total_records"),
        count,
        "one database per instance, counted once"
    );
    assert!(report
        .jobs
        .iter()
        .all(|j| j.count("records") == 1 && j.status == "succeeded"));

    maria.teardown().await;
    world.teardown().await;
}

async fn a_batch_with_no_active_instance_is_an_immediate_success(backend: Backend) {
    let world = World::on(backend).await;
    let instance = world.add_unreachable("off").await;
    world
        .store
        .instances()
        .set_active(&instance.name, false)
        .await
        .unwrap();
    let batch = dispatcher::start_batch(
        &world.store,
        world.broker.as_ref(),
        &dispatcher::BatchRequest {
            params: &dbfleet::message::JobParams::default_for(
                dbfleet::message::JobKind::CapacitySync,
            ),
            selection: Selection::AllActive,
            deadline: Duration::from_secs(60),
            requested_by: None,
            interactive: false,
        },
    )
    .await
    .unwrap();
    assert_eq!(batch.status, BatchStatus::Success);
    assert_eq!(
        (
            batch.total,
            batch.succeeded,
            batch.failed,
            batch.summary.get("total_records")
        ),
        (0, 0, 0, 0)
    );
    world.teardown().await;
}

fn declared(name: &str, port: u16, active: bool) -> dbfleet::config::DeclaredInstance {
    dbfleet::config::DeclaredInstance {
        tls: Default::default(),
        name: dbfleet::domain::InstanceName::parse(name).unwrap(),
        db_type: DbType::Postgresql,
        host: "127.0.0.1".to_string(),
        port,
        username: "postgres".to_string(),
        password: PasswordRef::Env("SOME_VAR".to_string()),
        database: None,
        active,
        labels: Default::default(),
        credential: None,
    }
}

async fn declared_credentials_are_written_first_and_removed_last(backend: Backend) {
    use dbfleet::config::DeclaredCredential;
    use dbfleet::domain::CredentialName;
    use dbfleet::reconcile::reconcile_fleet;
    let world = World::on(backend).await;
    let monitor = CredentialName::parse("monitor").unwrap();
    let credential = |reference: &str| DeclaredCredential {
        name: monitor.clone(),
        username: "dbfleet".to_string(),
        password: PasswordRef::Env(reference.to_string()),
    };
    let using = dbfleet::config::DeclaredInstance {
        credential: Some(monitor.clone()),
        username: String::new(),
        password: PasswordRef::None,
        ..declared("a", 5432, true)
    };
    let done = reconcile_fleet(
        &world.store,
        std::slice::from_ref(&using),
        &[credential("MON_PW")],
    )
    .await
    .unwrap();
    assert_eq!(
        (done.created, done.problems),
        (vec!["a".to_string()], vec![])
    );
    let a = world.store.instances().list().await.unwrap().remove(0);
    assert_eq!(
        (a.username.as_str(), a.credential.as_ref()),
        ("dbfleet", Some(&monitor))
    );

    // A new reference reaches the instance without touching it.
    reconcile_fleet(
        &world.store,
        std::slice::from_ref(&using),
        &[credential("MON_PW_2")],
    )
    .await
    .unwrap();
    let a = world.store.instances().list().await.unwrap().remove(0);
    assert_eq!(a.password, PasswordRef::Env("MON_PW_2".to_string()));

    // Dropped from the file while an instance uses it: kept, and said so.
    let done = reconcile_fleet(&world.store, &[using], &[]).await.unwrap();
    assert_eq!(done.problems.len(), 1, "{:?}", done.problems);
    assert!(
        done.problems[0].contains("is used by a"),
        "{:?}",
        done.problems
    );
    assert!(world
        .store
        .credentials()
        .by_name(&monitor)
        .await
        .unwrap()
        .is_some());

    // The instance moves to its own login in the same file: removed.
    let done = reconcile_fleet(&world.store, &[declared("a", 5432, true)], &[])
        .await
        .unwrap();
    assert_eq!(
        (done.updated, done.problems),
        (vec!["a".to_string()], vec![])
    );
    assert!(world
        .store
        .credentials()
        .by_name(&monitor)
        .await
        .unwrap()
        .is_none());
    let a = world.store.instances().list().await.unwrap().remove(0);
    assert_eq!((a.username.as_str(), a.credential), ("postgres", None));
    world.teardown().await;
}

async fn declared_instances_are_reconciled_and_cli_instances_left_alone(backend: Backend) {
    use dbfleet::reconcile::reconcile;
    let world = World::on(backend).await;
    let by_cli = world
        .add_instance("by-cli", DbType::Mysql, 3306, "root", PasswordRef::None)
        .await;

    let first = [
        declared("a", 5432, true),
        declared("b", 5432, true),
        declared("by-cli", 1, true),
    ];
    let done = reconcile(&world.store, &first).await.unwrap();
    assert_eq!(done.created, ["a", "b"]);
    assert_eq!(done.problems.len(), 1);
    assert!(done.problems[0].contains("`by-cli`"), "{:?}", done.problems);

    // Unchanged: nothing to do. Changed port, disabled, dropped from the file.
    assert_eq!(
        reconcile(&world.store, &first[..2]).await.unwrap().updated,
        Vec::<String>::new()
    );
    let second = [declared("a", 6543, false)];
    let done = reconcile(&world.store, &second).await.unwrap();
    assert_eq!(
        (done.updated.as_slice(), done.deactivated.as_slice()),
        (&["a".to_string()][..], &["b".to_string()][..])
    );

    let all = world.store.instances().list().await.unwrap();
    let get = |n: &str| all.iter().find(|i| i.name.as_str() == n).unwrap().clone();
    assert_eq!(
        (get("a").port, get("a").is_active, get("a").managed),
        (6543, false, true)
    );
    assert!(
        !get("b").is_active,
        "a removed declaration deactivates, never deletes"
    );
    let cli = get("by-cli");
    assert_eq!(
        (cli.port, cli.is_active, cli.managed, cli.db_type),
        (3306, true, false, by_cli.db_type)
    );
    world.teardown().await;
}

/// Declared instances are registered together; when one of them cannot be
/// (it names a credential nobody declared), the others are registered all
/// the same and the problem names the one.
async fn a_declared_instance_that_cannot_be_registered_leaves_the_others_registered(
    backend: Backend,
) {
    use dbfleet::reconcile::reconcile;
    let world = World::on(backend).await;
    let orphan = dbfleet::config::DeclaredInstance {
        credential: Some(dbfleet::domain::CredentialName::parse("nobody").unwrap()),
        username: String::new(),
        password: PasswordRef::None,
        ..declared("orphan", 5432, true)
    };
    let fleet = [
        declared("x", 5432, true),
        orphan,
        declared("y", 5433, false),
    ];
    let done = reconcile(&world.store, &fleet).await.unwrap();
    assert_eq!(done.created, ["x", "y"]);
    assert_eq!(done.problems.len(), 1, "{:?}", done.problems);
    let problem = &done.problems[0];
    assert!(
        problem.contains("`orphan`") && problem.contains("nobody"),
        "{problem}"
    );
    let all = world.store.instances().list().await.unwrap();
    let got: Vec<_> = all
        .iter()
        .map(|i| (i.name.as_str(), i.port, i.is_active, i.managed))
        .collect();
    assert_eq!(got, [("x", 5432, true, true), ("y", 5433, false, true)]);
    a_declared_fleet_grows_by_its_new_instances(&world).await;
    world.teardown().await;
}

/// The fleet declared anew with 50 more, one of them disabled: those are
/// created as declared, the stored ones left as they are.
async fn a_declared_fleet_grows_by_its_new_instances(world: &World) {
    let more: Vec<_> = (0..50)
        .map(|n| declared(&format!("n{n:02}"), 5432, n != 7))
        .chain([declared("x", 5432, true), declared("y", 5433, false)])
        .collect();
    let done = dbfleet::reconcile::reconcile(&world.store, &more)
        .await
        .unwrap();
    assert_eq!((done.created.len(), done.updated.len()), (50, 0));
    assert!(done.problems.is_empty(), "{:?}", done.problems);
    let all = world.store.instances().list().await.unwrap();
    let inactive: Vec<&str> = all
        .iter()
        .filter(|i| !i.is_active)
        .map(|i| i.name.as_str())
        .collect();
    assert_eq!((all.len(), inactive), (52, vec!["n07", "y"]));
    assert!(all.iter().all(|i| i.managed));
}

async fn a_lone_failed_job_reports_its_batch_counters_as_zero(backend: Backend) {
    let world = World::on(backend).await;
    let instance = world.add_unreachable("alone").await;
    // Enqueued by another system: no batch, so the job is its own batch.
    let job = JobMessage::new(
        JobId::new(),
        None,
        Target::Instance(InstanceRef::Id(instance.id)),
        JobParams::default_for(JobKind::CapacitySync),
        chrono::Utc::now(),
        None,
    );
    let failed = dbfleet::fleet::aggregator::dead_letter_result(&job, "poisoned", 5);
    world
        .store
        .batches()
        .record_result(&dbfleet::fleet::aggregator::finished_job(&failed))
        .await
        .unwrap();
    let report = dispatcher::report(&world.store, job.effective_batch_id())
        .await
        .unwrap();
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["status"], "failed");
    assert_eq!(
        (
            json["total_records"].as_i64(),
            json["total_size_mb"].as_i64()
        ),
        (Some(0), Some(0))
    );
    assert_eq!(json["jobs"][0]["instance"], "alone");
    assert!(
        json["jobs"][0].get("records").is_none(),
        "a failed job has no output"
    );
    world.teardown().await;
}
