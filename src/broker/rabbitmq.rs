//! RabbitMQ through lapin.
//!
//! Publishing goes through one cached confirm-mode channel on a pooled
//! connection (deadpool replaces a dead connection on the next `get`), so a
//! dropped connection heals on the next publish. Each consumer gets its own
//! connection, as RabbitMQ advises, so publisher flow control never stalls
//! acks; prefetch is set before `basic.consume`.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use deadpool_lapin::{Manager, Pool};
use futures_util::Stream;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions,
    BasicRejectOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::publisher_confirm::Confirmation;
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;

use super::{
    Acker, Broker, Deliveries, Delivery, DeliveryMeta, Disposition, Error, Outgoing, Queue, Result,
    Topology, REASON_HEADER, RETRIES_HEADER,
};

pub struct RabbitBroker {
    inner: Arc<Inner>,
}

struct Inner {
    url: SecretString,
    topology: Topology,
    pool: Pool,
    channel: Mutex<Option<Channel>>,
}

fn amqp(e: lapin::Error) -> Error {
    Error::Amqp(e)
}

/// Opening a connection. lapin itself waits forever, and a broker that is
/// stopping can accept a TCP connection it will never answer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Any other broker round trip: a confirm, a declare, an ack.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(30);

/// Bound a broker operation, so a silent broker becomes an error that the
/// caller's retry or reconnect logic handles, never a hang.
async fn bounded<T>(
    what: &'static str,
    limit: Duration,
    operation: impl Future<Output = Result<T>>,
) -> Result<T> {
    tokio::time::timeout(limit, operation)
        .await
        .unwrap_or_else(|_| Err(Error::Timeout { what, after: limit }))
}

fn properties() -> ConnectionProperties {
    ConnectionProperties::default()
        .with_executor(tokio_executor_trait::Tokio::current())
        .with_reactor(tokio_reactor_trait::Tokio)
        .with_connection_name("dbfleet".into())
}

impl RabbitBroker {
    /// Connect (checking the broker answers) without declaring anything.
    pub async fn connect(url: &SecretString, topology: Topology) -> Result<Self> {
        let manager = Manager::new(url.expose_secret(), properties());
        let pool = Pool::builder(manager)
            .max_size(4)
            .runtime(deadpool_lapin::Runtime::Tokio1)
            .create_timeout(Some(CONNECT_TIMEOUT))
            .wait_timeout(Some(OPERATION_TIMEOUT))
            .build()
            .map_err(Error::PoolBuild)?;
        let broker = Self {
            inner: Arc::new(Inner {
                url: url.clone(),
                topology,
                pool,
                channel: Mutex::new(None),
            }),
        };
        broker.inner.channel().await?;
        Ok(broker)
    }

    pub fn topology(&self) -> &Topology {
        &self.inner.topology
    }
}

impl Inner {
    /// The cached publishing channel, reopened when it is no longer usable.
    async fn channel(&self) -> Result<Channel> {
        bounded(
            "opening a channel",
            CONNECT_TIMEOUT + OPERATION_TIMEOUT,
            self.open_channel(),
        )
        .await
    }

    async fn open_channel(&self) -> Result<Channel> {
        let mut cached = self.channel.lock().await;
        if let Some(channel) = cached.as_ref().filter(|c| c.status().connected()) {
            return Ok(channel.clone());
        }
        let connection = self.pool.get().await.map_err(Error::Pool)?;
        let channel = connection.create_channel().await.map_err(amqp)?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(amqp)?;
        *cached = Some(channel.clone());
        Ok(channel)
    }

