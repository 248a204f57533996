//! The control-store contract: every check runs against each backend
//! (PostgreSQL and SQLite), each time on a fresh, private database.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use dbfleet::config::StoreSettings;
use dbfleet::domain::{BatchId, DbType, InstanceId, InstanceName, JobId};
use dbfleet::inventory::{InventoryPlan, InventoryRecord};
use dbfleet::message::{ErrorClass, JobCounters, JobError, JobStatus};
use dbfleet::secret::PasswordRef;
use dbfleet::store::{
    Batch, BatchStatus, DeadLetter, Error, FinishedJob, Instance, NewInstance, NewJob, StatRow,
    Store, StoredStat, Tally,
};
use secrecy::SecretString;
use sqlx::{Connection, Executor, PgConnection};

const PG_ADMIN: &str = "postgres://postgres@127.0.0.1:5432/postgres";

// ---------------------------------------------------------------- harness

#[derive(Clone, Copy)]
enum Backend {
    Postgres,
    Sqlite,
}

/// Where a test's private database lives, to drop it afterwards.
enum Place {
    Postgres(String),
    Sqlite(PathBuf),
}

fn hex() -> String {
    format!("{:016x}", rand::random::<u64>())
}

async fn open(backend: Backend) -> (Store, Place) {
    let (url, place) = match backend {
        Backend::Postgres => {
            let db = format!("dbfc_{}", hex());
            let mut admin = PgConnection::connect(PG_ADMIN).await.unwrap();
            admin
                .execute(format!("CREATE DATABASE \"{db}\"").as_str())
                .await
                .unwrap();
            admin.close().await.unwrap();
            (
                format!("postgres://postgres@127.0.0.1:5432/{db}"),
                Place::Postgres(db),
            )
        }
        Backend::Sqlite => {
            // The directory does not exist yet: the store creates it.
            let dir = std::env::temp_dir().join(format!("dbfleet-contract-{}", hex()));
            let url = format!("sqlite:{}", dir.join("store.sqlite").display());
            (url, Place::Sqlite(dir))
        }
    };
    let settings = StoreSettings {
        url: Some(SecretString::from(url)),
        max_connections: 5,
    };
    let store = Store::connect(&settings).await.unwrap();
    store.migrate().await.unwrap();
    (store, place)
}

async fn teardown(place: Place) {
    match place {
        Place::Postgres(db) => {
            let mut admin = PgConnection::connect(PG_ADMIN).await.unwrap();
            admin
                .execute(format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)").as_str())
                .await
                .unwrap();
        }
        Place::Sqlite(dir) => std::fs::remove_dir_all(dir).unwrap(),
    }
}

/// Run one check on a fresh store; clean up even when the check panics,
/// then report the panic.
async fn run<F, Fut>(backend: Backend, check: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (store, place) = open(backend).await;
    let outcome = tokio::spawn(check(store)).await;
    teardown(place).await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// One module per check, with one test per backend.
macro_rules! contract {
    ($name:ident, $check:ident $(, $($flavor:tt)+)?) => {
        mod $name {
            use super::{run, $check, Backend};

            #[tokio::test $(($($flavor)+))?]
            async fn postgres() {
                run(Backend::Postgres, $check).await;
            }

            #[tokio::test $(($($flavor)+))?]
            async fn sqlite() {
                run(Backend::Sqlite, $check).await;
            }
        }
    };
}

contract!(instances, check_instances);
contract!(inventory, check_inventory);
contract!(stats, check_stats);
contract!(batches, check_batches);
contract!(sweep, check_sweep);
contract!(
    concurrency,
    check_concurrency,
    flavor = "multi_thread",
    worker_threads = 4
);
contract!(dead_letters, check_dead_letters);
contract!(leases, check_leases);
contract!(
    lease_race,
    check_lease_race,
    flavor = "multi_thread",
    worker_threads = 4
);

// ---------------------------------------------------------------- helpers

fn name(s: &str) -> InstanceName {
    InstanceName::parse(s).unwrap()
}

fn spec(n: &str, password: PasswordRef, managed: bool) -> NewInstance {
    NewInstance {
        name: name(n),
        db_type: DbType::Postgresql,
        host: format!("{n}.db.internal"),
        port: 5432,
        database: Some("postgres".into()),
        username: format!("{n}_reader"),
        password,
        managed,
    }
}

async fn add(store: &Store, n: &str) -> Instance {
    store
        .instances()
        .add(&spec(n, PasswordRef::None, false))
        .await
        .unwrap()
}

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, d).unwrap()
}

/// An instant with microseconds, the precision both stores keep.
fn at(d: u32, minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, d, 12, 0, 0).unwrap()
        + Duration::minutes(minute)
        + Duration::microseconds(123_456)
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn plan(
    created: &[&str],
    refreshed: &[&str],
    reactivated: &[&str],
    gone: &[&str],
) -> InventoryPlan {
    InventoryPlan {
        created: strings(created),
        refreshed: strings(refreshed),
        reactivated: strings(reactivated),
        deactivated: strings(gone),
        ..InventoryPlan::default()
    }
}

