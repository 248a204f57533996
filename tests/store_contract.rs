//! The control-store contract: every check runs against each backend
//! (PostgreSQL and SQLite), each time on a fresh, private database.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use dbfleet::config::StoreSettings;
use dbfleet::domain::{BatchId, DbType, InstanceId, InstanceName, JobId};
use dbfleet::inventory::{InventoryPlan, InventoryRecord};
use dbfleet::labels::Labels;
use dbfleet::message::capacity_sync::Output as JobCounters;
use dbfleet::message::{ErrorClass, JobError, JobStatus};
use dbfleet::secret::PasswordRef;
use dbfleet::store::Cancel;
use dbfleet::store::{
    Batch, BatchStatus, DeadLetter, Error, Filing, FinishedJob, HostSlot, IdempotencyKey,
    ImportOptions, ImportReport, ImportRow, Imported, Instance, JobRow, Keyed, Migrated,
    NewInstance, NewJob, Origin, Parked, Retrying, ScheduleSlot, Schema, Start, StartingJob,
    StatRow, Store, StoredStat, StoredUnmeasured, Tally, UnmeasuredRow,
};
use secrecy::{ExposeSecret, SecretString};
use sqlx::migrate::Migrator;
use sqlx::postgres::PgPool;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
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

/// A fresh, empty database: its settings, and where it lives.
async fn create(backend: Backend) -> (StoreSettings, Place) {
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
    (settings, place)
}

/// A fresh store, migrated.
async fn open(settings: &StoreSettings) -> Store {
    let store = Store::connect(settings).await.unwrap();
    store.migrate().await.unwrap();
    store
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
    F: FnOnce(Store) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    run_fresh(backend, |settings| async move {
        check(open(&settings).await).await
    })
    .await;
}

/// Run one check on a fresh, empty database (not migrated), given its
/// settings; clean up even when the check panics, then report the panic.
async fn run_fresh<F, Fut>(backend: Backend, check: F)
where
    F: FnOnce(StoreSettings) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (settings, place) = create(backend).await;
    let outcome = tokio::spawn(check(settings)).await;
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
contract!(import, check_import);
contract!(tls, check_tls);
contract!(inventory, check_inventory);
contract!(stats, check_stats);
contract!(partial_days, check_partial_days);
contract!(overrides, check_overrides);
contract!(batches, check_batches);
contract!(sweep, check_sweep);
contract!(
    concurrency,
    check_concurrency,
    flavor = "multi_thread",
    worker_threads = 4
);
contract!(fold, check_fold);
contract!(runs, check_runs);
contract!(filing, check_filing);
contract!(filings_of_a_day, check_filings_of_a_day);
contract!(group_fold, check_group_fold);
contract!(dead_letters, check_dead_letters);
contract!(leases, check_leases);
contract!(host_cap, check_host_cap);
contract!(start_reads_inventory, check_start_reads_inventory);
contract!(batch_pages, check_batch_pages);
contract!(cancel, check_cancel);
contract!(capacity_reads, check_capacity_reads);
contract!(
    idempotency_keys,
    check_idempotency_keys,
    flavor = "multi_thread",
    worker_threads = 4
);
contract!(
    schedule_slots,
    check_schedule_slots,
    flavor = "multi_thread",
    worker_threads = 4
);
contract!(
    lease_race,
    check_lease_race,
    flavor = "multi_thread",
    worker_threads = 4
);
contract!(
    dead_letter_claims,
    check_dead_letter_claims,
    flavor = "multi_thread",
    worker_threads = 4
);
contract!(
    outbox,
    check_outbox,
    flavor = "multi_thread",
    worker_threads = 4
);
contract!(retries, check_retries);

/// One module per check on a fresh, empty database (not migrated), with
/// one test per backend.
macro_rules! fresh_contract {
    ($name:ident, $check:ident) => {
        mod $name {
            use super::{run_fresh, $check, Backend};

            #[tokio::test]
            async fn postgres() {
                run_fresh(Backend::Postgres, $check).await;
            }

            #[tokio::test]
            async fn sqlite() {
                run_fresh(Backend::Sqlite, $check).await;
            }
        }
    };
}

// Who may change the schema, and what the others see.
fresh_contract!(schema, check_schema);
// Migration 0003 on a database written by the schema before it.
fresh_contract!(migration, check_migration);
// A filing whose instance total fails keeps the rest of what it filed.
fresh_contract!(filing_without_total, check_filing_without_total);
// A start that takes the lease as another job's end commits reads that end.
fresh_contract!(start_after_an_end, check_start_after_an_end);

// Who follows a batch hears it move as it moves.
contract!(batch_word, check_batch_word);

/// A batch moved by another process on the same SQLite file is seen at the
/// follower's next poll.
#[tokio::test]
async fn sqlite_batch_moved_elsewhere() {
    run_fresh(Backend::Sqlite, check_batch_moved_elsewhere).await;
}

// ---------------------------------------------------------------- helpers

fn name(s: &str) -> InstanceName {
    InstanceName::parse(s).unwrap()
}