    async fn publish_to(
        &self,
        exchange: &str,
        routing_key: &str,
        message: &Outgoing,
    ) -> Result<()> {
        let channel = self.channel().await?;
        let mut headers = FieldTable::default();
        for (key, value) in &message.headers {
            headers.insert(
                key.as_str().into(),
                AMQPValue::LongString(value.as_str().into()),
            );
        }
        let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or_default();
        let props = BasicProperties::default()
            .with_message_id(message.message_id.as_str().into())
            .with_correlation_id(message.correlation_id.as_str().into())
            .with_type(message.kind.as_str().into())
            .with_content_type("application/json".into())
            .with_delivery_mode(2)
            .with_timestamp(now)
            .with_headers(headers);
        let options = BasicPublishOptions {
            mandatory: true,
            ..BasicPublishOptions::default()
        };
        let confirm = channel
            .basic_publish(exchange, routing_key, options, &message.body, props)
            .await
            .map_err(amqp)?;
        match confirm.await.map_err(amqp)? {
            Confirmation::Ack(None) => Ok(()),
            Confirmation::Ack(Some(_)) => Err(Error::Unroutable(routing_key.to_string())),
            Confirmation::Nack(_) => Err(Error::Nacked(routing_key.to_string())),
            Confirmation::NotRequested => Err(Error::NotConfirming),
        }
    }
}

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