fn record(
    n: &str,
    first: NaiveDate,
    last: NaiveDate,
    deleted_at: Option<DateTime<Utc>>,
) -> InventoryRecord {
    InventoryRecord {
        database_name: n.into(),
        is_active: deleted_at.is_none(),
        first_seen_date: first,
        last_seen_date: last,
        deleted_at,
    }
}

fn stat(n: &str, size: i64) -> StatRow {
    StatRow {
        database_name: n.into(),
        size_mb: size,
        data_size_mb: Some(size - 1),
        log_size_mb: Some(1),
        collected_at: at(1, 0),
    }
}

/// The job kind of these checks: capacity sync, as the aggregator folds it.
const KIND: &str = "capacity_sync";

/// The zero summary a capacity-sync batch starts with.
fn zero() -> Tally {
    Tally::from_pairs([("total_records", 0), ("total_size_mb", 0)])
}

/// A capacity-sync job's end: on success, `records` records and databases
/// of 10 MiB each (its output and tally); on failure, a connect error.
fn result(
    batch: BatchId,
    job: JobId,
    instance: impl Into<Option<InstanceId>>,
    ok: bool,
    finished_at: DateTime<Utc>,
    records: u32,
) -> FinishedJob {
    let counters = JobCounters {
        databases: records,
        records,
        total_size_mb: i64::from(records) * 10,
        ..JobCounters::default()
    };
    FinishedJob {
        job_id: job,
        batch_id: batch,
        kind: KIND.into(),
        instance_id: instance.into(),
        status: if ok {
            JobStatus::Succeeded
        } else {
            JobStatus::Failed
        },
        error: (!ok).then(|| JobError {
            class: ErrorClass::Connect,
            message: "connection refused".into(),
        }),
        warnings: Vec::new(),
        output: ok.then(|| serde_json::to_value(counters).unwrap()),
        tally: if ok {
            Tally::from_pairs([
                ("total_records", i64::from(records)),
                ("total_size_mb", counters.total_size_mb),
            ])
        } else {
            Tally::default()
        },
        started_at: finished_at - Duration::seconds(3),
        finished_at,
        attempt: 1,
        worker: "worker-0".into(),
    }
}

fn jobs(instances: &[InstanceId], deadline: DateTime<Utc>) -> Vec<NewJob> {
    instances
        .iter()
        .map(|&instance_id| NewJob {
            job_id: JobId::new(),
            instance_id: Some(instance_id),
            target: format!("instance {instance_id}"),
            deadline,
        })
        .collect()
}

fn counts(b: &Batch) -> (BatchStatus, i64, i64, i64) {
    (b.status, b.total, b.succeeded, b.failed)
}

// ---------------------------------------------------------------- checks