fn spec(n: &str, password: PasswordRef, managed: bool) -> NewInstance {
    NewInstance {
        tls: Default::default(),
        name: name(n),
        db_type: DbType::Postgresql,
        host: format!("{n}.db.internal"),
        port: 5432,
        database: Some("postgres".into()),
        username: format!("{n}_reader"),
        password,
        managed,
        labels: Labels::default(),
        credential: None,
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
        method: None,
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
        target: String::new(),
        requested_by: None,
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
        output: ok.then(|| serde_json::to_value(&counters).unwrap()),
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

/// What each instance looks like, to compare a registry before and after.
async fn registry(store: &Store) -> Vec<String> {
    let listed = store.instances().list().await.unwrap();
    listed
        .iter()
        .map(|i| {
            let password = format!("{:?}", i.password);
            let flags = (i.is_active, i.managed);
            format!(
                "{} {} {}:{} {} {password} {flags:?}",
                i.id, i.name, i.host, i.port, i.username
            )
        })
        .collect()
}

fn row(n: &str, password: PasswordRef, active: bool) -> ImportRow {
    ImportRow {
        instance: spec(n, password, false),
        active,
    }
}

fn names(list: &[&str]) -> Vec<InstanceName> {
    list.iter().map(|n| name(n)).collect()
}

async fn imported(store: &Store, rows: &[ImportRow]) -> ImportReport {
    match store
        .instances()
        .import(rows, &ImportOptions::default())
        .await
        .unwrap()
    {
        Imported::Written(report) => report,
        other => panic!("not written: {other:?}"),
    }
}

/// TLS settings are file references kept as given, through add, update
/// and import; an instance without them reads `prefer`.
async fn check_tls(store: Store) {
    use dbfleet::tls::{TlsMode, TlsSettings};
    let full = TlsSettings {
        mode: TlsMode::VerifyFull,
        ca_file: Some("/etc/dbfleet/ca.pem".into()),
        cert_file: Some("/etc/dbfleet/client.pem".into()),
        key_file: Some("/etc/dbfleet/client.key".into()),
    };
    let plain = add(&store, "plain").await;
    assert_eq!(plain.tls, TlsSettings::mode(TlsMode::Prefer));
    let mut new = spec("secure", PasswordRef::None, false);
    new.tls = full.clone();
    let secure = store.instances().add(&new).await.unwrap();
    assert_eq!(secure.tls, full);

    new.tls = TlsSettings::mode(TlsMode::Disable);
    store.instances().update(secure.id, &new).await.unwrap();
    let got = store.instances().get(secure.id).await.unwrap().unwrap();
    assert_eq!(got.tls, TlsSettings::mode(TlsMode::Disable));

    let mut changed = row("secure", PasswordRef::None, true);
    changed.instance.tls = full.clone();
    let mut created = row("fresh", PasswordRef::None, true);
    created.instance.tls = TlsSettings {
        mode: TlsMode::VerifyCa,
        ca_file: Some("/etc/dbfleet/ca.pem".into()),
        ..TlsSettings::default()
    };
    let same = row("plain", PasswordRef::None, true);
    let report = imported(&store, &[changed, created.clone(), same]).await;
    assert_eq!(report.updated, names(&["secure"]));
    assert_eq!(report.created, names(&["fresh"]));
    assert_eq!(report.unchanged, names(&["plain"]));
    let secure = store.instances().by_name(&name("secure")).await.unwrap();
    assert_eq!(secure.unwrap().tls, full);
    let fresh = store.instances().by_name(&name("fresh")).await.unwrap();
    assert_eq!(fresh.unwrap().tls, created.instance.tls);
}

async fn check_import(store: Store) {
    let env = || PasswordRef::Env("SHARED_PW".into());
    store
        .instances()
        .add(&spec("owned", PasswordRef::None, true))
        .await
        .unwrap();
    store
        .instances()
        .add(&spec("kept", env(), false))
        .await
        .unwrap();
    let moved = add(&store, "moved").await;
    let removed = add(&store, "removed").await;
    store.instances().remove(&name("removed")).await.unwrap();

    // A name the configuration manages refuses the whole import.
    let mut rows = vec![
        row("new-a", env(), true),
        row("new-b", PasswordRef::None, false),
        row("kept", env(), true),
        row("new-c", env(), true),
        row("owned", PasswordRef::None, true),
    ];
    let before = registry(&store).await;
    let outcome = store
        .instances()
        .import(&rows, &ImportOptions::default())
        .await
        .unwrap();
    assert_eq!(outcome, Imported::Refused(names(&["owned"])));
    assert_eq!(registry(&store).await, before, "nothing was written");

    rows.pop();
    let file = PasswordRef::File("/run/secrets/moved".into());
    let mut moved_row = row("moved", file.clone(), true);
    moved_row.instance.host = "elsewhere".into();
    rows.push(moved_row);
    rows.push(row("removed", PasswordRef::None, true));
    let report = imported(&store, &rows).await;
    assert_eq!(
        report.created,
        names(&["new-a", "new-b", "new-c", "removed"])
    );
    assert_eq!(report.updated, names(&["moved"]));
    assert_eq!(report.unchanged, names(&["kept"]));

    let get = |n: &'static str| {
        let store = store.clone();
        async move { store.instances().by_name(&name(n)).await.unwrap().unwrap() }
    };
    let new_a = get("new-a").await;
    assert_eq!(
        (new_a.host.as_str(), new_a.port),
        ("new-a.db.internal", 5432)
    );
    assert_eq!(
        (new_a.password, new_a.is_active, new_a.managed),
        (env(), true, false)
    );
    assert!(!get("new-b").await.is_active, "created as the row says");
    let now_moved = get("moved").await;
    assert_eq!(
        (now_moved.id, now_moved.host.as_str()),
        (moved.id, "elsewhere")
    );
    assert_eq!(now_moved.password, file);
    assert_ne!(get("removed").await.id, removed.id, "a removed name is new");

    // Same rows again: nothing changes. A disabled instance stays disabled.
    store
        .instances()
        .set_active(&name("kept"), false)
        .await
        .unwrap();
    let before = registry(&store).await;
    let report = imported(&store, &rows).await;
    assert_eq!(report.unchanged.len(), rows.len());
    assert!(report.created.is_empty() && report.updated.is_empty());
    assert_eq!(registry(&store).await, before);

    // Each instance has a credentials row of its own, even when two rows'
    // credentials are the same: changing one leaves the other.
    let renamed = PasswordRef::Env("A_ONLY".into());
    let report = imported(&store, &[row("new-a", renamed.clone(), true)]).await;
    assert_eq!(report.updated, names(&["new-a"]));
    assert_eq!(get("new-a").await.password, renamed);
    assert_eq!(get("new-c").await.password, env());
    assert_eq!(get("kept").await.password, env());

    let twice = [row("x", env(), true), row("x", env(), true)];
    match store
        .instances()
        .import(&twice, &ImportOptions::default())
        .await
    {
        Err(Error::Conflict(msg)) => assert_eq!(msg, "`x` is given twice"),
        other => panic!("{other:?}"),
    }

    // Many rows at once, in the same bounded number of statements.
    let many: Vec<ImportRow> = (0..2000)
        .map(|n| row(&format!("bulk-{n:04}"), env(), n % 2 == 0))
        .collect();
    assert_eq!(imported(&store, &many).await.created.len(), 2000);
    let listed = store.instances().list().await.unwrap();
    let bulk: Vec<_> = listed
        .iter()
        .filter(|i| i.name.as_str().starts_with("bulk-"))
        .collect();
    assert_eq!(bulk.len(), 2000);
    assert_eq!(bulk.iter().filter(|i| i.is_active).count(), 1000);
    assert!(bulk.iter().all(|i| i.password == env() && !i.managed));
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
        method: None,
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
        .create(batch, KIND, &Origin::by("ops"), &new_jobs, &zero())
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
        .create(failing, KIND, &Origin::default(), &fj, &zero())
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
        .create(empty, KIND, &Origin::by("cron"), &[], &zero())
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
        .create(a, KIND, &Origin::default(), &aj, &zero())
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
        .create(b, KIND, &Origin::default(), &bj, &zero())
        .await
        .unwrap();
    // Batch c: nothing expired.
    let c = BatchId::new();
    store
        .batches()
        .create(c, KIND, &Origin::default(), &jobs(&ids, later), &zero())
        .await
        .unwrap();
    // Exactly at the cutoff is not past it.
    let d = BatchId::new();
    store
        .batches()
        .create(
            d,
            KIND,
            &Origin::default(),
            &jobs(&ids[..1], cutoff),
            &zero(),
        )
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
        .create(batch, KIND, &Origin::by("load"), &new_jobs, &zero())
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

    // Results of a batch nobody created, folded at once from 8 tasks: the
    // first makes the batch, the others wait for it, and all count once.
    let alone = BatchId::new();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            let done = result(alone, JobId::new(), inst, true, at(1, 0), 1);
            tokio::spawn(async move { store.batches().record_result(&done).await.unwrap() })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let b = store.batches().get(alone).await.unwrap().unwrap();
    assert_eq!((b.total, b.succeeded, b.failed), (8, 8, 0));
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
    let page = |after: Option<i64>| {
        let store = &store;
        async move {
            let letters = store.dead_letters().page(false, 2, after).await.unwrap();
            letters.iter().map(|d| d.id).collect::<Vec<i64>>()
        }
    };
    assert_eq!(page(None).await, [c, b]);
    assert_eq!(page(Some(b)).await, [a], "the page after the cursor");
    assert_eq!(page(Some(a)).await, Vec::<i64>::new(), "past the last");
    assert!(page(Some(987_654)).await.is_empty(), "an unknown cursor");

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

/// The batch counters as the job rows say they should be: (pending,
/// succeeded, failed, warned, records of succeeded jobs).
fn recount(rows: &[JobRow]) -> (i64, i64, i64, i64, i64) {
    let with = |status: &str| rows.iter().filter(|r| r.status == status).count() as i64;
    let warned = rows.iter().filter(|r| !r.warnings.is_empty()).count() as i64;
    let records = rows
        .iter()
        .filter(|r| r.status == "succeeded")
        .map(|r| r.count("records"))
        .sum();
    (
        with("pending"),
        with("succeeded"),
        with("failed"),
        warned,
        records,
    )
}

fn folded(b: &Batch) -> (i64, i64, i64, i64, i64) {
    (
        b.pending,
        b.succeeded,
        b.failed,
        b.warned,
        b.summary.get("total_records"),
    )
}

async fn check_fold(store: Store) {
    let ids: Vec<InstanceId> = [
        add(&store, "a").await.id,
        add(&store, "b").await.id,
        add(&store, "c").await.id,
    ]
    .into();
    let batch = BatchId::new();
    let new_jobs = jobs(&ids, Utc::now() + Duration::hours(1));
    let (ja, jb, jc) = (new_jobs[0].job_id, new_jobs[1].job_id, new_jobs[2].job_id);
    let created = store
        .batches()
        .create(batch, KIND, &Origin::default(), &new_jobs, &zero())
        .await
        .unwrap();
    assert_eq!(folded(&created), (3, 0, 0, 0, 0));

    let slow = serde_json::json!({ "code": "slow", "message": "took 40 s" });
    let mut a_new = result(batch, ja, ids[0], true, at(1, 10), 4);
    a_new.warnings = vec![slow.clone()];
    let a_old = result(batch, ja, ids[0], true, at(1, 5), 9);
    let a_failed_later = result(batch, ja, ids[0], false, at(1, 20), 0);
    let mut b_failed = result(batch, jb, ids[1], false, at(1, 10), 0);
    b_failed.warnings = vec![slow.clone()];
    let b_ok = result(batch, jb, ids[1], true, at(1, 30), 2);
    let c_ok = result(batch, jc, ids[2], true, at(1, 10), 1);

    // Out of order: an older success first, a failure before its success.
    let b = store.batches().record_result(&a_old).await.unwrap();
    assert_eq!(folded(&b), (2, 1, 0, 0, 9));
    let b = store.batches().record_result(&b_failed).await.unwrap();
    assert_eq!(folded(&b), (1, 1, 1, 1, 9));
    let b = store.batches().record_result(&a_new).await.unwrap();
    assert_eq!(
        folded(&b),
        (1, 1, 1, 2, 4),
        "the newer success replaced the older"
    );
    let b = store.batches().record_result(&b_ok).await.unwrap();
    assert_eq!(
        folded(&b),
        (1, 2, 0, 1, 6),
        "the success replaced the failure"
    );
    let b = store.batches().record_result(&c_ok).await.unwrap();
    let want = (0, 3, 0, 1, 7);
    assert_eq!(folded(&b), want);
    assert_eq!(
        (b.status, b.total, b.summary.get("total_size_mb")),
        (BatchStatus::Success, 3, 70)
    );
    let finished = b.finished_at;

    // Everything again, in both orders, with the late failure: no change.
    let all = [&a_old, &b_failed, &a_new, &b_ok, &c_ok, &a_failed_later];
    for r in all.iter().chain(all.iter().rev()) {
        let b = store.batches().record_result(r).await.unwrap();
        assert_eq!(folded(&b), want, "{r:?}");
    }
    let b = store.batches().get(batch).await.unwrap().unwrap();
    assert_eq!((folded(&b), b.finished_at), (want, finished));
    let rows = store.batches().jobs(batch).await.unwrap();
    assert_eq!(recount(&rows), want, "the counters agree with the rows");
    assert_eq!(
        (rows[0].warnings.as_slice(), rows[0].count("records")),
        (&[slow][..], 4)
    );
    assert_eq!(
        (rows[1].finished_at, rows[1].error.as_ref()),
        (Some(at(1, 30)), None)
    );

    // As JSON: the summary at the top level, each job's output flattened.
    let json = serde_json::to_value(&b).unwrap();
    assert_eq!(
        (json["total_records"].as_i64(), json["warned"].as_i64()),
        (Some(7), Some(1))
    );
    let json = serde_json::to_value(&rows).unwrap();
    assert_eq!(json[0]["records"].as_i64(), Some(4));
    assert_eq!(json[0]["inventory"]["created"].as_i64(), Some(0));
    assert!(json[1].get("warnings").is_none(), "no warnings, no key");

    // A job belongs to its batch: a result naming another is refused.
    let other = BatchId::new();
    let stray = result(other, jc, ids[2], true, at(1, 50), 99);
    assert!(matches!(
        store.batches().record_result(&stray).await,
        Err(Error::Conflict(_))
    ));
    assert!(
        store.batches().get(other).await.unwrap().is_none(),
        "rolled back"
    );

    // A job for an instance the store does not know is kept, by its id.
    let job = JobId::new();
    let alone = BatchId(job.0);
    let unknown = result(alone, job, InstanceId(987_654), false, at(1, 40), 0);
    let b = store.batches().record_result(&unknown).await.unwrap();
    assert_eq!(
        (counts(&b), b.kind.as_str()),
        ((BatchStatus::Failed, 1, 0, 1), KIND)
    );
    let rows = store.batches().jobs(alone).await.unwrap();
    assert_eq!(
        (rows[0].instance.as_str(), rows[0].instance_id),
        ("instance id 987654", None)
    );
}

/// The schema before migration 0003, with one capacity-sync batch in the old
/// columns: one job succeeded, one failed, one pending. Literals only, in
/// forms both databases read (timestamps as SQLite's fixed-width TEXT);
/// instance ids are 1, 2, 3 on a fresh database.
const BEFORE_0003: &str = "
INSERT INTO credentials (username, password_source) VALUES ('reader', 'none');
INSERT INTO instances (name, db_type, host, port, credential_id) VALUES
    ('alpha', 'mysql', 'alpha.db', 3306, 1),
    ('beta', 'postgresql', 'beta.db', 5432, 1),
    ('gamma', 'mysql', 'gamma.db', 3306, 1);
INSERT INTO batches (id, status, requested_by, total, succeeded, failed,
                     total_records, total_size_mb, created_at, updated_at)
VALUES ('0190d7a0-0000-7000-8000-0000000000b1', 'running', 'ops', 3, 1, 1, 5, 50,
        '2026-03-01T12:00:00.123456+00:00', '2026-03-01T12:02:00.000000+00:00');
INSERT INTO batch_jobs (job_id, batch_id, instance_id, status, error_class, error_message,
                        databases, records, total_size_mb, inventory_created,
                        inventory_refreshed, inventory_reactivated, inventory_deactivated,
                        attempt, worker, deadline, started_at, finished_at)
VALUES
    ('0190d7a0-0000-7000-8000-0000000000a1', '0190d7a0-0000-7000-8000-0000000000b1', 1,
     'succeeded', NULL, NULL, 5, 5, 50, 2, 3, 1, 0, 1, 'worker-0',
     '2026-03-01T13:00:00.000000+00:00', '2026-03-01T12:01:00.000000+00:00',
     '2026-03-01T12:02:00.000000+00:00'),
    ('0190d7a0-0000-7000-8000-0000000000a2', '0190d7a0-0000-7000-8000-0000000000b1', 2,
     'failed', 'connect', 'connection refused', 0, 0, 0, 0, 0, 0, 0, 2, 'worker-1',
     '2026-03-01T13:00:00.000000+00:00', '2026-03-01T12:01:00.000000+00:00',
     '2026-03-01T12:02:00.000000+00:00'),
    ('0190d7a0-0000-7000-8000-0000000000a3', '0190d7a0-0000-7000-8000-0000000000b1', 3,
     'pending', NULL, NULL, 0, 0, 0, 0, 0, 0, 0, 0, NULL,
     '2026-03-01T13:00:00.000000+00:00', NULL, NULL);
";

/// Apply only migrations 0001 and 0002 of the store's tree to the database
/// of `url`, then write [`BEFORE_0003`].
async fn store_before_0003(url: &str) {
    let tree = if url.starts_with("sqlite:") {
        "sqlite"
    } else {
        "postgres"
    };
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(tree);
    let dir = std::env::temp_dir().join(format!("dbfleet-migrations-{}", hex()));
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(source).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("0001_") || name.starts_with("0002_") {
            std::fs::copy(&path, dir.join(name)).unwrap();
        }
    }
    let migrator = Migrator::new(dir.as_path()).await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(migrator.iter().count(), 2);
    if tree == "sqlite" {
        let file = url.trim_start_matches("sqlite:");
        std::fs::create_dir_all(std::path::Path::new(file).parent().unwrap()).unwrap();
        let options = SqliteConnectOptions::from_str(url)
            .unwrap()
            .create_if_missing(true)
            .foreign_keys(true);
        let pool = SqlitePool::connect_with(options).await.unwrap();
        migrator.run(&pool).await.unwrap();
        sqlx::raw_sql(BEFORE_0003).execute(&pool).await.unwrap();
        pool.close().await;
    } else {
        let pool = PgPool::connect(url).await.unwrap();
        migrator.run(&pool).await.unwrap();
        sqlx::raw_sql(BEFORE_0003).execute(&pool).await.unwrap();
        pool.close().await;
    }
}

async fn check_migration(settings: StoreSettings) {
    store_before_0003(settings.url.as_ref().unwrap().expose_secret()).await;
    let store = open(&settings).await;
    let id = BatchId("0190d7a0-0000-7000-8000-0000000000b1".parse().unwrap());
    let b = store.batches().get(id).await.unwrap().unwrap();
    assert_eq!(
        (b.kind.as_str(), counts(&b)),
        (KIND, (BatchStatus::Running, 3, 1, 1))
    );
    assert_eq!(
        (b.pending, b.warned),
        (1, 0),
        "pending counted from the jobs"
    );
    assert_eq!(
        b.summary,
        Tally::from_pairs([("total_records", 5), ("total_size_mb", 50)])
    );
    assert_eq!(
        (b.requested_by.as_deref(), b.finished_at),
        (Some("ops"), None)
    );
    let created =
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap() + Duration::microseconds(123_456);
    assert_eq!(b.created_at, created);

    let rows = store.batches().jobs(id).await.unwrap();
    let view: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r.instance.as_str(),
                r.instance_id,
                r.kind.as_str(),
                r.status.as_str(),
                r.attempt,
            )
        })
        .collect();
    assert_eq!(
        view,
        [
            ("alpha", Some(InstanceId(1)), KIND, "succeeded", 1),
            ("beta", Some(InstanceId(2)), KIND, "failed", 2),
            ("gamma", Some(InstanceId(3)), KIND, "pending", 0),
        ]
    );
    let alpha = &rows[0];
    let counters: JobCounters =
        serde_json::from_value(serde_json::Value::Object(alpha.output.clone())).unwrap();
    let mut want = JobCounters {
        databases: 5,
        records: 5,
        total_size_mb: 50,
        ..JobCounters::default()
    };
    (
        want.inventory.created,
        want.inventory.refreshed,
        want.inventory.reactivated,
    ) = (2, 3, 1);
    assert_eq!(counters, want, "the old counters are the output");
    assert_eq!(
        (alpha.worker.as_deref(), alpha.finished_at),
        (
            Some("worker-0"),
            Some(at(1, 2) - Duration::microseconds(123_456))
        )
    );
    assert!(alpha.warnings.is_empty());
    let beta = &rows[1];
    assert_eq!(
        beta.error,
        Some(JobError {
            class: ErrorClass::Connect,
            message: "connection refused".into()
        })
    );
    assert!(
        beta.output.is_empty() && rows[2].output.is_empty(),
        "no result, no output"
    );
    assert_eq!(rows[2].finished_at, None);

    // The backfilled counters and tallies fold on as if written today.
    let (ja, jb, jc) = (rows[0].job_id, rows[1].job_id, rows[2].job_id);
    let b = store
        .batches()
        .record_result(&result(id, jc, InstanceId(3), true, at(1, 5), 3))
        .await
        .unwrap();
    assert_eq!(counts(&b), (BatchStatus::PartialSuccess, 3, 2, 1));
    assert_eq!(
        (
            b.pending,
            b.summary.get("total_records"),
            b.summary.get("total_size_mb")
        ),
        (0, 8, 80)
    );
    let b = store
        .batches()
        .record_result(&result(id, ja, InstanceId(1), false, at(1, 6), 0))
        .await
        .unwrap();
    assert_eq!(
        b.summary.get("total_records"),
        8,
        "a late failure changes nothing"
    );
    let b = store
        .batches()
        .record_result(&result(id, ja, InstanceId(1), true, at(1, 7), 6))
        .await
        .unwrap();
    assert_eq!(
        b.summary.get("total_records"),
        9,
        "a newer success replaces the old tally"
    );
    let b = store
        .batches()
        .record_result(&result(id, jb, InstanceId(2), true, at(1, 8), 1))
        .await
        .unwrap();
    assert_eq!(counts(&b), (BatchStatus::Success, 3, 3, 0));
    assert_eq!(b.summary.get("total_records"), 10);

    // New batches, and the SQLite size-stats upsert on its rebuilt index.
    let fresh = BatchId::new();
    let c = store
        .batches()
        .create(
            fresh,
            KIND,
            &Origin::default(),
            &jobs(&[InstanceId(1)], at(2, 0)),
            &zero(),
        )
        .await
        .unwrap();
    assert_eq!(counts(&c), (BatchStatus::Running, 1, 0, 0));
    store
        .stats()
        .upsert_databases(InstanceId(1), day(1), &[stat("x", 5)])
        .await
        .unwrap();
    let total = store
        .stats()
        .refresh_instance_total(InstanceId(1), day(1), at(1, 0))
        .await
        .unwrap();
    assert_eq!(total.map(|t| t.total_size_mb), Some(5));
    let total = store
        .stats()
        .refresh_instance_total(InstanceId(1), day(1), at(1, 1))
        .await
        .unwrap();
    assert_eq!(total.map(|t| t.total_size_mb), Some(5));
}

