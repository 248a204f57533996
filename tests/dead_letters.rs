//! Dead letters end to end: a job that dies on the dead-letter queue fails
//! its batch at once and is kept in the control store; `dlq replay` sends it
//! back and its success overwrites the failure. On both pairs of backends:
//! RabbitMQ with PostgreSQL, and the in-process queue with SQLite.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{eventually, within, Backend, Fleet, MariaUser, World};
use dbfleet::broker::{Deliveries, Delivery, Disposition, Outgoing, Queue};
use dbfleet::domain::BatchId;
use dbfleet::fleet::dispatcher::{self, Selection};
use dbfleet::fleet::dlq;
use dbfleet::message::{ErrorClass, JobMessage};
use dbfleet::store::{Batch, BatchStatus, DeadLetter, JobRow};
use futures_util::StreamExt;

on_both_backends!(
    a_poisoned_job_fails_its_batch_and_its_replay_succeeds,
    a_job_past_its_delivery_limit_is_kept_with_the_brokers_reason,
);

/// Dead letters not replayed yet, once there are exactly `n`, newest first.
async fn pending_dead_letters(world: &World, n: usize) -> Vec<DeadLetter> {
    eventually(&format!("{n} pending dead letter(s)"), || async {
        let letters = world.store.dead_letters().list(false, 100).await.unwrap();
        (letters.len() == n).then_some(letters)
    })
    .await
}

async fn batch_with_status(world: &World, id: BatchId, status: BatchStatus) -> Batch {
    eventually(&format!("batch {}", status.as_str()), || async {
        let batch = world.store.batches().get(id).await.unwrap().unwrap();
        (batch.status == status).then_some(batch)
    })
    .await
}

async fn only_job(world: &World, id: BatchId) -> JobRow {
    let mut jobs = world.store.batches().jobs(id).await.unwrap();
    assert_eq!(jobs.len(), 1);
    jobs.remove(0)
}

async fn next(deliveries: &mut Deliveries) -> Delivery {
    within("a delivery", deliveries.next())
        .await
        .expect("the stream should not end")
        .expect("the delivery should not be an error")
}

/// A one-job batch for an instance, published to the jobs queue.
async fn one_job_batch(world: &World) -> Batch {
    dispatcher::start_batch(
        &world.store,
        world.broker.as_ref(),
        &dispatcher::BatchRequest {
            params: &dbfleet::message::JobParams::default_for(
                dbfleet::message::JobKind::CapacitySync,
            ),
            selection: Selection::AllActive,
            deadline: world.settings.job.deadline,
            requested_by: Some("dead-letter-test"),
            interactive: false,
        },
    )
    .await
    .unwrap()
}