async fn check_instances(store: Store) {
    let env = PasswordRef::Env("BETA_PASSWORD".into());
    let file = PasswordRef::File("/run/secrets/gamma".into());
    let beta = store
        .instances()
        .add(&spec("beta", env.clone(), false))
        .await
        .unwrap();
    let alpha = store
        .instances()
        .add(&spec("alpha", PasswordRef::None, true))
        .await
        .unwrap();
    let gamma = store
        .instances()
        .add(&spec("gamma", file.clone(), false))
        .await
        .unwrap();
    assert_eq!(beta.name.as_str(), "beta");
    assert_eq!(beta.host, "beta.db.internal");
    assert_eq!(beta.port, 5432);
    assert_eq!(beta.database.as_deref(), Some("postgres"));
    assert_eq!(beta.username, "beta_reader");
    assert_eq!(beta.db_type, DbType::Postgresql);
    assert!(beta.is_active && !beta.managed);
    assert_eq!(beta.password, env);
    assert!(alpha.managed);
    assert_eq!(alpha.password, PasswordRef::None);
    assert_eq!(gamma.password, file);

    let listed = store.instances().list().await.unwrap();
    let listed: Vec<_> = listed.iter().map(|i| (i.name.as_str(), i.id)).collect();
    assert_eq!(
        listed,
        [("alpha", alpha.id), ("beta", beta.id), ("gamma", gamma.id)]
    );
    let by_id = store.instances().get(gamma.id).await.unwrap().unwrap();
    assert_eq!(
        (by_id.name.as_str(), by_id.password),
        ("gamma", file.clone())
    );
    let by_name = store
        .instances()
        .by_name(&name("alpha"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((by_name.id, by_name.managed), (alpha.id, true));
    assert!(store
        .instances()
        .by_name(&name("delta"))
        .await
        .unwrap()
        .is_none());
    assert!(store
        .instances()
        .get(InstanceId(987_654))
        .await
        .unwrap()
        .is_none());

    match store
        .instances()
        .add(&spec("beta", PasswordRef::None, true))
        .await
    {
        Err(Error::Conflict(msg)) => assert_eq!(msg, "an instance named `beta` already exists"),
        other => panic!("duplicate name: {other:?}"),
    }
    assert_eq!(store.instances().list().await.unwrap().len(), 3);

    // Overwrite connection fields and the credential reference.
    let mut changed = spec("beta", file.clone(), true);
    changed.db_type = DbType::Mysql;
    changed.host = "beta2.db.internal".into();
    changed.port = 3307;
    changed.database = None;
    changed.username = "beta_admin".into();
    store.instances().update(beta.id, &changed).await.unwrap();
    let got = store.instances().get(beta.id).await.unwrap().unwrap();
    assert_eq!(got.db_type, DbType::Mysql);
    assert_eq!((got.host.as_str(), got.port), ("beta2.db.internal", 3307));
    assert_eq!(got.database, None);
    assert_eq!(got.username, "beta_admin");
    assert_eq!(got.password, file);
    assert!(got.managed);
    changed.password = PasswordRef::None;
    store.instances().update(beta.id, &changed).await.unwrap();
    let got = store.instances().get(beta.id).await.unwrap().unwrap();
    assert_eq!(got.password, PasswordRef::None);
    // Other instances kept their own credentials.
    let g = store.instances().get(gamma.id).await.unwrap().unwrap();
    assert_eq!(
        (g.password, g.username.as_str()),
        (file.clone(), "gamma_reader")
    );
    assert!(matches!(
        store
            .instances()
            .update(InstanceId(987_654), &changed)
            .await,
        Err(Error::NotFound(_))
    ));

    assert!(store
        .instances()
        .set_active(&name("beta"), false)
        .await
        .unwrap());
    assert!(
        !store
            .instances()
            .get(beta.id)
            .await
            .unwrap()
            .unwrap()
            .is_active
    );
    assert_eq!(
        store.instances().list().await.unwrap().len(),
        3,
        "inactive stays listed"
    );
    assert!(store
        .instances()
        .set_active(&name("beta"), true)
        .await
        .unwrap());
    assert!(
        store
            .instances()
            .get(beta.id)
            .await
            .unwrap()
            .unwrap()
            .is_active
    );
    assert!(!store
        .instances()
        .set_active(&name("delta"), true)
        .await
        .unwrap());

    assert!(store.instances().remove(&name("beta")).await.unwrap());
    assert!(!store.instances().remove(&name("beta")).await.unwrap());
    let listed = store.instances().list().await.unwrap();
    let listed: Vec<_> = listed.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(listed, ["alpha", "gamma"]);
    assert!(store.instances().get(beta.id).await.unwrap().is_none());
    assert!(store
        .instances()
        .by_name(&name("beta"))
        .await
        .unwrap()
        .is_none());
    assert!(!store
        .instances()
        .set_active(&name("beta"), true)
        .await
        .unwrap());
    assert!(matches!(
        store.instances().update(beta.id, &changed).await,
        Err(Error::NotFound(_))
    ));

    // The name is free again.
    let again = store
        .instances()
        .add(&spec("beta", env.clone(), false))
        .await
        .unwrap();
    assert_ne!(again.id, beta.id);
    assert_eq!((again.password, again.is_active), (env, true));
    assert_eq!(store.instances().list().await.unwrap().len(), 3);
}

async fn check_inventory(store: Store) {
    let inst = add(&store, "inv").await.id;
    let other = add(&store, "other").await.id;
    assert!(store.inventory().records(inst).await.unwrap().is_empty());

    store
        .inventory()
        .apply(
            inst,
            &plan(&["c", "a", "b"], &[], &[], &[]),
            day(1),
            at(1, 0),
        )
        .await
        .unwrap();
    store
        .inventory()
        .apply(other, &plan(&["a"], &[], &[], &[]), day(1), at(1, 0))
        .await
        .unwrap();
    let want = [
        record("a", day(1), day(1), None),
        record("b", day(1), day(1), None),
        record("c", day(1), day(1), None),
    ];
    assert_eq!(store.inventory().records(inst).await.unwrap(), want);

    // Day 2: a and c still there, b gone, d new.
    store
        .inventory()
        .apply(
            inst,
            &plan(&["d"], &["a", "c"], &[], &["b"]),
            day(2),
            at(2, 0),
        )
        .await
        .unwrap();
    let want = [
        record("a", day(1), day(2), None),
        record("b", day(1), day(1), Some(at(2, 0))),
        record("c", day(1), day(2), None),
        record("d", day(2), day(2), None),
    ];
    assert_eq!(store.inventory().records(inst).await.unwrap(), want);

    // Deactivating again keeps the first deletion time.
    store
        .inventory()
        .apply(inst, &plan(&[], &[], &[], &["b"]), day(2), at(2, 30))
        .await
        .unwrap();
    assert_eq!(store.inventory().records(inst).await.unwrap(), want);

    // Day 3: b is back; d goes.
    store
        .inventory()
        .apply(
            inst,
            &plan(&[], &["a", "c"], &["b"], &["d"]),
            day(3),
            at(3, 0),
        )
        .await
        .unwrap();
    let want = [
        record("a", day(1), day(3), None),
        record("b", day(1), day(3), None),
        record("c", day(1), day(3), None),
        record("d", day(2), day(2), Some(at(3, 0))),
    ];
    assert_eq!(store.inventory().records(inst).await.unwrap(), want);

    // A late run of an earlier day never moves last_seen_date backwards.
    store
        .inventory()
        .apply(inst, &plan(&[], &["a"], &["b"], &[]), day(2), at(3, 5))
        .await
        .unwrap();
    assert_eq!(
        store.inventory().records(inst).await.unwrap()[..2],
        want[..2]
    );

    // A concurrent run created d again: it is folded in, reactivated.
    store
        .inventory()
        .apply(inst, &plan(&["d"], &[], &[], &[]), day(4), at(4, 0))
        .await
        .unwrap();
    let rows = store.inventory().records(inst).await.unwrap();
    assert_eq!(rows.len(), 4, "rows are never deleted");
    assert_eq!(rows[3], record("d", day(2), day(4), None));

    // The other instance was never touched.
    let others = store.inventory().records(other).await.unwrap();
    assert_eq!(others, [record("a", day(1), day(1), None)]);
}

async fn check_stats(store: Store) {
    let inst = add(&store, "stats").await.id;
    let other = add(&store, "quiet").await.id;
    assert_eq!(
        store
            .stats()
            .upsert_databases(inst, day(1), &[])
            .await
            .unwrap(),
        0
    );
    let n = store
        .stats()
        .upsert_databases(inst, day(1), &[stat("x", 100), stat("y", 50), stat("w", 7)])
        .await
        .unwrap();
    assert_eq!(n, 3);
    // Same day again: overwrite, no new row.
    let mut x = stat("x", 120);
    x.data_size_mb = None;
    assert_eq!(
        store
            .stats()
            .upsert_databases(inst, day(1), &[x])
            .await
            .unwrap(),
        1
    );
    let stored = |n: &str, size: i64, data: Option<i64>, d: u32| StoredStat {
        database_name: n.into(),
        size_mb: size,
        data_size_mb: data,
        collected_date: day(d),
    };
    assert_eq!(
        store.stats().databases(inst, day(1)).await.unwrap(),
        [
            stored("w", 7, Some(6), 1),
            stored("x", 120, None, 1),
            stored("y", 50, Some(49), 1)
        ]
    );
    // Another day adds rows.
    assert_eq!(
        store
            .stats()
            .upsert_databases(inst, day(2), &[stat("x", 130)])
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store.stats().databases(inst, day(2)).await.unwrap(),
        [stored("x", 130, Some(129), 2)]
    );
    assert_eq!(
        store.stats().databases(inst, day(1)).await.unwrap().len(),
        3
    );
    assert!(store
        .stats()
        .databases(other, day(1))
        .await
        .unwrap()
        .is_empty());

    // x active, y deactivated, w untracked.
    store
        .inventory()
        .apply(inst, &plan(&["x", "y"], &[], &[], &[]), day(1), at(1, 0))
        .await
        .unwrap();
    store
        .inventory()
        .apply(inst, &plan(&[], &["x"], &[], &["y"]), day(1), at(1, 1))
        .await
        .unwrap();
    let total = store
        .stats()
        .refresh_instance_total(inst, day(1), at(1, 2))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            total.total_size_mb,
            total.database_count,
            total.collected_date
        ),
        (127, 2, day(1))
    );
    let read = store
        .stats()
        .instance_total(inst, day(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read, total);

    // Refreshing again overwrites the day's total.
    store
        .stats()
        .upsert_databases(inst, day(1), &[stat("x", 200)])
        .await
        .unwrap();
    let total = store
        .stats()
        .refresh_instance_total(inst, day(1), at(1, 3))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((total.total_size_mb, total.database_count), (207, 2));
    assert_eq!(
        store.stats().instance_total(inst, day(1)).await.unwrap(),
        Some(total)
    );

    let total2 = store
        .stats()
        .refresh_instance_total(inst, day(2), at(2, 0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((total2.total_size_mb, total2.database_count), (130, 1));

    // No rows that day: nothing written.
    assert_eq!(
        store
            .stats()
            .refresh_instance_total(inst, day(9), at(9, 0))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.stats().instance_total(inst, day(9)).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .stats()
            .refresh_instance_total(other, day(1), at(1, 0))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.stats().instance_total(other, day(1)).await.unwrap(),
        None
    );
}

async fn check_batches(store: Store) {
    let ids: Vec<InstanceId> = [
        add(&store, "gamma").await.id,
        add(&store, "alpha").await.id,
        add(&store, "beta").await.id,
    ]
    .into();
    let far = Utc::now() + Duration::hours(1);

    let batch = BatchId::new();
    let new_jobs = jobs(&ids, far);
    let (jg, ja, jb) = (new_jobs[0].job_id, new_jobs[1].job_id, new_jobs[2].job_id);
    let (ig, ia, ib) = (ids[0], ids[1], ids[2]);
    let created = store
        .batches()
        .create(batch, KIND, Some("ops"), &new_jobs, &zero())
        .await
        .unwrap();
    assert_eq!(counts(&created), (BatchStatus::Running, 3, 0, 0));
    assert_eq!(created.id, batch);
    assert_eq!(created.requested_by.as_deref(), Some("ops"));
    assert_eq!(created.finished_at, None);
    assert_eq!(
        (
            created.summary.get("total_records"),
            created.summary.get("total_size_mb")
        ),
        (0, 0)
    );
    assert_eq!(store.batches().get(batch).await.unwrap().unwrap().total, 3);
    assert!(store.batches().get(BatchId::new()).await.unwrap().is_none());

    let b = store
        .batches()
        .record_result(&result(batch, ja, ia, true, at(1, 10), 5))
        .await
        .unwrap();
    assert_eq!(counts(&b), (BatchStatus::Running, 3, 1, 0));
    let b = store
        .batches()
        .record_result(&result(batch, jb, ib, false, at(1, 10), 0))
        .await
        .unwrap();
    assert_eq!(counts(&b), (BatchStatus::Running, 3, 1, 1));
    assert_eq!(b.finished_at, None);
    // A later failed duplicate does not overwrite a success.
    let b = store
        .batches()
        .record_result(&result(batch, ja, ia, false, at(1, 20), 0))
        .await
        .unwrap();
    assert_eq!(counts(&b), (BatchStatus::Running, 3, 1, 1));
    let b = store
        .batches()
        .record_result(&result(batch, jg, ig, true, at(1, 10), 7))
        .await
        .unwrap();
    assert_eq!(counts(&b), (BatchStatus::PartialSuccess, 3, 2, 1));
    assert_eq!(
        (
            b.summary.get("total_records"),
            b.summary.get("total_size_mb")
        ),
        (12, 120)
    );
    let finished = b.finished_at.expect("terminal batch has finished_at");

    let rows = store.batches().jobs(batch).await.unwrap();
    let view: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r.instance.as_str(),
                r.job_id,
                r.instance_id,
                r.status.as_str(),
            )
        })
        .collect();
    assert_eq!(
        view,
        [
            ("alpha", ja, Some(ia), "succeeded"),
            ("beta", jb, Some(ib), "failed"),
            ("gamma", jg, Some(ig), "succeeded")
        ]
    );
    assert_eq!(rows[0].error, None);
    assert_eq!(
        (
            rows[0].count("records"),
            rows[0].count("databases"),
            rows[0].count("total_size_mb")
        ),
        (5, 5, 50)
    );
    assert_eq!(
        (rows[0].attempt, rows[0].worker.as_deref()),
        (1, Some("worker-0"))
    );
    assert_eq!(rows[0].finished_at, Some(at(1, 10)), "the success was kept");
    assert_eq!(
        rows[1].error,
        Some(JobError {
            class: ErrorClass::Connect,
            message: "connection refused".into()
        })
    );

    // An older result of the same status does not overwrite; a newer one does.
    let b = store
        .batches()
        .record_result(&result(batch, jg, ig, true, at(1, 5), 99))
        .await
        .unwrap();
    assert_eq!(b.summary.get("total_records"), 12);
    let b = store
        .batches()
        .record_result(&result(batch, jg, ig, true, at(1, 15), 8))
        .await
        .unwrap();
    assert_eq!(b.summary.get("total_records"), 13);
    // Same instant again: not newer, not applied.
    let b = store
        .batches()
        .record_result(&result(batch, jg, ig, true, at(1, 15), 50))
        .await
        .unwrap();
    assert_eq!(b.summary.get("total_records"), 13);
    // A success after a failure overwrites it; finished_at is kept.
    let b = store
        .batches()
        .record_result(&result(batch, jb, ib, true, at(1, 30), 1))
        .await
        .unwrap();
    assert_eq!(counts(&b), (BatchStatus::Success, 3, 3, 0));
    assert_eq!(b.summary.get("total_records"), 14);
    assert_eq!(b.finished_at, Some(finished));
    let rows = store.batches().jobs(batch).await.unwrap();
    assert_eq!(
        (rows[1].status.as_str(), &rows[1].error),
        ("succeeded", &None)
    );

    // Every job failed.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let failing = BatchId::new();
    let fj = jobs(&ids[..2], far);
    store
        .batches()
        .create(failing, KIND, None, &fj, &zero())
        .await
        .unwrap();
    for j in &fj {
        store
            .batches()
            .record_result(&result(
                failing,
                j.job_id,
                j.instance_id,
                false,
                at(1, 40),
                0,
            ))
            .await
            .unwrap();
    }
    let f = store.batches().get(failing).await.unwrap().unwrap();
    assert_eq!(counts(&f), (BatchStatus::Failed, 2, 0, 2));
    assert!(f.finished_at.is_some());
    assert_eq!(f.requested_by, None);
    let rows = store.batches().jobs(failing).await.unwrap();
    assert!(rows
        .iter()
        .all(|r| r.error.as_ref().map(|e| e.class) == Some(ErrorClass::Connect)));

    // No job at all: done at once.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let empty = BatchId::new();
    let e = store
        .batches()
        .create(empty, KIND, Some("cron"), &[], &zero())
        .await
        .unwrap();
    assert_eq!(counts(&e), (BatchStatus::Success, 0, 0, 0));
    assert!(e.finished_at.is_some());
    assert!(store.batches().jobs(empty).await.unwrap().is_empty());

    // A standalone job (its own batch, never created) creates the batch.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let job = JobId::new();
    let alone = BatchId(job.0);
    let s = store
        .batches()
        .record_result(&result(alone, job, ib, true, at(1, 50), 2))
        .await
        .unwrap();
    assert_eq!(counts(&s), (BatchStatus::Success, 1, 1, 0));
    assert_eq!(s.id, alone);
    let rows = store.batches().jobs(alone).await.unwrap();
    assert_eq!((rows.len(), rows[0].instance.as_str()), (1, "beta"));

    let newest: Vec<BatchId> = store
        .batches()
        .list(2)
        .await
        .unwrap()
        .iter()
        .map(|b| b.id)
        .collect();
    assert_eq!(newest, [alone, empty]);
    let all: Vec<BatchId> = store
        .batches()
        .list(10)
        .await
        .unwrap()
        .iter()
        .map(|b| b.id)
        .collect();
    assert_eq!(all, [alone, empty, failing, batch]);
    let listed = store.batches().list(10).await.unwrap();
    assert!(listed
        .windows(2)
        .all(|w| w[0].created_at >= w[1].created_at));
}