/// A worker's start of `job` on `instance` at `now`, its lease until `until`.
fn starting<'a>(
    job: JobId,
    batch: BatchId,
    instance: &'a Instance,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
    summary: &'a Tally,
) -> StartingJob<'a> {
    StartingJob {
        job_id: job,
        batch_id: batch,
        kind: KIND,
        instance_id: instance.id,
        target: instance.name.as_str(),
        requested_by: Some("ops-portal"),
        worker: "worker-7",
        attempt: 1,
        started_at: now,
        lease_until: until,
        start_by: at(1, 500),
        summary,
        host: None,
        instance_lease: true,
    }
}

/// A cap of jobs per host counts the unexpired leases of other instances
/// on that host, and nothing else.
async fn check_host_cap(store: Store) {
    let (one, two, three) = (
        add(&store, "one").await,
        add(&store, "two").await,
        add(&store, "three").await,
    );
    let summary = zero();
    let slot = |key| Some(HostSlot { key, limit: 2 });
    let start = |instance, key, now: i64, until: i64| StartingJob {
        host: slot(key),
        ..starting(
            JobId::new(),
            BatchId::new(),
            instance,
            at(1, now),
            at(1, until),
            &summary,
        )
    };
    let (a, b) = (start(&one, "db1", 0, 10), start(&two, "db1", 0, 60));
    assert_eq!(store.runs().start(&a).await.unwrap(), Start::Started);
    assert_eq!(store.runs().start(&b).await.unwrap(), Start::Started);
    // The host runs its two jobs: a third instance on it waits; on another
    // host it starts; nothing of the waiting job is written.
    let c = start(&three, "db1", 1, 61);
    assert_eq!(store.runs().start(&c).await.unwrap(), Start::HostFull);
    assert!(store.batches().get(c.batch_id).await.unwrap().is_none());
    let elsewhere = start(&three, "db2", 1, 61);
    assert_eq!(
        store.runs().start(&elsewhere).await.unwrap(),
        Start::Started
    );
    store
        .runs()
        .end(three.id, elsewhere.job_id, &Filing::new(day(1), at(1, 2)))
        .await
        .unwrap();
    // A released lease frees its slot; so does one that ran out.
    store
        .runs()
        .end(one.id, a.job_id, &Filing::new(day(1), at(1, 2)))
        .await
        .unwrap();
    assert_eq!(
        store
            .runs()
            .start(&start(&three, "db1", 3, 63))
            .await
            .unwrap(),
        Start::Started
    );
    let d = start(&one, "db1", 4, 64);
    assert_eq!(store.runs().start(&d).await.unwrap(), Start::HostFull);
    let after_b_expired = start(&one, "db1", 61, 90);
    assert_eq!(
        store.runs().start(&after_b_expired).await.unwrap(),
        Start::Started
    );
}

/// A start that reads the inventory returns the instance's records, read
/// with the lease just taken, and only for a job that started.
async fn check_start_reads_inventory(store: Store) {
    let (one, two) = (add(&store, "one").await, add(&store, "two").await);
    let some = plan(&["b", "a"], &[], &[], &[]);
    for instance in [&one, &two] {
        let listed = if instance.id == one.id {
            &some
        } else {
            &plan(&["z"], &[], &[], &[])
        };
        let inventory = store.inventory();
        inventory
            .apply(instance.id, listed, day(1), at(1, 0))
            .await
            .unwrap();
    }
    let summary = zero();
    let first = starting(
        JobId::new(),
        BatchId::new(),
        &one,
        at(1, 1),
        at(1, 40),
        &summary,
    );
    let (started, records) = store.runs().start_reading_inventory(&first).await.unwrap();
    assert_eq!(started, Start::Started);
    let want = [
        record("a", day(1), day(1), None),
        record("b", day(1), day(1), None),
    ];
    assert_eq!(records, want, "one's records, none of two's");
    let rows = store.batches().jobs(first.batch_id).await.unwrap();
    assert_eq!(rows[0].started_at, Some(at(1, 1)), "the start is recorded");

    // A job that cannot start gets no records, and leaves nothing behind.
    let other = starting(
        JobId::new(),
        BatchId::new(),
        &one,
        at(1, 2),
        at(1, 41),
        &summary,
    );
    let (busy, none) = store.runs().start_reading_inventory(&other).await.unwrap();
    assert_eq!((busy, none.len()), (Start::Busy, 0));
    assert!(store.batches().get(other.batch_id).await.unwrap().is_none());
}

