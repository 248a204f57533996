//! Job kinds at the door other systems use: raw JSON published to the jobs
//! exchange by a program that is not dbfleet (lapin here, with no dbfleet
//! types), on RabbitMQ; and the same bytes handed to the in-process queue.
//! A v1 capacity-sync job as first published still runs and is counted; a
//! job may name its instance; a kind no worker knows ends on the dead-letter
//! queue with reason `unknown kind`, after the retry tiers gave a newer
//! worker its chance.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod common;

use common::raw::{ended_batch, publish_raw, publish_raw_as};
use common::{eventually, Backend, Fleet, MariaUser, World, AMQP};
use dbfleet::store::BatchStatus;
use serde_json::{json, Value};

on_both_backends!(
    a_v1_capacity_job_from_another_system_runs_and_is_counted,
    a_job_for_an_unknown_instance_fails_as_a_job_of_its_batch,
    a_probe_job_may_name_its_instance,
    a_kind_no_worker_knows_is_dead_lettered_after_the_retry_tiers,
);

fn fixture(name: &str) -> Value {
    let path = common::repo_root().join("tests/fixtures").join(name);
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// A fresh deadline, and the job aimed at `instance_id`.
fn aimed(mut job: Value, instance_id: i64) -> Value {
    let deadline = chrono::Utc::now() + chrono::Duration::minutes(10);
    job["deadline"] = json!(deadline.to_rfc3339());
    job["instance_id"] = json!(instance_id);
    job
}

async fn a_v1_capacity_job_from_another_system_runs_and_is_counted(backend: Backend) {
    let world = World::on(backend).await;
    let maria = MariaUser::new().await;
    let db = format!("{}_v1", maria.prefix);
    maria.create_database(&db, 64).await;
    let instance = world.add_mariadb("maria", &maria).await;
    let fleet = Fleet::start(&world, 1);

    // Exactly the v1 fixture: `kind` and `instance_id`, no `params`.
    let job = aimed(fixture("job.v1.standalone.json"), instance.id.0);
    assert!(job.get("params").is_none());
    publish_raw(&world, "job.capacity_sync", &job).await;
    let batch = ended_batch(&world, job["job_id"].as_str().unwrap()).await;
    fleet.stop().await;

    assert_eq!(batch.status, BatchStatus::Success);
    assert_eq!((batch.total, batch.succeeded, batch.failed), (1, 1, 0));
    assert_eq!(batch.kind, "capacity_sync");
    let stored = world
        .store
        .stats()
        .databases(instance.id, common::today(&world))
        .await
        .unwrap();
    assert_eq!(batch.summary.get("total_records"), stored.len() as i64);
    assert!(
        stored.iter().any(|row| row.database_name == db),
        "{stored:?}"
    );
    let jobs = world.store.batches().jobs(batch.id).await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].instance, "maria");
    assert_eq!(jobs[0].count("records"), stored.len() as i64);

    maria.teardown().await;
    world.teardown().await;
}

async fn a_probe_job_may_name_its_instance(backend: Backend) {
    let world = World::on(backend).await;
    world.add_postgres("pg").await;
    let fleet = Fleet::start(&world, 1);

    let mut job = aimed(fixture("job.probe.json"), 0);
    let object = job.as_object_mut().unwrap();
    object.remove("instance_id");
    object.remove("batch_id");
    object.insert("instance".to_string(), json!("pg"));
    publish_raw(&world, "job.probe", &job).await;
    let batch = ended_batch(&world, job["job_id"].as_str().unwrap()).await;
    fleet.stop().await;

    assert_eq!(batch.kind, "probe");
    assert_eq!(batch.status, BatchStatus::Success);
    // `postgres` is a superuser: nothing is missing.
    assert_eq!((batch.warned, batch.summary.get("missing_grants")), (0, 0));
    let jobs = world.store.batches().jobs(batch.id).await.unwrap();
    assert_eq!(jobs[0].instance, "pg");
    assert_eq!(jobs[0].output["flavor"], "postgresql");
    assert_eq!(jobs[0].output["account"], "postgres");
    assert_eq!(jobs[0].output["read_only"], false);

    world.teardown().await;
}

async fn a_kind_no_worker_knows_is_dead_lettered_after_the_retry_tiers(backend: Backend) {
    let world = World::with_broker_yaml(backend, "  retry_delays: [1s, 1s]\n").await;
    let instance = world.add_postgres("pg").await;
    let fleet = Fleet::start(&world, 1);

    let mut job = aimed(fixture("job.v1.json"), instance.id.0);
    job["kind"] = json!("table_sizes_v9");
    job["job_id"] = json!(uuid::Uuid::now_v7().to_string());
    publish_raw(&world, "job.table_sizes_v9", &job).await;
    let letters = eventually("the job on the dead-letter queue", || async {
        let letters = world.store.dead_letters().list(false, 10).await.unwrap();
        (!letters.is_empty()).then_some(letters)
    })
    .await;
    fleet.stop().await;

    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].reason, "unknown kind `table_sizes_v9`");
    assert_eq!(letters[0].message_id.as_deref(), job["job_id"].as_str());
    assert_eq!(letters[0].body, serde_json::to_vec(&job).unwrap());

    world.teardown().await;
}

