//! Declaring the topology: the two topic exchanges, the quorum queues bound
//! to them, and the retry tiers whose TTL sends a parked job back.
//!
//! Everything is declared durable and idempotently, in one function, so a
//! worker and the control plane can both call it at start-up.

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, ExchangeKind};

use super::amqp;
use crate::broker::{Queue, Result, Topology};

fn quorum_args(delivery_limit: Option<u32>, dead_letter_exchange: Option<&str>) -> FieldTable {
    let mut args = FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    if let Some(limit) = delivery_limit {
        let limit = i32::try_from(limit).unwrap_or(i32::MAX);
        args.insert("x-delivery-limit".into(), AMQPValue::LongInt(limit));
    }
    if let Some(dlx) = dead_letter_exchange {
        args.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString(dlx.into()),
        );
        // Dead-lettering with confirms inside the broker: nothing is dropped
        // between the jobs queue and the dead-letter queue.
        args.insert(
            "x-dead-letter-strategy".into(),
            AMQPValue::LongString("at-least-once".into()),
        );
        args.insert(
            "x-overflow".into(),
            AMQPValue::LongString("reject-publish".into()),
        );
    }
    args
}

/// Retry tier `tier`: messages wait out the delay, then dead-letter back to
/// the jobs queue through the main exchange.
fn retry_args(t: &Topology, delay: std::time::Duration) -> FieldTable {
    let mut args = quorum_args(None, Some(&t.exchange()));
    let ttl = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
    args.insert("x-message-ttl".into(), AMQPValue::LongLongInt(ttl));
    args.insert(
        "x-dead-letter-routing-key".into(),
        AMQPValue::LongString(t.retried_routing_key().into()),
    );
    args
}

/// The exchanges, the results and dead-letter queues, the default zone's
/// jobs queue and tiers, and this topology's zone's if it has one.
pub(super) async fn declare_topology(channel: &Channel, t: &Topology) -> Result<()> {
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..ExchangeDeclareOptions::default()
    };
    let (exchange, dlx) = (t.exchange(), t.dead_letter_exchange());
    for name in [&exchange, &dlx] {
        channel
            .exchange_declare(name, ExchangeKind::Topic, durable, FieldTable::default())
            .await
            .map_err(amqp)?;
    }
    let results = quorum_args(Some(t.delivery_limit), Some(&dlx));
    declare_queue(channel, t, Queue::Results, results, &exchange).await?;
    declare_queue(channel, t, Queue::Dead, quorum_args(None, None), &dlx).await?;
    declare_jobs(channel, &t.in_zone(None)).await?;
    if t.zone.is_some() {
        declare_jobs(channel, t).await?;
    }
    Ok(())
}

/// The jobs queue and the interactive one of `t`'s zone, bound to the main
/// exchange, and its retry tiers (a delayed job comes back to the jobs
/// queue, whichever lane it came from).
pub(super) async fn declare_jobs(channel: &Channel, t: &Topology) -> Result<()> {
    for lane in [Queue::Jobs, Queue::Interactive] {
        let args = quorum_args(Some(t.delivery_limit), Some(&t.dead_letter_exchange()));
        declare_queue(channel, t, lane, args, &t.exchange()).await?;
    }
    let options = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    for (tier, delay) in t.retry_delays.iter().enumerate() {
        channel
            .queue_declare(&t.retry_queue(tier), options, retry_args(t, *delay))
            .await
            .map_err(amqp)?;
    }
    Ok(())
}

async fn declare_queue(
    channel: &Channel,
    t: &Topology,
    queue: Queue,
    args: FieldTable,
    source: &str,
) -> Result<()> {
    let options = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    let name = t.queue(queue);
    channel
        .queue_declare(&name, options, args)
        .await
        .map_err(amqp)?;
    channel
        .queue_bind(
            &name,
            source,
            &t.binding(queue),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(amqp)?;
    Ok(())
}
