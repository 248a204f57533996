//! Network zones on the real RabbitMQ: with workers in zones `a` and `b`
//! and one in the default zone, every job runs on the worker of its
//! instance's zone; a zone without a worker keeps its job queued, and the
//! batch report says where it waits, until a worker of that zone starts.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use common::{Fleet, World};
use dbfleet::config::Settings;
use dbfleet::domain::{DbType, InstanceName};
use dbfleet::fleet::dispatcher::{self, BatchReport, BatchRequest, Selection};
use dbfleet::labels::Labels;
use dbfleet::message::JobKind;
use dbfleet::secret::PasswordRef;
use dbfleet::store::{BatchStatus, NewInstance};
use tokio_util::sync::CancellationToken;

/// A worker of `zone` (`None`: the default zone), with a broker of its own,
/// until `stop`.
async fn zone_worker(
    world: &World,
    zone: Option<&str>,
    name: &str,
    stop: &CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let mut settings: Settings = world.settings.clone();
    settings.worker.zone = zone.map(str::to_string);
    let broker = dbfleet::fleet::open_broker(&settings).await.unwrap();
    let worker = Arc::new(dbfleet::fleet::worker(
        &settings,
        world.store.clone(),
        broker,
        world.filters.clone(),
        name.to_string(),
    ));
    let stop = stop.clone();
    tokio::spawn(async move { worker.run(stop).await })
}

async fn add(world: &World, name: &str, zone: Option<&str>) {
    let labels = Labels::new(zone.map(|z| ("zone", z))).unwrap();
    let new = NewInstance {
        name: InstanceName::parse(name).unwrap(),
        db_type: DbType::Postgresql,
        host: "127.0.0.1".to_string(),
        port: 5432,
        database: None,
        username: "postgres".to_string(),
        password: PasswordRef::None,
        credential: None,
        tls: Default::default(),
        managed: false,
        labels,
    };
    world.store.instances().add(&new).await.unwrap();
}

/// The report once `done` jobs have ended.
async fn after(world: &World, id: dbfleet::domain::BatchId, done: i64) -> BatchReport {
    for _ in 0..300 {
        let report = dispatcher::report(&world.store, id).await.unwrap();
        if report.batch.succeeded + report.batch.failed >= done {
            return report;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{done} jobs did not end within 30s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_job_runs_in_its_zone_and_a_zone_without_workers_waits_visibly() {
    let world = World::new().await;
    for (name, zone) in [
        ("a-1", Some("a")),
        ("a-2", Some("a")),
        ("b-1", Some("b")),
        ("b-2", Some("b")),
        ("plain", None),
        ("c-1", Some("c")),
    ] {
        add(&world, name, zone).await;
    }
    let mut control = Fleet::new();
    control.serve(&world);
    let stop = CancellationToken::new();
    let workers = vec![
        zone_worker(&world, Some("a"), "worker-a", &stop).await,
        zone_worker(&world, Some("b"), "worker-b", &stop).await,
        zone_worker(&world, None, "worker-default", &stop).await,
    ];
    let request = BatchRequest {
        params: &dbfleet::message::JobParams::default_for(JobKind::Probe),
        selection: Selection::AllActive,
        deadline: Duration::from_secs(120),
        requested_by: None,
        interactive: false,
    };
    let batch = dispatcher::start_batch(&world.store, world.broker.as_ref(), &request)
        .await
        .unwrap();

    let report = after(&world, batch.id, 5).await;
    let ran_on: BTreeMap<&str, Option<&str>> = report
        .jobs
        .iter()
        .map(|j| (j.instance.as_str(), j.worker.as_deref()))
        .collect();
    let expected = BTreeMap::from([
        ("a-1", Some("worker-a")),
        ("a-2", Some("worker-a")),
        ("b-1", Some("worker-b")),
        ("b-2", Some("worker-b")),
        ("plain", Some("worker-default")),
        ("c-1", None),
    ]);
    assert_eq!(ran_on, expected, "{report:#?}");
    // Three idle workers, and the zone-c job still waits, where it says.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let report = dispatcher::report(&world.store, batch.id).await.unwrap();
    assert_eq!(report.batch.status, BatchStatus::Running);
    assert_eq!(
        report.waiting_by_zone,
        BTreeMap::from([("c".to_string(), 1)])
    );

    let late = zone_worker(&world, Some("c"), "worker-c", &stop).await;
    let report = after(&world, batch.id, 6).await;
    assert_eq!(report.batch.status, BatchStatus::Success, "{report:#?}");
    assert!(report.waiting_by_zone.is_empty());
    let c = report.jobs.iter().find(|j| j.instance == "c-1").unwrap();
    assert_eq!(c.worker.as_deref(), Some("worker-c"));

    stop.cancel();
    for worker in workers.into_iter().chain([late]) {
        worker.await.unwrap();
    }
    control.stop().await;
    world.delete_zone_queues(&["a", "b", "c"]).await;
    world.teardown().await;
}

/// A dead-lettered job of an instance in zone `a`, replayed, goes back to
/// the workers of zone `a`: it runs there, and its batch ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_dead_job_returns_to_its_zone() {
    let world = World::new().await;
    add(&world, "dead-a", Some("a")).await;
    let name = InstanceName::parse("dead-a").unwrap();
    let instance = world
        .store
        .instances()
        .by_name(&name)
        .await
        .unwrap()
        .unwrap();
    // A batch of one whose job died on the broker: kept as a dead letter.
    let (batch, job_id) = (
        dbfleet::domain::BatchId::new(),
        dbfleet::domain::JobId::new(),
    );
    let deadline = chrono::Utc::now() + chrono::Duration::hours(1);
    let job = dbfleet::store::NewJob {
        job_id,
        instance_id: Some(instance.id),
        target: instance.name.to_string(),
        deadline,
    };
    let summary = dbfleet::jobs::empty_summary(JobKind::Probe);
    let origin = dbfleet::store::Origin::default();
    world
        .store
        .batches()
        .create(batch, "probe", &origin, &[job], &summary)
        .await
        .unwrap();
    let target = dbfleet::message::Target::Instance(dbfleet::message::InstanceRef::Id(instance.id));
    let params = dbfleet::message::JobParams::default_for(JobKind::Probe);
    let body =
        dbfleet::message::JobMessage::new(job_id, Some(batch), target, params, deadline, None);
    let id = world
        .store
        .dead_letters()
        .record(Some(&job_id.to_string()), "job", "test", &body.encode())
        .await
        .unwrap();

    let stop = CancellationToken::new();
    let mut control = Fleet::new();
    control.serve(&world);
    let default = zone_worker(&world, None, "worker-default", &stop).await;
    let zoned = zone_worker(&world, Some("a"), "worker-a", &stop).await;
    let selection = dbfleet::fleet::dlq::Selection::Ids(&[id]);
    let deadline = world.settings.batch.deadline;
    let broker = world.broker.as_ref();
    dbfleet::fleet::dlq::replay(&world.store, broker, selection, deadline)
        .await
        .unwrap();
    let report = after(&world, batch, 1).await;
    assert_eq!(report.batch.status, BatchStatus::Success, "{report:#?}");
    assert_eq!(report.jobs[0].worker.as_deref(), Some("worker-a"));

    stop.cancel();
    for worker in [default, zoned] {
        worker.await.unwrap();
    }
    control.stop().await;
    world.delete_zone_queues(&["a"]).await;
    world.teardown().await;
}