async fn check_runs(store: Store) {
    let (one, two) = (add(&store, "one").await, add(&store, "two").await);
    let ids = [one.id, two.id];
    let summary = zero();
    let batch = BatchId::new();
    let planned = jobs(&ids, at(1, 300));
    store
        .batches()
        .create(batch, KIND, &Origin::default(), &planned, &summary)
        .await
        .unwrap();

    // A start takes the lease and shows the job running, counters unmoved.
    let start = starting(
        planned[0].job_id,
        batch,
        &one,
        at(1, 0),
        at(1, 40),
        &summary,
    );
    assert_eq!(store.runs().start(&start).await.unwrap(), Start::Started);
    let rows = store.batches().jobs(batch).await.unwrap();
    assert_eq!(
        (rows[0].status.as_str(), rows[0].worker.as_deref()),
        ("running", Some("worker-7"))
    );
    assert_eq!(rows[0].started_at, Some(at(1, 0)));
    assert_eq!(rows[1].status, "pending");
    let b = store.batches().get(batch).await.unwrap().unwrap();
    assert_eq!(
        (counts(&b), b.pending),
        ((BatchStatus::Running, 2, 0, 0), 2)
    );

    // Another job on the same instance waits; nothing of it is written.
    let other = starting(
        JobId::new(),
        BatchId::new(),
        &one,
        at(1, 1),
        at(1, 41),
        &summary,
    );
    assert_eq!(store.runs().start(&other).await.unwrap(), Start::Busy);
    assert!(store.batches().get(other.batch_id).await.unwrap().is_none());

    // Past the batch deadline of the other job but within its lease, the
    // running job is not swept; once its lease ran out, it is.
    assert!(store
        .batches()
        .sweep_expired(at(1, 39))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store.batches().sweep_expired(at(1, 60)).await.unwrap(),
        [batch]
    );
    let rows = store.batches().jobs(batch).await.unwrap();
    assert_eq!(rows[0].status, "failed");
    let lost = rows[0].error.as_ref().unwrap();
    assert_eq!(lost.class, ErrorClass::Timeout);
    assert!(lost.message.contains("lease ran out"), "{}", lost.message);
    // The job nobody started waits for the batch deadline.
    assert_eq!(rows[1].status, "pending");
    assert_eq!(
        store.batches().sweep_expired(at(1, 301)).await.unwrap(),
        [batch]
    );
    let never = store.batches().jobs(batch).await.unwrap().remove(1);
    assert!(never.error.unwrap().message.contains("no worker started"));

    // Ending releases the lease: the other job may start now.
    let nothing = Filing::new(day(1), at(1, 2));
    store
        .runs()
        .end(one.id, planned[0].job_id, &nothing)
        .await
        .unwrap();
    assert_eq!(store.runs().start(&other).await.unwrap(), Start::Started);

    // A job enqueued alone makes its batch of one (with who asked) and its
    // row at its start; a second start of it changes no counter.
    let alone = JobId::new();
    let own_batch = BatchId(alone.0);
    let first = starting(alone, own_batch, &two, at(1, 2), at(1, 42), &summary);
    assert_eq!(store.runs().start(&first).await.unwrap(), Start::Started);
    let again = StartingJob {
        attempt: 2,
        worker: "worker-8",
        ..first.clone()
    };
    assert_eq!(store.runs().start(&again).await.unwrap(), Start::Started);
    let b = store.batches().get(own_batch).await.unwrap().unwrap();
    assert_eq!(
        (counts(&b), b.pending),
        ((BatchStatus::Running, 1, 0, 0), 1)
    );
    assert_eq!(b.requested_by.as_deref(), Some("ops-portal"));
    assert_eq!((b.summary.get("total_records"), b.kind.as_str()), (0, KIND));
    let row = store.batches().jobs(own_batch).await.unwrap().remove(0);
    assert_eq!(
        (row.instance.as_str(), row.attempt, row.worker.as_deref()),
        ("two", 2, Some("worker-8"))
    );
    // Its result ends it; a late copy's start changes nothing.
    let done = result(own_batch, alone, two.id, true, at(1, 3), 2);
    store.batches().record_result(&done).await.unwrap();
    store.runs().end(two.id, alone, &nothing).await.unwrap();
    let late = StartingJob {
        started_at: at(1, 4),
        ..first.clone()
    };
    assert_eq!(store.runs().start(&late).await.unwrap(), Start::Started);
    let b = store.batches().get(own_batch).await.unwrap().unwrap();
    assert_eq!(counts(&b), (BatchStatus::Success, 1, 1, 0));
    assert_eq!(
        store.batches().jobs(own_batch).await.unwrap()[0].status,
        "succeeded"
    );
}

/// Start a job of `batch` on `one` and end it filing databases `a` and `b`
/// (10 and 20 MiB) and a gap for `c`, all three new to the inventory.
async fn run_and_file(store: &Store, one: &Instance, batch: BatchId, summary: &Tally) {
    let job = JobId::new();
    let start = starting(job, batch, one, at(1, 0), at(1, 30), summary);
    assert_eq!(store.runs().start(&start).await.unwrap(), Start::Started);
    let filing = Filing {
        inventory: Some(plan(&["a", "b", "c"], &[], &[], &[])),
        measured: vec![stat("a", 10), stat("b", 20)],
        unmeasured: vec![gap("c", "no_privilege")],
        ..Filing::new(day(1), at(1, 5))
    };
    store.runs().end(one.id, job, &filing).await.unwrap();
}