async fn a_job_for_an_unknown_instance_fails_as_a_job_of_its_batch(backend: Backend) {
    let world = World::on(backend).await;
    world.add_postgres("pg").await;
    let fleet = Fleet::start(&world, 1);

    // No instance has id 987654321; the producer says who it is.
    let job = aimed(fixture("job.v1.standalone.json"), 987_654_321);
    publish_raw(&world, "job.capacity_sync", &job).await;
    let batch = ended_batch(&world, job["job_id"].as_str().unwrap()).await;
    // And one by a name nobody registered.
    let mut named = aimed(fixture("job.v1.standalone.json"), 0);
    named["job_id"] = json!(uuid::Uuid::now_v7().to_string());
    let object = named.as_object_mut().unwrap();
    object.remove("instance_id");
    object.insert("instance".to_string(), json!("nobody"));
    publish_raw(&world, "job.capacity_sync", &named).await;
    let by_name = ended_batch(&world, named["job_id"].as_str().unwrap()).await;
    fleet.stop().await;

    for (batch, label) in [
        (&batch, "instance id 987654321"),
        (&by_name, "instance `nobody`"),
    ] {
        assert_eq!(batch.status, BatchStatus::Failed);
        assert_eq!((batch.total, batch.failed), (1, 1));
        assert_eq!(batch.requested_by.as_deref(), Some("ops-portal:jdoe"));
        let jobs = world.store.batches().jobs(batch.id).await.unwrap();
        assert_eq!(
            (jobs[0].instance.as_str(), jobs[0].instance_id),
            (label, None)
        );
        let error = jobs[0].error.as_ref().unwrap();
        assert_eq!(error.class, dbfleet::message::ErrorClass::Config);
        assert_eq!(error.message, format!("{label} is not registered"));
    }
    // Nothing went to the dead-letter queue: the jobs failed as jobs.
    assert!(world
        .store
        .dead_letters()
        .list(true, 10)
        .await
        .unwrap()
        .is_empty());

    world.teardown().await;
}

/// A RabbitMQ user of its own for the test, allowed everything on `/`.
struct BrokerUser {
    name: String,
}

impl BrokerUser {
    fn new() -> Self {
        let name = format!("dbft-producer-{}", common::tag());
        for args in [
            vec!["add_user", &name, "pw"],
            vec!["set_permissions", "-p", "/", &name, ".*", ".*", ".*"],
        ] {
            let out = std::process::Command::new("rabbitmqctl")
                .arg("-q")
                .args(&args)
                .output()
                .unwrap();
            assert!(out.status.success(), "rabbitmqctl {args:?}: {out:?}");
        }
        Self { name }
    }

    fn url(&self) -> String {
        format!("amqp://{}:pw@127.0.0.1:5672/%2f", self.name)
    }
}

impl Drop for BrokerUser {
    fn drop(&mut self) {
        let _ = std::process::Command::new("rabbitmqctl")
            .args(["-q", "delete_user", &self.name])
            .output();
    }
}

/// Instance settings sent with a job spare the worker a store read, but
/// only the fleet's own jobs are trusted with them: from another broker
/// user they are ignored, so no producer can point a worker at a host (and
/// a password reference) of its choosing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instance_settings_in_a_job_are_trusted_only_from_the_fleet() {
    let world = World::on(Backend::Fleet).await;
    let pg = world.add_postgres("pg").await;
    let fleet = Fleet::start(&world, 1);
    // Settings that would send the worker elsewhere: a port where nothing listens.
    let elsewhere = json!({"name": "pg", "engine": "postgresql", "host": "127.0.0.1",
        "port": common::closed_port(), "username": "postgres", "auth": {"source": "none"}});
    let job = |id: &str| {
        let mut job = aimed(fixture("job.probe.json"), pg.id.0);
        job["job_id"] = json!(id);
        job.as_object_mut().unwrap().remove("batch_id");
        job["instance_details"] = elsewhere.clone();
        job
    };

    let stranger = BrokerUser::new();
    let from_stranger = job(&uuid::Uuid::now_v7().to_string());
    let claim = Some(stranger.name.as_str());
    publish_raw_as(&world, &stranger.url(), claim, "job.probe", &from_stranger).await;
    let ignored = ended_batch(&world, from_stranger["job_id"].as_str().unwrap()).await;
    // As the dispatcher publishes: as the fleet's own user, `guest`.
    let from_fleet = job(&uuid::Uuid::now_v7().to_string());
    publish_raw_as(&world, AMQP, Some("guest"), "job.probe", &from_fleet).await;
    let trusted = ended_batch(&world, from_fleet["job_id"].as_str().unwrap()).await;
    fleet.stop().await;

    assert_eq!(
        ignored.status,
        BatchStatus::Success,
        "the store's settings were used"
    );
    assert_eq!(
        trusted.status,
        BatchStatus::Failed,
        "the job's own settings were used"
    );
    let failed = world
        .store
        .batches()
        .jobs(trusted.id)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(
        failed.error.unwrap().class,
        dbfleet::message::ErrorClass::Connect
    );
    world.teardown().await;
}
