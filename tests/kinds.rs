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

use common::{eventually, Backend, Fleet, MariaUser, World, AMQP};
use dbfleet::broker::{Outgoing, Queue};
use dbfleet::domain::BatchId;
use dbfleet::store::{Batch, BatchStatus};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, ConnectionProperties};
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

/// Publish `body` as another system would: raw bytes to the jobs exchange
/// with routing key `routing_key`, persistent, confirmed.
async fn publish_raw(world: &World, routing_key: &str, body: &Value) {
    let bytes = serde_json::to_vec(body).unwrap();
    let message_id = body["job_id"].as_str().unwrap().to_string();
    if world.backend == Backend::Embedded {
        let outgoing = Outgoing {
            queue: Queue::Jobs,
            message_id,
            correlation_id: String::new(),
            kind: body["kind"].as_str().unwrap().to_string(),
            routing_key: routing_key.to_string(),
            body: bytes,
            headers: Default::default(),
        };
        return world.broker.publish(outgoing).await.unwrap();
    }
    let conn = lapin::Connection::connect(AMQP, ConnectionProperties::default())
        .await
        .unwrap();
    let channel = conn.create_channel().await.unwrap();
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let properties = BasicProperties::default()
        .with_message_id(message_id.into())
        .with_content_type("application/json".into())
        .with_delivery_mode(2);
    let exchange = world.settings.broker.prefix.clone();
    let options = BasicPublishOptions {
        mandatory: true,
        ..BasicPublishOptions::default()
    };
    let confirm = channel
        .basic_publish(&exchange, routing_key, options, &bytes, properties)
        .await
        .unwrap()
        .await
        .unwrap();
    assert!(confirm.is_ack(), "the broker took the job: {confirm:?}");
    conn.close(200, "bye").await.unwrap();
}

/// The batch of one a standalone job makes, once it has ended.
async fn ended_batch(world: &World, job_id: &str) -> Batch {
    let id: BatchId = job_id.parse().unwrap();
    eventually("the job's batch of one to end", || async {
        let batch = world.store.batches().get(id).await.unwrap();
        batch.filter(|b| b.status.is_terminal())
    })
    .await
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