/// What a job filed is written with the lease's release, all at once: the
/// inventory, the day's sizes and gaps, and the total they add up to.
async fn check_filing(store: Store) {
    let (one, batch, summary) = (add(&store, "one").await, BatchId::new(), zero());
    run_and_file(&store, &one, batch, &summary).await;

    let records = store.inventory().records(one.id).await.unwrap();
    let names: Vec<&str> = records.iter().map(|r| r.database_name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c"]);
    let sizes = store.stats().databases(one.id, day(1)).await.unwrap();
    assert_eq!(sizes.iter().map(|s| s.size_mb).sum::<i64>(), 30);
    let total = store.stats().instance_total(one.id, day(1)).await.unwrap();
    let total = total.expect("the day's total is filed with its rows");
    assert_eq!((total.total_size_mb, total.partial), (30, true));
    // The lease went with it: another job takes the instance at once.
    let next = starting(JobId::new(), batch, &one, at(1, 6), at(1, 36), &summary);
    assert_eq!(store.runs().start(&next).await.unwrap(), Start::Started);

    // A job run by hand files the same way, with no lease to release; a
    // size measured later fills the day's gap.
    let later = Filing {
        measured: vec![stat("c", 5)],
        ..Filing::new(day(1), at(1, 50))
    };
    store.runs().file(one.id, &later).await.unwrap();
    let total = store.stats().instance_total(one.id, day(1)).await.unwrap();
    let total = total.unwrap();
    assert_eq!((total.total_size_mb, total.partial), (35, false));

    // A listing that changed nothing, and no sizes: nothing to write, no error.
    let unchanged = Filing {
        inventory: Some(InventoryPlan::default()),
        ..Filing::new(day(1), at(1, 55))
    };
    store.runs().file(one.id, &unchanged).await.unwrap();
    assert_eq!(store.inventory().records(one.id).await.unwrap(), records);

    // A job on an instance nobody registered is told so.
    let ghost = Instance {
        id: InstanceId(one.id.0 + 1_000_000),
        ..one.clone()
    };
    let lost = starting(JobId::new(), batch, &ghost, at(1, 56), at(1, 86), &summary);
    let missing = store.runs().start(&lost).await;
    assert!(matches!(missing, Err(Error::NotFound(_))), "{missing:?}");
    assert!(store
        .stats()
        .unmeasured(one.id, day(1))
        .await
        .unwrap()
        .is_empty());
}

/// Filings of one day, each one's writes meeting the stored rows in every
/// way they can: the total always agrees with the day's rows and gaps.
/// PostgreSQL writes most of them as one statement, whose total is worked
/// out beside the writes; SQLite in a transaction, step by step.
async fn check_filings_of_a_day(store: Store) {
    let (one, batch, summary) = (add(&store, "one").await, BatchId::new(), zero());
    run_and_file(&store, &one, batch, &summary).await;
    assert_eq!(day_figures(&store, &one).await, (30, 2, 1));

    // A size replaced, a gap filled.
    let replaced = vec![stat("b", 25), stat("c", 5)];
    file_day(&store, &one, replaced, vec![], None).await;
    assert_eq!(day_figures(&store, &one).await, (40, 3, 0));

    // No gap over a size of the day; a new gap and a new size count.
    let gaps = vec![gap("a", "error"), gap("d", "no_privilege")];
    file_day(&store, &one, vec![stat("e", 1)], gaps, None).await;
    assert_eq!(day_figures(&store, &one).await, (41, 4, 1));

    // A database gone: its size of the day stops counting.
    let gone = plan(&[], &["a", "b", "c", "d"], &[], &["e"]);
    file_day(&store, &one, vec![stat("b", 26)], vec![], Some(gone)).await;
    assert_eq!(day_figures(&store, &one).await, (41, 3, 1));

    // Back again and measured: its row counts again, with its new size.
    let back = plan(&[], &["a", "b", "c", "d"], &["e"], &[]);
    file_day(&store, &one, vec![stat("e", 2)], vec![], Some(back)).await;
    assert_eq!(day_figures(&store, &one).await, (43, 4, 1));

    // The last gap filled: the day is whole.
    file_day(&store, &one, vec![stat("d", 7)], vec![], None).await;
    assert_eq!(day_figures(&store, &one).await, (50, 5, 0));
}

async fn file_day(
    store: &Store,
    one: &Instance,
    measured: Vec<StatRow>,
    unmeasured: Vec<UnmeasuredRow>,
    inventory: Option<InventoryPlan>,
) {
    let filing = Filing {
        inventory,
        measured,
        unmeasured,
        ..Filing::new(day(1), at(1, 50))
    };
    store.runs().file(one.id, &filing).await.unwrap();
}

/// The day's total, database count and gap count, once checked against
/// the day's rows and gaps as read.
async fn day_figures(store: &Store, one: &Instance) -> (i64, i32, i32) {
    let total = store.stats().instance_total(one.id, day(1)).await.unwrap();
    let total = total.expect("a day with sizes has a total");
    let sizes = store.stats().databases(one.id, day(1)).await.unwrap();
    let gaps = store.stats().unmeasured(one.id, day(1)).await.unwrap();
    let agreed = (
        sizes.iter().map(|s| s.size_mb).sum::<i64>(),
        sizes.len() as i32,
        gaps.len() as i32,
        !gaps.is_empty(),
    );
    let figures = (
        total.total_size_mb,
        total.database_count,
        total.unmeasured_count,
        total.partial,
    );
    assert_eq!(figures, agreed, "the total agrees with the day's rows");
    (figures.0, figures.1, figures.2)
}

/// A job that takes the lease just as the job before it ends reads the
/// inventory that end wrote. On PostgreSQL its start is one statement whose
/// snapshot predates the end it waited for, so it reads the inventory again;
/// the end here is held open while the start waits, then committed.
async fn check_start_after_an_end(settings: StoreSettings) {
    let store = Store::connect(&settings).await.unwrap();
    store.migrate().await.unwrap();
    let (one, summary, batch) = (add(&store, "one").await, zero(), BatchId::new());
    let new_jobs = jobs(&[one.id], at(1, 500));
    let origin = Origin::by("ops");
    let batches = store.batches();
    batches
        .create(batch, KIND, &origin, &new_jobs, &summary)
        .await
        .unwrap();
    let before = starting(
        JobId::new(),
        BatchId::new(),
        &one,
        at(1, 0),
        at(1, 30),
        &summary,
    );
    assert_eq!(store.runs().start(&before).await.unwrap(), Start::Started);
    let url = settings.url.as_ref().unwrap().expose_secret().to_string();
    let (next, instance) = (new_jobs[0].job_id, one.clone());
    let starter = store.clone();
    let start = async move {
        let summary = zero();
        let next = starting(next, batch, &instance, at(1, 1), at(1, 31), &summary);
        starter.runs().start_reading_inventory(&next).await.unwrap()
    };
    let (started, records) = if url.starts_with("sqlite:") {
        let late = Filing {
            inventory: Some(plan(&["late"], &[], &[], &[])),
            ..Filing::new(day(1), at(1, 0))
        };
        store
            .runs()
            .end(one.id, before.job_id, &late)
            .await
            .unwrap();
        start.await
    } else {
        let mut end = PgConnection::connect(&url).await.unwrap();
        end.execute("BEGIN").await.unwrap();
        let release = format!(
            "DELETE FROM instance_leases WHERE instance_id = {}",
            one.id.0
        );
        end.execute(release.as_str()).await.unwrap();
        let create = format!(
            "INSERT INTO instance_databases (instance_id, database_name, is_active, \
                 first_seen_date, last_seen_date, created_at, updated_at) \
             VALUES ({}, 'late', TRUE, '2026-03-01', '2026-03-01', now(), now())",
            one.id.0
        );
        end.execute(create.as_str()).await.unwrap();
        let start = tokio::spawn(start);
        wait_for_a_lock_wait(&url).await;
        end.execute("COMMIT").await.unwrap();
        start.await.unwrap()
    };
    assert_eq!(started, Start::Started);
    let names: Vec<&str> = records.iter().map(|r| r.database_name.as_str()).collect();
    assert_eq!(names, ["late"], "the end the start waited for is read");
}

/// Until a session of the store's database waits for a lock (10 s at most).
async fn wait_for_a_lock_wait(url: &str) {
    let mut watch = PgConnection::connect(url).await.unwrap();
    for _ in 0..200 {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&mut watch)
        .await
        .unwrap();
        if waiting > 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the start never waited for the lease row");
}

async fn check_schema(settings: StoreSettings) {
    let store = Store::connect(&settings).await.unwrap();
    // Nothing yet: every process but the schema's owner stops and says so.
    assert_eq!(store.schema().await.unwrap(), Schema::Missing);
    let missing = store.check_schema().await.unwrap_err();
    assert!(matches!(missing, Error::SchemaMissing), "{missing:?}");
    assert!(missing.to_string().contains("run `dbfleet migrate`"));

    let created = store.migrate().await.unwrap();
    assert_eq!(created.from, None);
    let Schema::At { at: version, needs } = store.schema().await.unwrap() else {
        panic!("not at a version after migrating")
    };
    assert_eq!((created.to, version), (needs, needs));
    store.check_schema().await.unwrap();
    assert_eq!(
        store.migrate().await.unwrap(),
        Migrated {
            from: Some(needs),
            to: needs
        }
    );

    // One migration behind: refused, naming both versions and the fix.
    forget_latest_migration(&settings, needs).await;
    let behind = store.check_schema().await.unwrap_err();
    assert!(
        matches!(behind, Error::SchemaBehind { at, needs: n } if at < needs && n == needs),
        "{behind:?}"
    );
    assert!(
        behind.to_string().contains("run `dbfleet migrate`"),
        "{behind}"
    );
}

/// A follower of a batch sees each fold and the batch's end, read again
/// only on word of a change: with a poll of an hour, nothing else could
/// wake it. PostgreSQL sends word itself; on SQLite the process that moved
/// the batch does.
async fn check_batch_word(store: Store) {
    assert!(store.batch_changes().await.listening());
    follow_two_results(&store, &store, std::time::Duration::from_secs(3600)).await;
}

/// On SQLite, a batch moved through another pool on the same file (as by
/// another process, which sends this one no word) is read at the poll.
async fn check_batch_moved_elsewhere(settings: StoreSettings) {
    let (store, other) = (open(&settings).await, open(&settings).await);
    follow_two_results(&store, &other, std::time::Duration::from_millis(20)).await;
}

/// Follow a batch of two jobs through `store` with `poll`, while `mover`
/// folds their results.
async fn follow_two_results(store: &Store, mover: &Store, poll: std::time::Duration) {
    let ids = [add(store, "a").await.id, add(store, "b").await.id];
    let (batch, planned) = (BatchId::new(), jobs(&ids, at(1, 300)));
    let origin = Origin::default();
    let batches = mover.batches();
    batches
        .create(batch, KIND, &origin, &planned, &zero())
        .await
        .unwrap();
    let (seen, mut sees) = tokio::sync::mpsc::unbounded_channel();
    let follower = {
        let store = store.clone();
        tokio::spawn(async move {
            let progress = |b: &Batch| seen.send((b.succeeded, b.failed)).unwrap();
            dbfleet::fleet::dispatcher::watch(&store, batch, poll, progress).await
        })
    };
    assert_eq!(next_seen(&mut sees).await, (0, 0));
    let first = result(batch, planned[0].job_id, ids[0], true, at(1, 1), 1);
    batches.record_result(&first).await.unwrap();
    assert_eq!(next_seen(&mut sees).await, (1, 0));
    let last = result(batch, planned[1].job_id, ids[1], false, at(1, 2), 0);
    batches.record_result(&last).await.unwrap();
    assert_eq!(next_seen(&mut sees).await, (1, 1));
    let bound = std::time::Duration::from_secs(20);
    let ended = tokio::time::timeout(bound, follower).await;
    let ended = ended.expect("the batch's end").unwrap().unwrap();
    assert_eq!(ended.status, BatchStatus::PartialSuccess);
}

/// The next counters a follower saw, within 20 s.
async fn next_seen(sees: &mut tokio::sync::mpsc::UnboundedReceiver<(i64, i64)>) -> (i64, i64) {
    let bound = std::time::Duration::from_secs(20);
    let seen = tokio::time::timeout(bound, sees.recv()).await;
    seen.expect("word of the batch").unwrap()
}

/// Make the store look one migration behind: drop the newest migration's
/// record (its schema change stays, which the check does not look at).
async fn forget_latest_migration(settings: &StoreSettings, version: i64) {
    let sql = format!("DELETE FROM _sqlx_migrations WHERE version = {version}");
    raw_exec(settings, &sql).await;
}

/// Run `sql` (one or more statements) on the store's database, around the
/// store.
async fn raw_exec(settings: &StoreSettings, sql: &str) {
    let url = settings.url.as_ref().unwrap().expose_secret().to_string();
    if url.starts_with("sqlite:") {
        let pool = SqlitePool::connect_with(SqliteConnectOptions::from_str(&url).unwrap())
            .await
            .unwrap();
        pool.execute(sql).await.unwrap();
        pool.close().await;
    } else {
        let pool = PgPool::connect(&url).await.unwrap();
        pool.execute(sql).await.unwrap();
        pool.close().await;
    }
}

/// The store refuses every instance total (a trigger): the job's end still
/// writes its inventory, sizes and gaps, and releases the lease.
async fn check_filing_without_total(settings: StoreSettings) {
    let store = open(&settings).await;
    let url = settings.url.as_ref().unwrap().expose_secret().to_string();
    let refuse = if url.starts_with("sqlite:") {
        "CREATE TRIGGER refuse_total BEFORE INSERT ON instance_size_stats \
         BEGIN SELECT RAISE(ABORT, 'no totals here'); END"
    } else {
        "CREATE FUNCTION refuse_total() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'no totals here'; END $$; \
         CREATE TRIGGER refuse_total BEFORE INSERT ON instance_size_stats \
             FOR EACH ROW EXECUTE FUNCTION refuse_total()"
    };
    raw_exec(&settings, refuse).await;
    let (one, batch, summary) = (add(&store, "one").await, BatchId::new(), zero());
    run_and_file(&store, &one, batch, &summary).await;

    let records = store.inventory().records(one.id).await.unwrap();
    assert_eq!(records.len(), 3, "{records:?}");
    let sizes = store.stats().databases(one.id, day(1)).await.unwrap();
    assert_eq!(sizes.iter().map(|s| s.size_mb).sum::<i64>(), 30);
    let gaps = store.stats().unmeasured(one.id, day(1)).await.unwrap();
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    let total = store.stats().instance_total(one.id, day(1)).await.unwrap();
    assert!(total.is_none(), "{total:?}");
    let next = starting(JobId::new(), batch, &one, at(1, 6), at(1, 36), &summary);
    assert_eq!(store.runs().start(&next).await.unwrap(), Start::Started);
}

/// Folding a group of results in one transaction ends exactly where folding
/// them one by one does, whatever the order, duplicates and batches mixed,
/// and each job row keeps its last winning result.
async fn check_group_fold(store: Store) {
    let ids: Vec<InstanceId> = [add(&store, "a").await.id, add(&store, "b").await.id].into();
    let (first, second) = (BatchId::new(), BatchId::new());
    let (one, two) = (jobs(&ids, at(1, 300)), jobs(&ids, at(1, 300)));
    for (batch, jobs) in [(first, &one), (second, &two)] {
        store
            .batches()
            .create(batch, KIND, &Origin::default(), jobs, &zero())
            .await
            .unwrap();
    }
    let slow = serde_json::json!({ "code": "slow", "message": "took 40 s" });
    let old_ok = result(first, one[0].job_id, ids[0], true, at(1, 5), 9);
    let new_ok = result(first, one[0].job_id, ids[0], true, at(1, 10), 4);
    let mut failed = result(first, one[1].job_id, ids[1], false, at(1, 10), 0);
    failed.warnings = vec![slow.clone()];
    let mut late_ok = result(first, one[1].job_id, ids[1], true, at(1, 30), 2);
    (late_ok.attempt, late_ok.worker) = (2, "worker-1".into());
    // Two successes of one job in one group, both winning: the later stays.
    let mut early = result(second, two[0].job_id, ids[0], true, at(1, 8), 7);
    early.warnings = vec![slow.clone()];
    let other = result(second, two[0].job_id, ids[0], true, at(1, 10), 1);
    // A job alone, whose batch the group creates.
    let alone = JobId::new();
    let lone = result(BatchId(alone.0), alone, ids[1], true, at(1, 11), 3);
    let group = [
        new_ok.clone(),
        failed.clone(),
        early.clone(),
        other.clone(),
        old_ok.clone(),
        late_ok.clone(),
        lone.clone(),
        new_ok.clone(),
        early.clone(),
    ];
    let folded_batches = store.batches().record_results(&group).await.unwrap();
    assert_eq!(folded_batches.len(), 3, "each batch touched once");

    let b = store.batches().get(first).await.unwrap().unwrap();
    assert_eq!(
        (counts(&b), folded(&b)),
        ((BatchStatus::Success, 2, 2, 0), (0, 2, 0, 0, 6))
    );
    let rows = store.batches().jobs(first).await.unwrap();
    assert_eq!(
        recount(&rows),
        folded(&b),
        "the counters agree with the rows"
    );
    let row = |r: &JobRow| {
        (
            r.status.clone(),
            r.finished_at,
            r.count("records"),
            r.attempt,
        )
    };
    assert_eq!(row(&rows[0]), ("succeeded".into(), Some(at(1, 10)), 4, 1));
    assert_eq!(row(&rows[1]), ("succeeded".into(), Some(at(1, 30)), 2, 2));
    assert_eq!(
        (
            &rows[1].error,
            rows[1].warnings.len(),
            rows[1].worker.as_deref()
        ),
        (&None, 0, Some("worker-1")),
        "the success replaced the failure in the same group"
    );
    assert_eq!(rows[1].started_at, Some(at(1, 30) - Duration::seconds(3)));

    let b = store.batches().get(second).await.unwrap().unwrap();
    assert_eq!(
        (counts(&b), folded(&b)),
        ((BatchStatus::Running, 2, 1, 0), (1, 1, 0, 0, 1))
    );
    let rows = store.batches().jobs(second).await.unwrap();
    assert_eq!(
        recount(&rows),
        folded(&b),
        "the counters agree with the rows"
    );
    assert_eq!(
        (row(&rows[0]), rows[0].warnings.len()),
        (("succeeded".into(), Some(at(1, 10)), 1, 1), 0),
        "the last winning result is the one written"
    );

    let b = store
        .batches()
        .get(BatchId(alone.0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (counts(&b), folded(&b)),
        ((BatchStatus::Success, 1, 1, 0), (0, 1, 0, 0, 3))
    );
    let rows = store.batches().jobs(BatchId(alone.0)).await.unwrap();
    assert_eq!(
        (
            rows.len(),
            rows[0].instance.as_str(),
            rows[0].instance_id,
            row(&rows[0])
        ),
        (
            1,
            "b",
            Some(ids[1]),
            ("succeeded".into(), Some(at(1, 11)), 3, 1)
        )
    );

    // The same results again, reversed, in groups of two, then one by one:
    // nothing moves, neither counters nor rows.
    let state = || async {
        let mut all = Vec::new();
        for batch in [first, second, BatchId(alone.0)] {
            let b = store.batches().get(batch).await.unwrap().unwrap();
            let rows = store.batches().jobs(batch).await.unwrap();
            all.push((
                counts(&b),
                folded(&b),
                b.finished_at,
                serde_json::to_value(rows).unwrap(),
            ));
        }
        all
    };
    let settled = state().await;
    let mut again = group.to_vec();
    again.reverse();
    store.batches().record_results(&again).await.unwrap();
    assert_eq!(state().await, settled, "the group again, reversed");
    for pair in again.chunks(2) {
        store.batches().record_results(pair).await.unwrap();
    }
    for one in &group {
        store.batches().record_result(one).await.unwrap();
    }
    assert_eq!(state().await, settled, "the results again, apart");

    // Out of order across groups: a newer success, then an older one, and a
    // success after its job's failure, whatever their times.
    check_groups_out_of_order(&store, &ids, slow).await;

    // A result of a job that belongs to another batch fails the whole
    // group, which then changes nothing.
    let wrong = result(second, one[0].job_id, ids[0], true, at(1, 50), 7);
    let c_ok = result(second, two[1].job_id, ids[1], true, at(1, 50), 5);
    let refused = store.batches().record_results(&[c_ok.clone(), wrong]).await;
    assert!(matches!(refused, Err(Error::Conflict(_))), "{refused:?}");
    let b = store.batches().get(second).await.unwrap().unwrap();
    assert_eq!(counts(&b), (BatchStatus::Running, 2, 1, 0), "rolled back");
}

/// Results of one batch folded in separate groups, out of order and each
/// group twice, leave the counters and rows one-by-one folding would.
async fn check_groups_out_of_order(store: &Store, ids: &[InstanceId], slow: serde_json::Value) {
    let batch = BatchId::new();
    let new_jobs = jobs(ids, at(2, 300));
    let (j0, j1) = (new_jobs[0].job_id, new_jobs[1].job_id);
    store
        .batches()
        .create(batch, KIND, &Origin::default(), &new_jobs, &zero())
        .await
        .unwrap();
    let newer = result(batch, j0, ids[0], true, at(2, 20), 5);
    let older = result(batch, j0, ids[0], true, at(2, 10), 8);
    let mut failed = result(batch, j1, ids[1], false, at(2, 10), 0);
    failed.warnings = vec![slow];
    let ok = result(batch, j1, ids[1], true, at(2, 5), 3);
    let groups = [
        vec![newer.clone(), failed.clone()],
        vec![failed.clone(), older.clone(), newer.clone()],
    ];
    let mut seen = Vec::new();
    for group in groups.iter().chain(groups.iter()) {
        let b = store
            .batches()
            .record_results(group)
            .await
            .unwrap()
            .pop()
            .unwrap();
        seen.push(folded(&b.after));
    }
    let warned_failure = (0, 1, 1, 1, 5);
    assert_eq!(seen, [warned_failure; 4]);
    for group in [
        vec![ok.clone(), older.clone()],
        vec![failed, ok, newer, older],
    ] {
        store.batches().record_results(&group).await.unwrap();
        let b = store.batches().get(batch).await.unwrap().unwrap();
        assert_eq!(
            (counts(&b), folded(&b)),
            ((BatchStatus::Success, 2, 2, 0), (0, 2, 0, 0, 8))
        );
    }
    let rows = store.batches().jobs(batch).await.unwrap();
    let row = |r: &JobRow| {
        (
            r.finished_at,
            r.count("records"),
            r.error.is_none(),
            r.warnings.len(),
        )
    };
    assert_eq!(
        (row(&rows[0]), row(&rows[1])),
        ((Some(at(2, 20)), 5, true, 0), (Some(at(2, 5)), 3, true, 0))
    );
}

// ------------------------------------------------ partial days, overrides

fn measured(n: &str, size: i64, method: &str) -> StatRow {
    StatRow {
        method: Some(method.to_string()),
        ..stat(n, size)
    }
}

fn gap(n: &str, reason: &str) -> UnmeasuredRow {
    UnmeasuredRow {
        database_name: n.into(),
        reason: reason.into(),
        detail: format!("{n}: {reason}"),
        collected_at: at(1, 0),
    }
}

async fn day_sizes(store: &Store, inst: InstanceId, d: u32) -> Vec<(String, i64)> {
    let rows = store.stats().databases(inst, day(d)).await.unwrap();
    rows.into_iter()
        .map(|r| (r.database_name, r.size_mb))
        .collect()
}

async fn day_gaps(store: &Store, inst: InstanceId, d: u32) -> Vec<(String, String)> {
    let rows = store.stats().unmeasured(inst, day(d)).await.unwrap();
    rows.into_iter()
        .map(|r| (r.database_name, r.reason))
        .collect()
}

/// (total, count, partial, unmeasured) of the day, recomputed.
async fn day_total(store: &Store, inst: InstanceId, d: u32) -> (i64, i32, bool, i32) {
    let t = store
        .stats()
        .refresh_instance_total(inst, day(d), at(d, 30))
        .await
        .unwrap()
        .unwrap();
    let read = store.stats().instance_total(inst, day(d)).await.unwrap();
    assert_eq!(read.as_ref(), Some(&t));
    (
        t.total_size_mb,
        t.database_count,
        t.partial,
        t.unmeasured_count,
    )
}

fn pairs(v: &[(&str, i64)]) -> Vec<(String, i64)> {
    v.iter().map(|(n, s)| (n.to_string(), *s)).collect()
}

fn reasons(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(n, r)| (n.to_string(), r.to_string()))
        .collect()
}

async fn check_partial_days(store: Store) {
    let inst = add(&store, "partial").await.id;
    let other = add(&store, "whole").await.id;
    let stats = store.stats();
    let written = stats
        .save_day(
            inst,
            day(1),
            &[measured("a", 10, "tablespace"), measured("b", 20, "tables")],
            &[gap("c", "permission")],
        )
        .await
        .unwrap();
    assert_eq!(written, 2);
    let rows = stats.databases(inst, day(1)).await.unwrap();
    let methods: Vec<_> = rows.iter().map(|r| r.method.as_deref()).collect();
    assert_eq!(methods, [Some("tablespace"), Some("tables")]);
    assert_eq!(
        stats.unmeasured(inst, day(1)).await.unwrap(),
        [StoredUnmeasured {
            database_name: "c".into(),
            reason: "permission".into(),
            detail: "c: permission".into(),
            collected_date: day(1),
        }]
    );
    assert_eq!(day_total(&store, inst, 1).await, (30, 2, true, 1));

    // Measured later that day: the gap is filled, the day whole again.
    stats
        .save_day(inst, day(1), &[measured("c", 5, "tablespace+tables")], &[])
        .await
        .unwrap();
    assert!(day_gaps(&store, inst, 1).await.is_empty());
    assert_eq!(day_total(&store, inst, 1).await, (35, 3, false, 0));

    // A later run that cannot measure `a` keeps the morning's size.
    stats
        .save_day(
            inst,
            day(1),
            &[],
            &[gap("a", "permission"), gap("d", "dropped")],
        )
        .await
        .unwrap();
    assert_eq!(
        day_gaps(&store, inst, 1).await,
        reasons(&[("d", "dropped")])
    );
    assert_eq!(day_total(&store, inst, 1).await, (35, 3, true, 1));

    // Dropped later that day: its size and its gap leave the day, and the
    // rows still add up to the total.
    let inventory = store.inventory();
    let all = plan(&["a", "b", "c", "d"], &[], &[], &[]);
    inventory.apply(inst, &all, day(1), at(1, 1)).await.unwrap();
    let drop_bd = plan(&[], &["a", "c"], &[], &["b", "d"]);
    inventory
        .apply(inst, &drop_bd, day(1), at(1, 2))
        .await
        .unwrap();
    assert_eq!(
        day_sizes(&store, inst, 1).await,
        pairs(&[("a", 10), ("c", 5)])
    );
    assert!(day_gaps(&store, inst, 1).await.is_empty());
    assert_eq!(day_total(&store, inst, 1).await, (15, 2, false, 0));

    // Back and measured the same day: it counts again.
    stats
        .save_day(inst, day(1), &[measured("b", 21, "tables")], &[])
        .await
        .unwrap();
    assert_eq!(
        day_sizes(&store, inst, 1).await,
        pairs(&[("a", 10), ("b", 21), ("c", 5)])
    );
    assert_eq!(day_total(&store, inst, 1).await, (36, 3, false, 0));

    // Other days and instances are untouched; nothing to write is nothing.
    assert_eq!(stats.save_day(inst, day(2), &[], &[]).await.unwrap(), 0);
    assert!(day_sizes(&store, inst, 2).await.is_empty());
    assert!(day_gaps(&store, other, 1).await.is_empty());
    assert_eq!(stats.instance_total(other, day(1)).await.unwrap(), None);
}

async fn check_overrides(store: Store) {
    let instances = store.instances();
    let declared = instances
        .add(&spec("declared", PasswordRef::None, true))
        .await
        .unwrap();
    assert_eq!(declared.active_override, None);
    add(&store, "cli").await;
    let get = |n: &'static str| {
        let instances = store.instances();
        async move {
            let i = instances.by_name(&name(n)).await.unwrap().unwrap();
            (i.is_active, i.active_override)
        }
    };

    assert!(instances
        .override_active(&name("declared"), false)
        .await
        .unwrap());
    assert_eq!(get("declared").await, (false, Some(false)));
    assert!(instances
        .override_active(&name("declared"), true)
        .await
        .unwrap());
    assert_eq!(get("declared").await, (true, Some(true)));
    // Not declared: the operator's switch is the state itself.
    assert!(instances
        .override_active(&name("cli"), false)
        .await
        .unwrap());
    assert_eq!(get("cli").await, (false, None));

    // Reconciliation's own writes leave the override alone.
    let mut changed = spec("declared", PasswordRef::None, true);
    changed.port = 6543;
    instances.update(declared.id, &changed).await.unwrap();
    assert_eq!(get("declared").await, (true, Some(true)));

    assert!(instances.clear_override(&name("declared")).await.unwrap());
    assert_eq!(get("declared").await, (true, None));
    assert!(!instances
        .override_active(&name("nobody"), true)
        .await
        .unwrap());
    assert!(!instances.clear_override(&name("nobody")).await.unwrap());
}

