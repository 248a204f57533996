//! Load protection and the interactive lane.
//!
//! A cap per host, measured on the server itself: fifty instance records
//! of one MariaDB host, synced by two workers of eight slots each, never
//! hold more sessions on it at once than `job.max_per_host` — and without
//! the cap, the same batch does (so the measurement can see a breach).
//!
//! The records reach the server through a slow link, so each job holds
//! its session long enough to be counted; a sampler reads
//! `information_schema.PROCESSLIST` for the test's own account meanwhile.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod common;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{run_batch, Backend, Fleet, MariaUser, SlowLink, World};
use dbfleet::domain::{DbType, InstanceName};
use dbfleet::fleet::dispatcher::{self, BatchRequest, Selection};
use dbfleet::labels::Labels;
use dbfleet::message::JobKind;
use dbfleet::secret::PasswordRef;
use dbfleet::store::{BatchStatus, NewInstance};
use sqlx::Row;

on_both_backends!(
    fifty_records_of_one_host_never_run_more_than_the_cap_at_once,
    records_of_one_cluster_under_two_host_names_share_its_cap,
    an_interactive_job_answers_in_seconds_while_hundreds_of_batch_jobs_wait,
);

const RECORDS: i64 = 50;
const CAP: i64 = 3;

/// The most sessions of `user` seen at once while `run` ran.
async fn peak_sessions<F: std::future::Future>(user: &str, run: F) -> (i64, F::Output) {
    let peak = Arc::new(AtomicI64::new(0));
    let sampler = {
        let (peak, user) = (peak.clone(), user.to_string());
        tokio::spawn(async move {
            let mut root = common::mariadb_root().await;
            loop {
                let sql = "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = ?";
                let row = sqlx::query(sql)
                    .bind(&user)
                    .fetch_one(&mut root)
                    .await
                    .unwrap();
                peak.fetch_max(row.get::<i64, _>(0), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let output = run.await;
    sampler.abort();
    (peak.load(Ordering::Relaxed), output)
}

/// How the records name their one server.
struct Records<'a> {
    /// Host names, taken in turn.
    hosts: &'a [&'a str],
    /// The `cluster` label of every record, if any.
    cluster: Option<&'a str>,
}

/// Every record at `127.0.0.1`, no label.
const ONE_HOST: Records<'static> = Records {
    hosts: &["127.0.0.1"],
    cluster: None,
};

/// A batch over [`RECORDS`] records of one host, by two workers; the peak
/// of sessions on the server.
async fn synced(backend: Backend, cap: i64, maria: &MariaUser, link: &SlowLink) -> i64 {
    synced_as(backend, cap, maria, link, &ONE_HOST).await
}

async fn synced_as(
    backend: Backend,
    cap: i64,
    maria: &MariaUser,
    link: &SlowLink,
    records: &Records<'_>,
) -> i64 {
    let yaml = format!("worker:\n  concurrency: 8\njob:\n  max_per_host: {cap}\n");
    let world = World::with_yaml(backend, &yaml).await;
    let var = format!("DBFT_LOAD_PW_{}", world.tag);
    std::env::set_var(&var, &maria.password);
    for n in 0..RECORDS {
        let labels = records
            .cluster
            .map(|c| vec![("cluster", c)])
            .unwrap_or_default();
        let host = records.hosts[n as usize % records.hosts.len()];
        let new = NewInstance {
            name: InstanceName::parse(&format!("rec-{n:02}")).unwrap(),
            db_type: DbType::Mysql,
            host: host.to_string(),
            port: link.port,
            database: None,
            username: maria.user.clone(),
            password: PasswordRef::Env(var.clone()),
            managed: false,
            labels: Labels::new(labels).unwrap(),
            credential: None,
            tls: Default::default(),
        };
        world.store.instances().add(&new).await.unwrap();
    }
    let fleet = Fleet::start(&world, 2);
    let (peak, report) = peak_sessions(&maria.user, run_batch(&world)).await;
    fleet.stop().await;
    let b = &report.batch;
    assert_eq!(b.status, BatchStatus::Success, "{report:#?}");
    assert_eq!((b.total, b.succeeded), (RECORDS, RECORDS));
    world.teardown().await;
    peak
}

async fn fifty_records_of_one_host_never_run_more_than_the_cap_at_once(backend: Backend) {
    let maria = MariaUser::new().await;
    maria
        .create_database(&format!("{}_load", maria.prefix), 16)
        .await;
    let link = SlowLink::start(3306, Duration::from_millis(5)).await;

    let capped = synced(backend, CAP, &maria, &link).await;
    assert!(
        capped <= CAP,
        "{capped} sessions at once on a host capped at {CAP}"
    );
    assert!(capped >= 1, "the sampler saw no session at all");
    let uncapped = synced(backend, 0, &maria, &link).await;
    assert!(
        uncapped > CAP,
        "without a cap, {uncapped} sessions at once: the test sees nothing"
    );

    drop(link);
    maria.teardown().await;
}

/// One server under two host names (`127.1` is `127.0.0.1` written
/// short, as an alias or a second DNS name would be): by host, the cap
/// allows twice its sessions; with the records labelled one `cluster`, the
/// cap counts per cluster and holds on the server.
async fn records_of_one_cluster_under_two_host_names_share_its_cap(backend: Backend) {
    let maria = MariaUser::new().await;
    maria
        .create_database(&format!("{}_cluster", maria.prefix), 16)
        .await;
    let link = SlowLink::start(3306, Duration::from_millis(5)).await;
    let hosts = ["127.0.0.1", "127.1"];

    let clustered = Records {
        hosts: &hosts,
        cluster: Some("orders-db"),
    };
    let capped = synced_as(backend, CAP, &maria, &link, &clustered).await;
    assert!(
        (1..=CAP).contains(&capped),
        "{capped} sessions at once on a cluster capped at {CAP}"
    );
    let by_host = Records {
        hosts: &hosts,
        cluster: None,
    };
    let per_host = synced_as(backend, CAP, &maria, &link, &by_host).await;
    assert!(
        per_host > CAP,
        "per host, two names of one server hold up to {}; seen {per_host}",
        2 * CAP
    );

    drop(link);
    maria.teardown().await;
}

/// A batch of several hundred slow jobs is under way on a worker of two
/// slots; a probe of one instance in the interactive lane ends within
/// seconds while most of the batch still waits (behind it, it would wait
/// minutes).
async fn an_interactive_job_answers_in_seconds_while_hundreds_of_batch_jobs_wait(backend: Backend) {
    let world = World::with_yaml(backend, "worker:\n  concurrency: 2\n").await;
    let maria = MariaUser::new().await;
    maria
        .create_database(&format!("{}_lane", maria.prefix), 16)
        .await;
    let link = SlowLink::start(3306, Duration::from_millis(20)).await;
    let var = format!("DBFT_LANE_PW_{}", world.tag);
    std::env::set_var(&var, &maria.password);
    for n in 0..300 {
        let password = PasswordRef::Env(var.clone());
        let name = format!("night-{n:03}");
        world
            .add_instance(&name, DbType::Mysql, link.port, &maria.user, password)
            .await;
    }
    let fleet = Fleet::start(&world, 1);
    let nightly = start(&world, Selection::AllActive, false).await;
    world.add_postgres("urgent").await;
    let urgent = [InstanceName::parse("urgent").unwrap()];

    let asked = std::time::Instant::now();
    let check = start(&world, Selection::Named(&urgent), true).await;
    let answered = dispatcher::wait(&world.store, check, Duration::from_millis(50));
    let answered = common::within("the interactive job", answered)
        .await
        .unwrap();
    let took = asked.elapsed();
    let backlog = world.store.batches().get(nightly).await.unwrap().unwrap();
    fleet.stop().await;

    assert_eq!(answered.status, BatchStatus::Success, "{answered:?}");
    assert!(
        took < Duration::from_secs(10),
        "the interactive job took {took:?}"
    );
    assert!(
        backlog.pending > 200,
        "the batch was nearly done: {backlog:?}"
    );
    world.teardown().await;
    drop(link);
    maria.teardown().await;
}

async fn start(
    world: &World,
    selection: Selection<'_>,
    interactive: bool,
) -> dbfleet::domain::BatchId {
    let kind = if interactive {
        JobKind::Probe
    } else {
        JobKind::CapacitySync
    };
    let request = BatchRequest {
        params: &dbfleet::message::JobParams::default_for(kind),
        selection,
        deadline: Duration::from_secs(600),
        requested_by: None,
        interactive,
    };
    dispatcher::start_batch(&world.store, world.broker.as_ref(), &request)
        .await
        .unwrap()
        .id
}
