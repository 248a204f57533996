//! RabbitMQ through lapin.
//!
//! Publishing goes through one cached confirm-mode channel on a pooled
//! connection (deadpool replaces a dead connection on the next `get`), so a
//! dropped connection heals on the next publish. Each consumer gets its own
//! connection, as RabbitMQ advises, so publisher flow control never stalls
//! acks; prefetch is set before `basic.consume`.
//!
//! Layout: this file connects, publishes and closes; `connect.rs` checks
//! the URL and words a failed connection; `declare.rs` declares
//! the topology; `deliveries.rs` is the consumer stream; `settle.rs` settles
//! each delivery according to its [`Disposition`](crate::broker::Disposition).

mod connect;
mod declare;
mod deliveries;
mod settle;
mod tls;

use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool::managed::Pool;

use self::tls::Opener;
use crate::config::BrokerTls;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::publisher_confirm::Confirmation;
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;

use super::{Broker, Deliveries, DeliveryMeta, Error, Outgoing, Queue, Result, Topology};

pub use connect::validate_url;

pub struct RabbitBroker {
    inner: Arc<Inner>,
}

struct Inner {
    url: SecretString,
    /// Certificates for `amqps://`.
    tls: BrokerTls,
    /// The broker user this process connects as: every message it
    /// publishes carries it as `user_id`, which RabbitMQ verifies.
    user: String,
    topology: Topology,
    pool: Pool<Opener>,
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

/// Close `connection`, then wait until lapin's IO thread for it has
/// stopped: that thread uses this runtime's reactor, and one still running
/// when the runtime stops logs "A Tokio 1.x context was found, but it is
/// being shutdown" as errors. Best effort: a connection already lost is
/// only logged at debug.
async fn shut(connection: Connection, why: &'static str) {
    let closing = async { connection.close(200, why).await.map_err(amqp) };
    if let Err(e) = bounded("closing a connection", OPERATION_TIMEOUT, closing).await {
        tracing::debug!(error = %e, "connection already gone");
        return;
    }
    // The close is acknowledged, so the IO thread ends in a moment:
    // `run` joins it (blocking, hence its own thread).
    let stopped = tokio::task::spawn_blocking(move || connection.run());
    if tokio::time::timeout(CONNECT_TIMEOUT, stopped)
        .await
        .is_err()
    {
        tracing::debug!("a closed connection's IO thread is still running");
    }
}

fn properties() -> ConnectionProperties {
    ConnectionProperties::default()
        .with_executor(tokio_executor_trait::Tokio::current())
        .with_reactor(tokio_reactor_trait::Tokio)
        .with_connection_name("dbfleet".into())
}

impl RabbitBroker {
    /// Connect (checking the broker answers) without declaring anything. A
    /// failure is [`Error::Connect`]: the redacted URL and the root cause.
    pub async fn connect(url: &SecretString, tls: &BrokerTls, topology: Topology) -> Result<Self> {
        let opener = Opener {
            url: url.clone(),
            tls: tls.clone(),
            properties: properties(),
        };
        let pool = Pool::builder(opener)
            .max_size(4)
            .runtime(deadpool::Runtime::Tokio1)
            .create_timeout(Some(CONNECT_TIMEOUT))
            .wait_timeout(Some(OPERATION_TIMEOUT))
            .build()
            .map_err(Error::PoolBuild)?;
        let user = lapin::uri::AMQPUri::from_str(url.expose_secret())
            .map(|uri| uri.authority.userinfo.username)
            .unwrap_or_default();
        let broker = Self {
            inner: Arc::new(Inner {
                url: url.clone(),
                tls: tls.clone(),
                user,
                topology,
                pool,
                channel: Mutex::new(None),
            }),
        };
        if let Err(e) = broker.inner.channel().await {
            broker.inner.pool.close();
            return Err(connect::connect_error(url.expose_secret(), &e));
        }
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
            .with_user_id(self.user.as_str().into())
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

#[async_trait]
impl Broker for RabbitBroker {
    async fn declare(&self) -> Result<()> {
        let channel = self.inner.channel().await?;
        let declare = declare::declare_topology(&channel, &self.inner.topology);
        bounded("declaring the topology", OPERATION_TIMEOUT, declare).await
    }

    async fn declare_zone(&self, zone: &str) -> Result<()> {
        let channel = self.inner.channel().await?;
        let zoned = self.inner.topology.in_zone(Some(zone));
        let declare = declare::declare_jobs(&channel, &zoned);
        bounded("declaring a zone's queue", OPERATION_TIMEOUT, declare).await
    }

    async fn publish(&self, message: Outgoing) -> Result<()> {
        let t = &self.inner.topology;
        let exchange = match message.queue {
            Queue::Dead => t.dead_letter_exchange(),
            Queue::Jobs | Queue::Interactive | Queue::Results => t.exchange(),
        };
        let started = std::time::Instant::now();
        self.inner
            .publish_to(&exchange, &message.routing_key, &message)
            .await?;
        let took = started.elapsed().as_secs_f64();
        crate::metrics::metrics().publish_confirm.observe(took);
        Ok(())
    }

    async fn close(&self) {
        let close_channel = async {
            if let Some(channel) = self.inner.channel.lock().await.take() {
                let _ = channel.close(200, "closing").await;
            }
            Ok(())
        };
        let _ = bounded("closing", OPERATION_TIMEOUT, close_channel).await;
        let idle = self.inner.pool.status().available;
        for _ in 0..idle {
            let taken = bounded("closing", OPERATION_TIMEOUT, async {
                self.inner.pool.get().await.map_err(Error::Pool)
            })
            .await;
            if let Ok(connection) = taken {
                shut(deadpool::managed::Object::take(connection), "closing").await;
            }
        }
        self.inner.pool.close();
    }

    /// A passive declare, on a channel of its own: a queue that does not
    /// exist closes the channel it is asked on.
    async fn depth(&self, queue: Queue) -> Result<u64> {
        let name = self.inner.topology.queue(queue);
        let ask = async {
            let connection = self.inner.pool.get().await.map_err(Error::Pool)?;
            let channel = connection.create_channel().await.map_err(amqp)?;
            let passive = lapin::options::QueueDeclareOptions {
                passive: true,
                ..Default::default()
            };
            let declared = channel
                .queue_declare(&name, passive, FieldTable::default())
                .await;
            let _ = channel.close(200, "counted").await;
            Ok(u64::from(declared.map_err(amqp)?.message_count()))
        };
        bounded("counting a queue", OPERATION_TIMEOUT, ask).await
    }

    fn names(&self) -> &Topology {
        &self.inner.topology
    }

    fn system(&self) -> &'static str {
        "rabbitmq"
    }

    fn published_by_this_fleet(&self, delivery: &DeliveryMeta) -> bool {
        delivery.user_id.as_deref() == Some(self.inner.user.as_str())
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