/// Keyset pages: newest first, every batch once, a new batch never
/// shifting a page already read.
async fn check_batch_pages(store: Store) {
    let mut made = Vec::new();
    for _ in 0..5 {
        let id = BatchId::new();
        store
            .batches()
            .create(id, KIND, &Origin::by("ops"), &[], &zero())
            .await
            .unwrap();
        made.push(id);
    }
    made.reverse();
    let first = store.batches().page(2, None).await.unwrap();
    let ids = |page: &[Batch]| page.iter().map(|b| b.id).collect::<Vec<_>>();
    assert_eq!(ids(&first), made[..2]);
    let later = BatchId::new();
    store
        .batches()
        .create(later, KIND, &Origin::by("ops"), &[], &zero())
        .await
        .unwrap();
    let second = store.batches().page(2, Some(made[1])).await.unwrap();
    assert_eq!(ids(&second), made[2..4]);
    let last = store.batches().page(2, Some(made[3])).await.unwrap();
    assert_eq!(ids(&last), made[4..]);
    assert!(store
        .batches()
        .page(2, Some(made[4]))
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .batches()
        .page(2, Some(BatchId::new()))
        .await
        .unwrap()
        .is_empty());
}

/// One batch per key, however many requests race with it; the key of
/// another request creates nothing.
async fn check_idempotency_keys(store: Store) {
    let id = add(&store, "alpha").await.id;
    let far = Utc::now() + Duration::hours(1);
    let attempts = (0..6).map(|_| {
        let store = store.clone();
        let new_jobs = jobs(&[id], far);
        tokio::spawn(async move {
            let key = IdempotencyKey {
                key: "k-1",
                request: "probe 1",
            };
            let origin = Origin::by("api");
            let batches = store.batches();
            batches
                .create_keyed(&key, BatchId::new(), KIND, &origin, &new_jobs, &zero())
                .await
        })
    });
    let mut created = Vec::new();
    let mut existing = Vec::new();
    for attempt in futures_util::future::join_all(attempts).await {
        match attempt.unwrap().unwrap() {
            Keyed::Created(batch) => created.push(batch.id),
            Keyed::Existing(batch) => existing.push(batch.id),
            Keyed::Reused => panic!("the same request is not a reuse"),
        }
    }
    assert_eq!(created.len(), 1, "{created:?}");
    assert!(existing.iter().all(|b| *b == created[0]), "{existing:?}");
    assert_eq!(store.batches().list(10).await.unwrap().len(), 1);
    let other = IdempotencyKey {
        key: "k-1",
        request: "capacity_sync 1",
    };
    let (origin, again) = (Origin::default(), jobs(&[id], far));
    let reused = store
        .batches()
        .create_keyed(&other, BatchId::new(), KIND, &origin, &again, &zero())
        .await
        .unwrap();
    assert!(matches!(reused, Keyed::Reused));
    assert!(matches!(
        store.batches().keyed(&other).await.unwrap(),
        Some(Keyed::Reused)
    ));
    let fresh = IdempotencyKey {
        key: "k-2",
        request: "probe 1",
    };
    assert!(store.batches().keyed(&fresh).await.unwrap().is_none());
    assert_eq!(store.batches().list(10).await.unwrap().len(), 1);
}