async fn declare_topology(channel: &Channel, t: &Topology) -> Result<()> {
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
    let queue_options = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    for (queue, args, source) in [
        (
            Queue::Jobs,
            quorum_args(Some(t.delivery_limit), Some(&dlx)),
            &exchange,
        ),
        (
            Queue::Results,
            quorum_args(Some(t.delivery_limit), Some(&dlx)),
            &exchange,
        ),
        (Queue::Dead, quorum_args(None, None), &dlx),
    ] {
        let name = t.queue(queue);
        channel
            .queue_declare(&name, queue_options, args)
            .await
            .map_err(amqp)?;
        channel
            .queue_bind(
                &name,
                source,
                t.binding(queue),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(amqp)?;
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

#[async_trait]
impl Broker for RabbitBroker {
    async fn declare(&self) -> Result<()> {
        let channel = self.inner.channel().await?;
        let declare = declare_topology(&channel, &self.inner.topology);
        bounded("declaring the topology", OPERATION_TIMEOUT, declare).await
    }

    async fn publish(&self, message: Outgoing) -> Result<()> {
        let t = &self.inner.topology;
        let exchange = match message.queue {
            Queue::Dead => t.dead_letter_exchange(),
            Queue::Jobs | Queue::Results => t.exchange(),
        };
        self.inner
            .publish_to(&exchange, &message.routing_key, &message)
            .await
    }

    async fn close(&self) {
        let close = async {
            if let Some(channel) = self.inner.channel.lock().await.take() {
                let _ = channel.close(200, "closing").await;
            }
            let idle = self.inner.pool.status().available;
            for _ in 0..idle {
                if let Ok(connection) = self.inner.pool.get().await {
                    let _ = connection.close(200, "closing").await;
                }
            }
            Ok(())
        };
        let _ = bounded("closing", OPERATION_TIMEOUT, close).await;
        self.inner.pool.close();
    }

    async fn consume(&self, queue: Queue, prefetch: u16) -> Result<Deliveries> {
        let subscribe = self.subscribe(queue, prefetch);
        bounded(
            "subscribing",
            CONNECT_TIMEOUT + OPERATION_TIMEOUT,
            subscribe,
        )
        .await
    }
}

impl RabbitBroker {
    async fn subscribe(&self, queue: Queue, prefetch: u16) -> Result<Deliveries> {
        let connection = Connection::connect(self.inner.url.expose_secret(), properties())
            .await
            .map_err(amqp)?;
        let channel = connection.create_channel().await.map_err(amqp)?;
        channel
            .basic_qos(prefetch, BasicQosOptions::default())
            .await
            .map_err(amqp)?;
        let consumer = channel
            .basic_consume(
                &self.inner.topology.queue(queue),
                "",
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(amqp)?;
        Ok(Box::pin(RabbitDeliveries {
            consumer,
            connection: Some(connection),
            inner: self.inner.clone(),
        }))
    }
}

/// A consumer's stream; owns its connection and closes it when dropped.
struct RabbitDeliveries {
    consumer: lapin::Consumer,
    connection: Option<Connection>,
    inner: Arc<Inner>,
}

impl Drop for RabbitDeliveries {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take() {
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(async move {
                    let _ = connection.close(200, "consumer closed").await;
                });
            }
        }
    }
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
        headers,
        attempt: previous.saturating_add(1),
    }
}

struct RabbitAcker {
    acker: lapin::acker::Acker,
    inner: Arc<Inner>,
}

#[async_trait]
impl Acker for RabbitAcker {
    async fn settle(self: Box<Self>, disposition: Disposition, meta: &DeliveryMeta) -> Result<()> {
        bounded(
            "settling a delivery",
            CONNECT_TIMEOUT + OPERATION_TIMEOUT,
            self.settle_unbounded(disposition, meta),
        )
        .await
    }
}

impl RabbitAcker {
    async fn settle_unbounded(
        self: Box<Self>,
        disposition: Disposition,
        meta: &DeliveryMeta,
    ) -> Result<()> {
        match disposition {
            Disposition::Ack => self.acker.ack(BasicAckOptions::default()).await,
            Disposition::Retry => {
                self.acker
                    .reject(BasicRejectOptions { requeue: true })
                    .await
            }
            Disposition::HandBack => {
                let options = BasicNackOptions {
                    requeue: true,
                    ..BasicNackOptions::default()
                };
                self.acker.nack(options).await
            }
            Disposition::DeadLetter(reason) => return self.dead_letter(&reason, meta).await,
            Disposition::Delay { tier } => return self.delay(tier, meta).await,
        }
        .map_err(amqp)
    }
}

impl RabbitAcker {
    /// Park a copy in the retry tier's queue, whose TTL dead-letters it back
    /// to the jobs queue, then ack. If the copy cannot be confirmed, reject
    /// with requeue instead: an immediate retry beats a lost job.
    async fn delay(self, tier: usize, meta: &DeliveryMeta) -> Result<()> {
        let t = &self.inner.topology;
        let tier = tier.min(t.retry_delays.len().saturating_sub(1));
        let mut headers = meta.headers.clone();
        headers.retain(|k, _| {
            !k.starts_with("x-death")
                && !k.starts_with("x-first-death")
                && !k.starts_with("x-last-death")
        });
        headers.insert(RETRIES_HEADER.to_string(), (tier + 1).to_string());
        let copy = Outgoing {
            queue: Queue::Jobs,
            message_id: meta.message_id.clone().unwrap_or_default(),
            correlation_id: meta.correlation_id.clone().unwrap_or_default(),
            kind: meta.kind.clone().unwrap_or_default(),
            routing_key: t.retry_queue(tier),
            body: meta.body.clone(),
            headers,
        };
        let parked = if t.retry_delays.is_empty() {
            Err(Error::NoRetryTiers)
        } else {
            self.inner.publish_to("", &copy.routing_key, &copy).await
        };
        self.ack_if_copied(
            parked,
            true,
            "could not park a job for a delayed retry; requeueing it",
        )
        .await
    }

    /// Ack once the copy is confirmed; otherwise reject, requeueing or not,
    /// so the message is never lost between the two.
    async fn ack_if_copied(self, copied: Result<()>, requeue: bool, warning: &str) -> Result<()> {
        match copied {
            Ok(()) => self.acker.ack(BasicAckOptions::default()).await,
            Err(e) => {
                tracing::warn!(error = %e, "{warning}");
                self.acker.reject(BasicRejectOptions { requeue }).await
            }
        }
        .map_err(amqp)
    }

    /// Copy the message to the dead-letter exchange with its reason, then
    /// ack it. If that copy cannot be confirmed, let the broker dead-letter
    /// it without a reason rather than lose it.
    async fn dead_letter(self, reason: &str, meta: &DeliveryMeta) -> Result<()> {
        let mut headers = meta.headers.clone();
        headers.insert(REASON_HEADER.to_string(), reason.to_string());
        let copy = Outgoing {
            queue: Queue::Dead,
            message_id: meta.message_id.clone().unwrap_or_default(),
            correlation_id: String::new(),
            kind: "dead_letter".to_string(),
            routing_key: "dead".to_string(),
            body: meta.body.clone(),
            headers,
        };
        let dlx = self.inner.topology.dead_letter_exchange();
        let copied = self.inner.publish_to(&dlx, &copy.routing_key, &copy).await;
        self.ack_if_copied(
            copied,
            false,
            "could not copy a dead letter; rejecting it instead",
        )
        .await
    }
}