async fn check_sweep(store: Store) {
    let ids: Vec<InstanceId> = [add(&store, "one").await.id, add(&store, "two").await.id].into();
    let cutoff = at(1, 60);
    let past = at(1, 0);
    let later = at(1, 120);

    // Batch a: one job succeeded, one lost (past its deadline).
    let a = BatchId::new();
    let aj = jobs(&ids, past);
    store
        .batches()
        .create(a, KIND, None, &aj, &zero())
        .await
        .unwrap();
    store
        .batches()
        .record_result(&result(a, aj[0].job_id, ids[0], true, past, 3))
        .await
        .unwrap();
    // Batch b: one lost, one with a later deadline.
    let b = BatchId::new();
    let mut bj = jobs(&ids, past);
    bj[1].deadline = later;
    store
        .batches()
        .create(b, KIND, None, &bj, &zero())
        .await
        .unwrap();
    // Batch c: nothing expired.
    let c = BatchId::new();
    store
        .batches()
        .create(c, KIND, None, &jobs(&ids, later), &zero())
        .await
        .unwrap();
    // Exactly at the cutoff is not past it.
    let d = BatchId::new();
    store
        .batches()
        .create(d, KIND, None, &jobs(&ids[..1], cutoff), &zero())
        .await
        .unwrap();

    let mut swept = store.batches().sweep_expired(cutoff).await.unwrap();
    swept.sort();
    let mut want = vec![a, b];
    want.sort();
    assert_eq!(swept, want);

    let ba = store.batches().get(a).await.unwrap().unwrap();
    assert_eq!(counts(&ba), (BatchStatus::PartialSuccess, 2, 1, 1));
    assert!(ba.finished_at.is_some());
    let lost = &store.batches().jobs(a).await.unwrap()[1];
    assert_eq!(lost.status, "failed");
    assert_eq!(
        lost.error.as_ref().map(|e| e.class),
        Some(ErrorClass::Timeout)
    );
    assert!(lost.finished_at.is_some());
    let kept = &store.batches().jobs(a).await.unwrap()[0];
    assert_eq!(
        (kept.status.as_str(), kept.count("records")),
        ("succeeded", 3)
    );

    let bb = store.batches().get(b).await.unwrap().unwrap();
    assert_eq!(counts(&bb), (BatchStatus::Running, 2, 0, 1));
    assert_eq!(bb.finished_at, None);
    let statuses: Vec<String> = store
        .batches()
        .jobs(b)
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.status)
        .collect();
    assert_eq!(statuses, ["failed", "pending"]);
    let bc = store.batches().get(c).await.unwrap().unwrap();
    assert_eq!(counts(&bc), (BatchStatus::Running, 2, 0, 0));
    let bd = store.batches().get(d).await.unwrap().unwrap();
    assert_eq!(counts(&bd), (BatchStatus::Running, 1, 0, 0));

    // Sweeping again changes nothing.
    assert!(store
        .batches()
        .sweep_expired(cutoff)
        .await
        .unwrap()
        .is_empty());
    let again = store.batches().get(a).await.unwrap().unwrap();
    assert_eq!(
        (counts(&again), again.finished_at),
        (counts(&ba), ba.finished_at)
    );
    assert_eq!(
        counts(&store.batches().get(b).await.unwrap().unwrap()),
        counts(&bb)
    );

    // The late result of a timed-out job still counts as a success.
    let late = store
        .batches()
        .record_result(&result(b, bj[0].job_id, ids[0], true, at(1, 90), 1))
        .await
        .unwrap();
    assert_eq!(counts(&late), (BatchStatus::Running, 2, 1, 0));
    // The rest of b expires later: terminal.
    let mut swept = store.batches().sweep_expired(at(1, 180)).await.unwrap();
    swept.sort();
    let mut want = vec![b, c, d];
    want.sort();
    assert_eq!(swept, want);
    let bb = store.batches().get(b).await.unwrap().unwrap();
    assert_eq!(counts(&bb), (BatchStatus::PartialSuccess, 2, 1, 1));
    assert_eq!(
        counts(&store.batches().get(c).await.unwrap().unwrap()).0,
        BatchStatus::Failed
    );
}