async fn a_poisoned_job_fails_its_batch_and_its_replay_succeeds(backend: Backend) {
    let world = World::on(backend).await;
    let maria = MariaUser::new().await;
    let db = format!("{}_kept", maria.prefix);
    maria.create_database(&db, 64).await;
    world.add_mariadb("maria", &maria).await;
    let deadline = world.settings.job.deadline;
    let mut tasks = Fleet::new();
    tasks.serve(&world);

    // Play a worker that finds the job poisonous.
    let batch = one_job_batch(&world).await;
    let job_id = only_job(&world, batch.id).await.job_id;
    let mut jobs = world.broker.consume(Queue::Jobs, 1).await.unwrap();
    let delivery = next(&mut jobs).await;
    assert_eq!(delivery.meta.message_id, Some(job_id.to_string()));
    delivery
        .settle(Disposition::DeadLetter("test: poisoned".into()))
        .await
        .unwrap();

    // The batch ends at once, failed, long before the job's deadline.
    let failed = batch_with_status(&world, batch.id, BatchStatus::Failed).await;
    assert_eq!((failed.total, failed.succeeded, failed.failed), (1, 0, 1));
    let job = only_job(&world, batch.id).await;
    assert_eq!(job.status, "failed");
    let error = job.error.expect("a failed job says why");
    assert_eq!(error.class, ErrorClass::Internal);
    assert!(
        error.message.contains("dead-lettered: test: poisoned"),
        "{}",
        error.message
    );
    assert_eq!(job.worker.as_deref(), Some("dead-letter"));

    // And the message is kept.
    let letters = pending_dead_letters(&world, 1).await;
    let poisoned = letters[0].clone();
    assert_eq!(poisoned.kind, "job");
    assert_eq!(poisoned.message_id, Some(job_id.to_string()));
    assert_eq!(poisoned.reason, "test: poisoned");
    assert_eq!(JobMessage::decode(&poisoned.body).unwrap().job_id, job_id);
    assert_eq!(poisoned.replayed_at, None);

    // A body that is no message at all is kept too, as `unknown`.
    let garbage_id = format!("garbage-{}", world.tag);
    world
        .broker
        .publish(Outgoing {
            queue: Queue::Jobs,
            message_id: garbage_id.clone(),
            correlation_id: String::new(),
            kind: "garbage".into(),
            routing_key: "job.garbage".into(),
            body: b"not json".to_vec(),
            headers: BTreeMap::new(),
        })
        .await
        .unwrap();
    let delivery = next(&mut jobs).await;
    assert_eq!(delivery.meta.body, b"not json");
    delivery
        .settle(Disposition::DeadLetter("test: garbage".into()))
        .await
        .unwrap();
    // Stop consuming, so that the worker below gets the replay.
    drop(jobs);
    let letters = pending_dead_letters(&world, 2).await;
    let garbage = letters[0].clone();
    assert_eq!(letters[1].id, poisoned.id, "newest first");
    assert_eq!(garbage.kind, "unknown");
    assert_eq!(garbage.message_id.as_deref(), Some(garbage_id.as_str()));
    assert_eq!(garbage.reason, "test: garbage");
    assert_eq!(
        (garbage.body.as_slice(), garbage.preview.as_str()),
        (&b"not json"[..], "not json")
    );
    let batch_now = world.store.batches().get(batch.id).await.unwrap().unwrap();
    assert_eq!(
        batch_now.status,
        BatchStatus::Failed,
        "the garbage touches no batch"
    );

    // Unknown ids are refused, and nothing is replayed.
    let missing = dlq::replay(
        &world.store,
        world.broker.as_ref(),
        dlq::Selection::Ids(&[poisoned.id, 987_654_321]),
        deadline,
    )
    .await;
    match missing {
        Err(dlq::Error::NotFound(ids)) => assert_eq!(ids, [987_654_321]),
        other => panic!("unknown id: {other:?}"),
    }
    assert_eq!(
        world
            .store
            .dead_letters()
            .list(false, 100)
            .await
            .unwrap()
            .len(),
        2
    );

    // Replay everything pending: the job, not the garbage.
    let done = dlq::replay(
        &world.store,
        world.broker.as_ref(),
        dlq::Selection::AllPending,
        deadline,
    )
    .await
    .unwrap();
    assert_eq!(done.replayed, [poisoned.id]);
    assert_eq!(done.skipped_unknown, [garbage.id]);

    // A worker runs the replayed job: the success overwrites the failure.
    tasks.worker(&world, "worker-replay");
    let succeeded = batch_with_status(&world, batch.id, BatchStatus::Success).await;
    assert_eq!(
        (succeeded.total, succeeded.succeeded, succeeded.failed),
        (1, 1, 0)
    );
    let job = only_job(&world, batch.id).await;
    assert_eq!((job.status.as_str(), &job.error), ("succeeded", &None));
    assert_eq!(job.worker.as_deref(), Some("worker-replay"));
    assert!(job.count("records") >= 1, "the replayed job sized {db}");

    // Once replayed, a replay that asks for pending ones only refuses it.
    let again = dlq::replay(
        &world.store,
        world.broker.as_ref(),
        dlq::Selection::Pending(&[poisoned.id]),
        deadline,
    )
    .await;
    match again {
        Err(dlq::Error::AlreadyReplayed { id, .. }) => assert_eq!(id, poisoned.id),
        other => panic!("replayed twice: {other:?}"),
    }

    // The dead letter is marked replayed; only the garbage is pending.
    let pending = world.store.dead_letters().list(false, 100).await.unwrap();
    let pending: Vec<i64> = pending.iter().map(|d| d.id).collect();
    assert_eq!(pending, [garbage.id]);
    let replayed = world
        .store
        .dead_letters()
        .by_id(&[poisoned.id])
        .await
        .unwrap();
    assert!(replayed[0].replayed_at.is_some());

    // Named by id, the garbage is published as it is, and the worker
    // dead-letters it again: kept anew, with the worker's reason.
    let done = dlq::replay(
        &world.store,
        world.broker.as_ref(),
        dlq::Selection::Ids(&[garbage.id]),
        deadline,
    )
    .await
    .unwrap();
    assert_eq!(done.replayed, [garbage.id]);
    let again = pending_dead_letters(&world, 1).await;
    assert_ne!(again[0].id, garbage.id);
    assert_eq!(again[0].kind, "unknown");
    assert_eq!(again[0].body, b"not json");
    assert!(
        again[0].reason.starts_with("not a JSON object"),
        "{}",
        again[0].reason
    );
    let batch_now = world.store.batches().get(batch.id).await.unwrap().unwrap();
    assert_eq!(batch_now.status, BatchStatus::Success);

    tasks.stop_within("background tasks stop").await;
    world.teardown().await;
    maria.teardown().await;
}

