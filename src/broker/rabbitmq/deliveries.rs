//! Consuming: one connection per consumer, and its stream of deliveries,
//! each turned from a lapin delivery into a [`DeliveryMeta`] plus the acker
//! that settles it.
//!
//! The stream owns its connection: [`Deliveries::close`] closes it (the
//! consume loop awaits that before it returns), and dropping the stream
//! closes it in the background, so a consumer leaves nothing open.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::Stream;
use lapin::options::{BasicConsumeOptions, BasicQosOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::Connection;

use super::settle::RabbitAcker;
use super::{amqp, properties, shut, tls, Inner, RabbitBroker};
use crate::broker::{Deliveries, Delivery, DeliveryMeta, Queue, Result};

impl RabbitBroker {
    pub(super) async fn subscribe(&self, queue: Queue, prefetch: u16) -> Result<Deliveries> {
        let connection = tls::open(&self.inner.url, &self.inner.tls, properties())
            .await
            .map_err(amqp)?;
        match self.start_consumer(&connection, queue, prefetch).await {
            Ok(consumer) => {
                let deliveries = RabbitDeliveries {
                    consumer,
                    inner: self.inner.clone(),
                };
                Ok(Deliveries::new(deliveries).closed_by(close(connection)))
            }
            Err(e) => {
                close(connection).await;
                Err(e)
            }
        }
    }

    /// A channel with `prefetch` on `connection`, consuming `queue`.
    async fn start_consumer(
        &self,
        connection: &Connection,
        queue: Queue,
        prefetch: u16,
    ) -> Result<lapin::Consumer> {
        let channel = connection.create_channel().await.map_err(amqp)?;
        channel
            .basic_qos(prefetch, BasicQosOptions::default())
            .await
            .map_err(amqp)?;
        channel
            .basic_consume(
                &self.inner.topology.queue(queue),
                "",
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(amqp)
    }
}

/// Close a consumer's connection, which returns its unsettled deliveries to
/// the queue.
async fn close(connection: Connection) {
    shut(connection, "consumer closed").await;
}

/// A consumer's stream of lapin deliveries, each with its acker.
struct RabbitDeliveries {
    consumer: lapin::Consumer,
    inner: Arc<Inner>,
}

impl Stream for RabbitDeliveries {
    type Item = Result<Delivery>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let inner = self.inner.clone();
        Pin::new(&mut self.consumer).poll_next(cx).map(|item| {
            item.map(|result| {
                result.map_err(amqp).map(|delivery| {
                    let meta = meta_of(&delivery);
                    let acker = RabbitAcker {
                        acker: delivery.acker,
                        inner,
                    };
                    Delivery::new(meta, Box::new(acker))
                })
            })
        })
    }
}

fn header_text(value: &AMQPValue) -> String {
    match value {
        AMQPValue::LongString(s) => s.to_string(),
        AMQPValue::ShortString(s) => s.as_str().to_string(),
        AMQPValue::LongLongInt(n) => n.to_string(),
        AMQPValue::LongInt(n) => n.to_string(),
        AMQPValue::LongUInt(n) => n.to_string(),
        AMQPValue::ShortInt(n) => n.to_string(),
        AMQPValue::ShortUInt(n) => n.to_string(),
        AMQPValue::Boolean(b) => b.to_string(),
        other => format!("{other:?}"),
    }
}

fn meta_of(delivery: &lapin::message::Delivery) -> DeliveryMeta {
    let headers: BTreeMap<String, String> = delivery
        .properties
        .headers()
        .as_ref()
        .map(|table| {
            table
                .inner()
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), header_text(v)))
                .collect()
        })
        .unwrap_or_default();
    // Quorum queues count returned deliveries in `x-delivery-count`.
    let previous: u32 = headers
        .get("x-delivery-count")
        .and_then(|n| n.parse().ok())
        .unwrap_or(u32::from(delivery.redelivered));
    DeliveryMeta {
        body: delivery.data.clone(),
        message_id: delivery
            .properties
            .message_id()
            .as_ref()
            .map(ShortString::to_string),
        correlation_id: delivery
            .properties
            .correlation_id()
            .as_ref()
            .map(ShortString::to_string),
        kind: delivery
            .properties
            .kind()
            .as_ref()
            .map(ShortString::to_string),
        user_id: delivery
            .properties
            .user_id()
            .as_ref()
            .map(ShortString::to_string),
        headers,
        attempt: previous.saturating_add(1),
    }
}
