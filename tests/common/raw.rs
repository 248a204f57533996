//! Jobs as another system sends them: raw JSON published to the jobs
//! exchange by a program that is not dbfleet (lapin here, with no dbfleet
//! types) on RabbitMQ, or the same bytes handed to the in-process queue.

use dbfleet::broker::{Outgoing, Queue};
use dbfleet::domain::BatchId;
use dbfleet::store::Batch;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, ConnectionProperties};
use serde_json::Value;

use super::{eventually, Backend, World, AMQP};

/// Publish `body` as another system would: raw bytes to the jobs exchange
/// with routing key `routing_key`, persistent, confirmed.
pub async fn publish_raw(world: &World, routing_key: &str, body: &Value) {
    publish_raw_as(world, AMQP, None, routing_key, body).await
}

/// [`publish_raw`] through the broker at `amqp_url` (a broker user of its
/// own), claiming to be `user_id` (RabbitMQ refuses a claim other than the
/// connection's own user).
pub async fn publish_raw_as(
    world: &World,
    amqp_url: &str,
    user_id: Option<&str>,
    routing_key: &str,
    body: &Value,
) {
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
    let conn = lapin::Connection::connect(amqp_url, ConnectionProperties::default())
        .await
        .unwrap();
    let channel = conn.create_channel().await.unwrap();
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let mut properties = BasicProperties::default();
    if let Some(user) = user_id {
        properties = properties.with_user_id(user.into());
    }
    let properties = properties
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
pub async fn ended_batch(world: &World, job_id: &str) -> Batch {
    let id: BatchId = job_id.parse().unwrap();
    eventually("the job's batch of one to end", || async {
        let batch = world.store.batches().get(id).await.unwrap();
        batch.filter(|b| b.status.is_terminal())
    })
    .await
}