async fn a_job_past_its_delivery_limit_is_kept_with_the_brokers_reason(backend: Backend) {
    let world = World::on(backend).await;
    world.add_unreachable("down").await;
    let mut tasks = Fleet::new();
    tasks.serve(&world);

    let batch = one_job_batch(&world).await;
    let job_id = only_job(&world, batch.id).await.job_id;
    // A worker that keeps failing transiently: the broker gives up on the
    // job after `delivery_limit` deliveries and dead-letters it itself.
    let mut jobs = world.broker.consume(Queue::Jobs, 1).await.unwrap();
    let limit = world.settings.broker.delivery_limit;
    let mut deliveries = 0;
    while let Ok(Some(delivery)) = tokio::time::timeout(Duration::from_secs(3), jobs.next()).await {
        let delivery = delivery.unwrap();
        assert_eq!(delivery.meta.message_id, Some(job_id.to_string()));
        deliveries += 1;
        assert!(deliveries <= limit + 1, "the broker never gave up");
        delivery.settle(Disposition::Retry).await.unwrap();
    }
    drop(jobs);
    assert!(deliveries >= limit, "{deliveries} deliveries");

    let failed = batch_with_status(&world, batch.id, BatchStatus::Failed).await;
    assert_eq!((failed.succeeded, failed.failed), (0, 1));
    let letters = pending_dead_letters(&world, 1).await;
    let reason = match backend {
        // RabbitMQ's own `x-first-death-reason`.
        Backend::Fleet => "broker: delivery_limit".to_string(),
        Backend::Embedded => format!("delivery limit reached ({limit})"),
    };
    assert_eq!(
        (letters[0].kind.as_str(), letters[0].reason.as_str()),
        ("job", reason.as_str())
    );
    assert_eq!(letters[0].message_id, Some(job_id.to_string()));
    let job = only_job(&world, batch.id).await;
    assert_eq!(
        job.error.map(|e| (e.class, e.message)),
        Some((ErrorClass::Internal, format!("dead-lettered: {reason}")))
    );

    tasks.stop_within("background tasks stop").await;
    world.teardown().await;
}