/// One batch per schedule slot, however many control planes race for it;
/// another slot, or a manual run, is a run of its own.
async fn check_schedule_slots(store: Store) {
    let id = add(&store, "alpha").await.id;
    let far = Utc::now() + Duration::hours(1);
    let slot = Utc.with_ymd_and_hms(2026, 11, 30, 1, 0, 0).unwrap();
    let attempts = (0..6).map(|i| {
        let store = store.clone();
        let new_jobs = jobs(&[id], far);
        tokio::spawn(async move {
            let planes = ["serve a", "serve b"];
            let claim = ScheduleSlot {
                schedule: "nightly",
                slot,
                manual: false,
                started_by: planes[i % 2],
            };
            let origin = Origin::by("schedule nightly");
            let batches = store.batches();
            batches
                .create_keyed(&claim, BatchId::new(), KIND, &origin, &new_jobs, &zero())
                .await
        })
    });
    let mut created = Vec::new();
    for attempt in futures_util::future::join_all(attempts).await {
        match attempt.unwrap().unwrap() {
            Keyed::Created(batch) => created.push(batch.id),
            Keyed::Existing(_) => {}
            Keyed::Reused => panic!("a slot is never a reuse"),
        }
    }
    assert_eq!(created.len(), 1, "{created:?}");
    assert_eq!(store.batches().list(10).await.unwrap().len(), 1);
    let runs = store.schedules().runs("nightly", 10).await.unwrap();
    assert_eq!(
        (runs.len(), runs[0].batch_id, runs[0].slot),
        (1, created[0], slot)
    );
    let manual = ScheduleSlot {
        schedule: "nightly",
        slot: slot + Duration::minutes(3),
        manual: true,
        started_by: "ops",
    };
    let (origin, again) = (Origin::by("schedule nightly"), jobs(&[id], far));
    let other = store
        .batches()
        .create_keyed(&manual, BatchId::new(), KIND, &origin, &again, &zero())
        .await
        .unwrap();
    assert!(matches!(other, Keyed::Created(_)));
    let last = store.schedules().last_slots().await.unwrap();
    assert_eq!(
        last,
        [("nightly".to_string(), slot)],
        "manual runs are not the cron's"
    );
    assert_eq!(
        store.schedules().last_runs().await.unwrap()[0].slot,
        manual.slot
    );
}

/// Seed a day of `instance`: the inventory plan, the sizes, the total.
async fn seed_day(
    store: &Store,
    instance: InstanceId,
    d: u32,
    plan: InventoryPlan,
    sizes: &[(&str, i64)],
) {
    store
        .inventory()
        .apply(instance, &plan, day(d), at(d, 0))
        .await
        .unwrap();
    let rows: Vec<StatRow> = sizes.iter().map(|(n, size)| stat(n, *size)).collect();
    store
        .stats()
        .upsert_databases(instance, day(d), &rows)
        .await
        .unwrap();
    store
        .stats()
        .refresh_instance_total(instance, day(d), at(d, 0))
        .await
        .unwrap();
}

/// Histories over a range, the latest size of each live database
/// (largest first, in pages that meet exactly), and the fleet's days.
async fn check_capacity_reads(store: Store) {
    let a = add(&store, "alpha").await.id;
    let b = add(&store, "beta").await.id;
    seed_day(
        &store,
        a,
        1,
        plan(&["x", "y", "z"], &[], &[], &[]),
        &[("x", 100), ("y", 50), ("z", 100)],
    )
    .await;
    seed_day(
        &store,
        a,
        2,
        plan(&[], &["x", "y"], &[], &["z"]),
        &[("x", 120), ("y", 50)],
    )
    .await;
    seed_day(&store, b, 1, plan(&["w"], &[], &[], &[]), &[("w", 120)]).await;

    let capacity = store.capacity();
    let totals = capacity.instance_sizes(a, day(1), day(2)).await.unwrap();
    let totals: Vec<(NaiveDate, i64)> = totals
        .iter()
        .map(|t| (t.collected_date, t.total_size_mb))
        .collect();
    assert_eq!(totals, [(day(1), 250), (day(2), 170)]);
    assert_eq!(
        capacity
            .instance_sizes(a, day(2), day(2))
            .await
            .unwrap()
            .len(),
        1
    );
    let x = capacity
        .database_sizes(a, "x", day(1), day(9))
        .await
        .unwrap();
    assert_eq!(x.iter().map(|s| s.size_mb).collect::<Vec<_>>(), [100, 120]);
    assert!(capacity
        .database_sizes(a, "nope", day(1), day(9))
        .await
        .unwrap()
        .is_empty());

    let fleet = dbfleet::store::FleetFilter::default();
    let all = capacity
        .latest_sizes((fleet, None), 10, None)
        .await
        .unwrap();
    let seen = |rows: &[dbfleet::store::LatestSize]| {
        rows.iter()
            .map(|r| (r.instance.clone(), r.database_name.clone(), r.size_mb))
            .collect::<Vec<_>>()
    };
    let want = [("alpha", "x", 120), ("beta", "w", 120), ("alpha", "y", 50)];
    let want: Vec<_> = want
        .iter()
        .map(|(i, d, s)| (i.to_string(), d.to_string(), *s))
        .collect();
    assert_eq!(seen(&all), want, "z is gone, x counts its latest day");
    let mut paged = Vec::new();
    let mut after: Option<dbfleet::store::SizeCursor> = None;
    loop {
        let page = capacity
            .latest_sizes((fleet, None), 1, after.as_ref())
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.into());
        paged.extend(seen(&page));
    }
    assert_eq!(paged, want);
    // A filter applies before the limit and on every page.
    let only_alpha = dbfleet::store::FleetFilter {
        instance: Some(a),
        ..fleet
    };
    let first = capacity
        .latest_sizes((only_alpha, None), 1, None)
        .await
        .unwrap();
    let next = dbfleet::store::SizeCursor::from(&first[0]);
    let second = capacity
        .latest_sizes((only_alpha, None), 5, Some(&next))
        .await
        .unwrap();
    assert_eq!(
        [seen(&first), seen(&second)].concat(),
        [want[0].clone(), want[2].clone()]
    );
    for (engine, expected) in [
        (dbfleet::domain::DbType::Postgresql, want.len()),
        (dbfleet::domain::DbType::Mysql, 0),
    ] {
        let of_engine = dbfleet::store::FleetFilter {
            engine: Some(engine),
            ..fleet
        };
        let rows = capacity
            .latest_sizes((of_engine, None), 10, None)
            .await
            .unwrap();
        assert_eq!(rows.len(), expected, "{engine}");
    }
    let recent = capacity
        .latest_sizes((fleet, Some(day(2))), 10, None)
        .await
        .unwrap();
    let measured_since = [want[0].clone(), want[2].clone()];
    assert_eq!(
        seen(&recent),
        measured_since,
        "w was last measured on the 1st"
    );

    let days = capacity.summary(day(1), day(2)).await.unwrap();
    let days: Vec<_> = days
        .iter()
        .map(|d| {
            (
                d.collected_date,
                d.engine.as_str(),
                d.instances,
                d.databases,
                d.total_size_mb,
            )
        })
        .collect();
    assert_eq!(
        days,
        [
            (day(1), "postgresql", 2, 4, 370),
            (day(2), "postgresql", 1, 2, 170)
        ]
    );
}