async fn check_concurrency(store: Store) {
    let inst = add(&store, "busy").await.id;
    let batch = BatchId::new();
    let new_jobs = jobs(&vec![inst; 50], Utc::now() + Duration::hours(1));
    store
        .batches()
        .create(batch, KIND, Some("load"), &new_jobs, &zero())
        .await
        .unwrap();
    let results: Vec<FinishedJob> = new_jobs
        .iter()
        .enumerate()
        .map(|(i, j)| {
            result(
                batch,
                j.job_id,
                inst,
                i % 3 != 0,
                at(1, 0),
                u32::from(i % 3 != 0),
            )
        })
        .collect();
    let results = Arc::new(results);
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let store = store.clone();
            let results = results.clone();
            tokio::spawn(async move {
                // Each result once from its own task, and again (a
                // redelivery) from the next one.
                for (i, r) in results.iter().enumerate() {
                    if i % 8 == t || i % 8 == (t + 1) % 8 {
                        store.batches().record_result(r).await.unwrap();
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let failed = (0..50).filter(|i| i % 3 == 0).count() as i64;
    let b = store.batches().get(batch).await.unwrap().unwrap();
    assert_eq!(
        counts(&b),
        (BatchStatus::PartialSuccess, 50, 50 - failed, failed)
    );
    assert_eq!(b.summary.get("total_records"), 50 - failed);
    assert!(b.finished_at.is_some());
    let jobs = store.batches().jobs(batch).await.unwrap();
    assert_eq!(jobs.len(), 50);
    assert!(jobs.iter().all(|j| j.status != "pending"));
}

async fn check_dead_letters(store: Store) {
    assert!(store
        .dead_letters()
        .list(true, 10)
        .await
        .unwrap()
        .is_empty());
    let before = Utc::now() - Duration::minutes(1);
    let job_body = br#"{"schema":"dbfleet.job.v1","job_id":"x"}"#.to_vec();
    let a = store
        .dead_letters()
        .record(
            Some("job-1"),
            "job",
            "delivery limit reached (5)",
            &job_body,
        )
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let b = store
        .dead_letters()
        .record(Some("job-2"), "result", "broker: rejected", b"{}")
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    // Binary, invalid UTF-8, longer than the preview.
    let mut garbage = vec![0u8, 0xff, b'\n'];
    garbage.extend(std::iter::repeat_n(b'z', 300));
    let c = store
        .dead_letters()
        .record(None, "unknown", "not a JSON object", &garbage)
        .await
        .unwrap();
    assert!(a < b && b < c, "ids grow: {a} {b} {c}");
    assert!(
        store
            .dead_letters()
            .record(None, "bogus", "x", b"")
            .await
            .is_err(),
        "kind is checked"
    );

    let listed = store.dead_letters().list(false, 10).await.unwrap();
    let ids: Vec<i64> = listed.iter().map(|d| d.id).collect();
    assert_eq!(ids, [c, b, a], "newest first");
    let (dc, db, da) = (&listed[0], &listed[1], &listed[2]);
    assert_eq!(
        (
            da.message_id.as_deref(),
            da.kind.as_str(),
            da.reason.as_str()
        ),
        (Some("job-1"), "job", "delivery limit reached (5)")
    );
    assert_eq!(da.body, job_body);
    assert_eq!(da.preview, String::from_utf8(job_body.clone()).unwrap());
    assert_eq!(
        (
            db.message_id.as_deref(),
            db.kind.as_str(),
            db.reason.as_str()
        ),
        (Some("job-2"), "result", "broker: rejected")
    );
    assert_eq!(
        (dc.message_id.as_deref(), dc.kind.as_str()),
        (None, "unknown")
    );
    assert_eq!(dc.body, garbage, "the body is kept byte for byte");
    assert_eq!(dc.preview.chars().count(), DeadLetter::PREVIEW_CHARS);
    assert!(
        dc.preview.starts_with("\0\u{fffd}\nzzz"),
        "{:?}",
        dc.preview
    );
    assert!(listed.iter().all(|d| d.replayed_at.is_none()));
    assert!(listed
        .iter()
        .all(|d| d.dead_at > before && d.dead_at <= Utc::now()));
    assert!(dc.dead_at >= db.dead_at && db.dead_at >= da.dead_at);
    // JSON carries the preview, never the body.
    let json = serde_json::to_value(dc).unwrap();
    assert!(json.get("body").is_none() && json.get("preview").is_some());

    let ids: Vec<i64> = store
        .dead_letters()
        .list(false, 2)
        .await
        .unwrap()
        .iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(ids, [c, b], "limit keeps the newest");

    let by_id = store.dead_letters().by_id(&[c, 987_654, a]).await.unwrap();
    let ids: Vec<i64> = by_id.iter().map(|d| d.id).collect();
    assert_eq!(ids, [a, c], "by id, unknown ids left out");
    assert_eq!(by_id[1].body, garbage);
    assert!(store.dead_letters().by_id(&[]).await.unwrap().is_empty());

    store
        .dead_letters()
        .mark_replayed(&[], at(1, 0))
        .await
        .unwrap();
    store
        .dead_letters()
        .mark_replayed(&[a, b], at(1, 0))
        .await
        .unwrap();
    let pending: Vec<i64> = store
        .dead_letters()
        .list(false, 10)
        .await
        .unwrap()
        .iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(pending, [c], "replayed ones are filtered out");
    let all = store.dead_letters().list(true, 10).await.unwrap();
    let view: Vec<_> = all.iter().map(|d| (d.id, d.replayed_at)).collect();
    assert_eq!(
        view,
        [(c, None), (b, Some(at(1, 0))), (a, Some(at(1, 0)))],
        "--all includes them, with when"
    );
    // Replaying again moves the stamp; by id still finds replayed ones.
    store
        .dead_letters()
        .mark_replayed(&[a], at(2, 0))
        .await
        .unwrap();
    let again = store.dead_letters().by_id(&[a, b]).await.unwrap();
    assert_eq!(
        (again[0].replayed_at, again[1].replayed_at),
        (Some(at(2, 0)), Some(at(1, 0)))
    );
}

async fn check_leases(store: Store) {
    let inst = add(&store, "leased").await.id;
    let other = add(&store, "free").await.id;
    let (j1, j2) = (JobId::new(), JobId::new());

    assert!(store
        .leases()
        .acquire(inst, j1, at(1, 10), at(1, 0))
        .await
        .unwrap());
    assert!(
        !store
            .leases()
            .acquire(inst, j2, at(1, 20), at(1, 5))
            .await
            .unwrap(),
        "another job is refused while the lease is live"
    );
    assert!(
        store
            .leases()
            .acquire(inst, j1, at(1, 30), at(1, 5))
            .await
            .unwrap(),
        "re-entrant for the holder, which extends it"
    );
    assert!(
        !store
            .leases()
            .acquire(inst, j2, at(1, 40), at(1, 20))
            .await
            .unwrap(),
        "the extension holds: not expired at 12:20"
    );
    assert!(
        !store
            .leases()
            .acquire(inst, j2, at(1, 40), at(1, 30))
            .await
            .unwrap(),
        "exactly at expiry is not past it"
    );
    assert!(
        store
            .leases()
            .acquire(inst, j2, at(1, 50), at(1, 31))
            .await
            .unwrap(),
        "an expired lease is taken over"
    );
    assert!(
        !store
            .leases()
            .acquire(inst, j1, at(1, 60), at(1, 32))
            .await
            .unwrap(),
        "the old holder lost it"
    );

    // Releasing by a job that does not hold it changes nothing.
    store.leases().release(inst, j1).await.unwrap();
    assert!(!store
        .leases()
        .acquire(inst, j1, at(1, 60), at(1, 33))
        .await
        .unwrap());
    // Leases are per instance.
    assert!(store
        .leases()
        .acquire(other, j1, at(1, 60), at(1, 33))
        .await
        .unwrap());
    // The holder releases: free at once, long before expiry.
    store.leases().release(inst, j2).await.unwrap();
    assert!(store
        .leases()
        .acquire(inst, j1, at(1, 60), at(1, 34))
        .await
        .unwrap());
    store.leases().release(inst, j1).await.unwrap();
    store.leases().release(inst, j1).await.unwrap();

    assert!(matches!(
        store
            .leases()
            .acquire(InstanceId(987_654), j1, at(1, 60), at(1, 0))
            .await,
        Err(Error::NotFound(_))
    ));
    store
        .leases()
        .release(InstanceId(987_654), j1)
        .await
        .unwrap();
}

async fn check_lease_race(store: Store) {
    let inst = add(&store, "contended").await.id;
    let now = Utc::now();
    let until = now + Duration::minutes(10);
    let start = Arc::new(tokio::sync::Barrier::new(20));
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (store, start) = (store.clone(), start.clone());
            tokio::spawn(async move {
                let job = JobId::new();
                start.wait().await;
                let won = store.leases().acquire(inst, job, until, now).await.unwrap();
                (job, won)
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    let winners: Vec<JobId> = outcomes
        .iter()
        .filter(|(_, won)| *won)
        .map(|(job, _)| *job)
        .collect();
    assert_eq!(winners.len(), 1, "exactly one acquirer wins: {outcomes:?}");
    for (job, _) in &outcomes {
        let held = store
            .leases()
            .acquire(inst, *job, until, now)
            .await
            .unwrap();
        assert_eq!(held, *job == winners[0], "only the winner holds it");
    }
}