/// Cancelling ends the jobs no worker started, counted as failed; a
/// started one runs on; a cancelled job is never started; an ended batch
/// is left as it is.
async fn check_cancel(store: Store) {
    let (a, b, c) = (
        add(&store, "a").await,
        add(&store, "b").await,
        add(&store, "c").await,
    );
    let batch = BatchId::new();
    let new_jobs = jobs(&[a.id, b.id, c.id], Utc::now() + Duration::hours(1));
    store
        .batches()
        .create(batch, KIND, &Origin::by("ops"), &new_jobs, &zero())
        .await
        .unwrap();
    let summary = zero();
    let run = |job: JobId, instance| {
        starting(
            job,
            batch,
            instance,
            Utc::now(),
            Utc::now() + Duration::hours(1),
            &summary,
        )
    };
    assert_eq!(
        store
            .runs()
            .start(&run(new_jobs[0].job_id, &a))
            .await
            .unwrap(),
        Start::Started
    );

    let Cancel::Cancelled {
        batch: after,
        jobs: n,
    } = store.batches().cancel(batch, "ops").await.unwrap()
    else {
        panic!("a running batch is cancelled");
    };
    assert_eq!(
        (n, after.pending, after.failed, after.status),
        (2, 1, 2, BatchStatus::Running)
    );
    let rows = store.batches().jobs(batch).await.unwrap();
    let statuses: Vec<(&str, &str)> = rows
        .iter()
        .map(|j| (j.instance.as_str(), j.status.as_str()))
        .collect();
    assert_eq!(
        statuses,
        [("a", "running"), ("b", "cancelled"), ("c", "cancelled")]
    );
    assert!(
        rows[1].error.is_none(),
        "no job error class is invented: {:?}",
        rows[1].error
    );

    // A worker that receives a cancelled job does not start it, nor keep its lease.
    assert_eq!(
        store
            .runs()
            .start(&run(new_jobs[1].job_id, &b))
            .await
            .unwrap(),
        Start::Cancelled
    );
    let other = JobId::new();
    let elsewhere = StartingJob {
        batch_id: BatchId::new(),
        ..run(other, &b)
    };
    assert_eq!(
        store.runs().start(&elsewhere).await.unwrap(),
        Start::Started
    );

    let done = result(batch, new_jobs[0].job_id, a.id, true, Utc::now(), 1);
    let ended = store.batches().record_result(&done).await.unwrap();
    assert_eq!(
        (ended.status, ended.succeeded, ended.failed),
        (BatchStatus::PartialSuccess, 1, 2)
    );
    assert!(matches!(
        store.batches().cancel(batch, "ops").await.unwrap(),
        Cancel::Finished(_)
    ));
    assert!(matches!(
        store.batches().cancel(BatchId::new(), "ops").await,
        Err(Error::NotFound(_))
    ));
}

/// Parked jobs of a spread batch: written with their batch; claimed once
/// even by two control planes at once; a released or expired claim taken
/// again; gone once published, or once their batch was cancelled.
async fn check_outbox(store: Store) {
    let one = add(&store, "outbox-1").await;
    // Microseconds: what both stores keep.
    let now = chrono::SubsecRound::trunc_subsecs(Utc::now(), 6);
    let batch = BatchId::new();
    let jobs: Vec<NewJob> = (0..6)
        .map(|_| NewJob {
            job_id: JobId::new(),
            instance_id: Some(one.id),
            target: "outbox-1".into(),
            deadline: now + Duration::hours(1),
        })
        .collect();
    let parked: Vec<Parked> = jobs
        .iter()
        .enumerate()
        .map(|(n, j)| Parked {
            job_id: j.job_id,
            batch_id: batch,
            publish_at: now - Duration::seconds(10) + Duration::seconds(n as i64),
            interactive: n == 0,
            zone: (n == 1).then(|| "eu".to_string()),
            body: format!("{{\"n\": {n}}}").into_bytes(),
        })
        .collect();
    let origin = Origin::default();
    store
        .batches()
        .create_parked(batch, "probe", &origin, &jobs, &zero(), &parked)
        .await
        .unwrap();
    assert_eq!(store.outbox().waiting(batch).await.unwrap(), 6);

    let claim = Duration::minutes(2);
    let outbox = store.outbox();
    // Two claimers at once: no row goes to both (the second may come back
    // with fewer, or none, when the first took its rows); the rest is
    // claimed by the next look.
    let (a, b) = tokio::join!(
        outbox.claim_due(now, claim, 4),
        outbox.claim_due(now, claim, 4)
    );
    let mut claimed: Vec<Parked> = a.unwrap().into_iter().chain(b.unwrap()).collect();
    let both = claimed.len();
    claimed.extend(outbox.claim_due(now, claim, 10).await.unwrap());
    let mut ids: Vec<JobId> = claimed.iter().map(|p| p.job_id).collect();
    ids.sort_by_key(|j| j.0);
    ids.dedup();
    let counts = (claimed.len(), ids.len());
    assert_eq!(counts, (6, 6), "each claimed once ({both} at first)");
    let first = claimed.iter().find(|p| p.job_id == jobs[0].job_id).unwrap();
    assert_eq!(first, &parked[0], "read back as written");
    assert!(outbox.claim_due(now, claim, 10).await.unwrap().is_empty());

    outbox.release(jobs[2].job_id).await.unwrap();
    let again = outbox.claim_due(now, claim, 10).await.unwrap();
    assert_eq!(
        again.iter().map(|p| p.job_id).collect::<Vec<_>>(),
        [jobs[2].job_id]
    );
    let expired = outbox
        .claim_due(now + Duration::minutes(3), claim, 10)
        .await;
    assert_eq!(
        expired.unwrap().len(),
        6,
        "a dead claimer's jobs are taken again"
    );

    // Only the version published goes.
    outbox.published(jobs[0].job_id, now).await.unwrap();
    assert_eq!(outbox.waiting(batch).await.unwrap(), 6);
    outbox
        .published(jobs[0].job_id, parked[0].publish_at)
        .await
        .unwrap();
    assert_eq!(outbox.waiting(batch).await.unwrap(), 5);
    store.batches().cancel(batch, "ops").await.unwrap();
    let later = now + Duration::minutes(10);
    assert!(outbox.claim_due(later, claim, 10).await.unwrap().is_empty());
    assert_eq!(
        outbox.waiting(batch).await.unwrap(),
        0,
        "a cancelled batch's are dropped"
    );
}

/// A pending dead letter claimed by two replays at once goes to one; a
/// claim whose publish failed is undone, and the letter is pending again.
async fn check_dead_letter_claims(store: Store) {
    let letters = store.dead_letters();
    let id = letters
        .record(Some("j-1"), "job", "test", b"{}")
        .await
        .unwrap();
    let at = chrono::SubsecRound::trunc_subsecs(Utc::now(), 6);
    let (a, b) = tokio::join!(letters.claim(id, at), letters.claim(id, at));
    assert_eq!([a.unwrap(), b.unwrap()].iter().filter(|c| **c).count(), 1);
    assert!(
        letters.list(false, 10).await.unwrap().is_empty(),
        "claimed: not pending"
    );
    letters.unclaim(id, at).await.unwrap();
    let pending = letters.list(false, 10).await.unwrap();
    assert_eq!(pending.iter().map(|d| d.id).collect::<Vec<_>>(), [id]);
    assert!(letters.claim(id, at).await.unwrap(), "pending again");
}

/// A failed job parked for its next attempt: its row back to "not started"
/// with the attempt, the reason and a start-by after the retry's time; its
/// message published only when due; a second retry replacing the first; a
/// job no longer pending not retried.
async fn check_retries(store: Store) {
    let one = add(&store, "retry-1").await;
    let now = chrono::SubsecRound::trunc_subsecs(Utc::now(), 6);
    let (batch, job) = (BatchId::new(), JobId::new());
    let new_job = NewJob {
        job_id: job,
        instance_id: Some(one.id),
        target: "retry-1".into(),
        deadline: now + Duration::minutes(10),
    };
    let origin = Origin::default();
    let batches = store.batches();
    batches
        .create(batch, "data_sync", &origin, &[new_job], &zero())
        .await
        .unwrap();
    let error = JobError::new(ErrorClass::Connect, "connection refused");
    let retry = |body: &str, after: i64| Retrying {
        parked: Parked {
            job_id: job,
            batch_id: batch,
            publish_at: now + Duration::seconds(after),
            interactive: false,
            zone: None,
            body: body.as_bytes().to_vec(),
        },
        attempt: 2,
        error: &error,
        start_by: now + Duration::hours(1),
        now,
    };
    assert!(store.runs().retry(&retry("first", 5)).await.unwrap());
    let row = &batches.jobs(batch).await.unwrap()[0];
    assert_eq!(
        (row.status.as_str(), row.attempt),
        ("pending", 2),
        "{row:?}"
    );
    assert_eq!(row.error.as_ref().unwrap().message, "connection refused");
    assert!(row.started_at.is_none());

    let outbox = store.outbox();
    let claim = Duration::minutes(2);
    assert!(
        outbox.claim_due(now, claim, 10).await.unwrap().is_empty(),
        "not due yet"
    );
    let due = outbox
        .claim_due(now + Duration::seconds(6), claim, 10)
        .await
        .unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].body, b"first");
    // That attempt ran and failed fast, parking the next before its
    // publisher marked it published: the next one stays parked.
    assert!(store.runs().retry(&retry("second", 7)).await.unwrap());
    outbox.published(job, due[0].publish_at).await.unwrap();
    assert_eq!(outbox.waiting(batch).await.unwrap(), 1);
    let due = outbox
        .claim_due(now + Duration::seconds(8), claim, 10)
        .await
        .unwrap();
    assert_eq!(
        due.iter().map(|p| p.body.as_slice()).collect::<Vec<_>>(),
        [b"second"]
    );

    // The sweeper waits for the new start-by, then fails it as any job.
    assert!(batches
        .sweep_expired(now + Duration::minutes(30))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        batches
            .sweep_expired(now + Duration::hours(2))
            .await
            .unwrap(),
        [batch]
    );
    let row = &batches.jobs(batch).await.unwrap()[0];
    assert_eq!(row.status, "failed");
    // No longer pending: its parked message is dropped, and it is not
    // retried again.
    let later = now + Duration::days(1);
    assert!(outbox.claim_due(later, claim, 10).await.unwrap().is_empty());
    assert!(!store.runs().retry(&retry("third", 5)).await.unwrap());
    assert_eq!(outbox.waiting(batch).await.unwrap(), 0);
    check_no_retry_after_cancel(&store, &one, now).await;
}

/// A batch cancelled while one of its jobs ran: that job's failure is
/// final, no attempt is parked.
async fn check_no_retry_after_cancel(store: &Store, one: &Instance, now: DateTime<Utc>) {
    let batch = BatchId::new();
    let jobs = jobs(&[one.id, one.id], now + Duration::hours(1));
    let batches = store.batches();
    batches
        .create(batch, KIND, &Origin::default(), &jobs, &zero())
        .await
        .unwrap();
    let summary = zero();
    let start = starting(
        jobs[0].job_id,
        batch,
        one,
        now,
        now + Duration::hours(1),
        &summary,
    );
    assert_eq!(store.runs().start(&start).await.unwrap(), Start::Started);
    batches.cancel(batch, "ops").await.unwrap();
    let error = JobError::new(ErrorClass::Query, "lost the connection");
    let retry = Retrying {
        parked: Parked {
            job_id: jobs[0].job_id,
            batch_id: batch,
            publish_at: now + Duration::seconds(5),
            interactive: false,
            zone: None,
            body: b"retry".to_vec(),
        },
        attempt: 2,
        error: &error,
        start_by: now + Duration::hours(1),
        now,
    };
    assert!(!store.runs().retry(&retry).await.unwrap());
    assert_eq!(store.outbox().waiting(batch).await.unwrap(), 0);
}
