//! The message broker: where jobs and results travel.
//!
//! One trait, [`Broker`], with RabbitMQ as the fleet backend. Publishing is
//! always confirmed (a message is on the broker, or the call fails); consuming
//! hands out [`Delivery`]s whose fate is settled once, by a [`Disposition`]
//! chosen in one place by the consumer. Only this module imports `lapin`.

mod backoff;
pub mod consume;
mod memory;
mod rabbitmq;
pub mod topology;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use async_trait::async_trait;
use futures_util::Stream;

use crate::message::{JobMessage, JobResult};

pub use backoff::Backoff;
pub use memory::MemoryBroker;
pub use rabbitmq::{validate_url, RabbitBroker};
pub use topology::Topology;

/// A broker failure. Each variant keeps the client library's own error
/// (typed, for callers that look into it); its message is part of ours
/// rather than a `source()`, because lapin's errors already repeat their own
/// cause in their message.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The broker could not be reached; `endpoint` is its redacted URL.
    #[error("cannot connect to the broker {endpoint}: {cause}")]
    Connect { endpoint: String, cause: String },
    #[error("broker: {0}")]
    Amqp(lapin::Error),
    #[error("broker: {what} timed out after {after:?}")]
    Timeout {
        what: &'static str,
        after: std::time::Duration,
    },
    #[error("broker refused the message (nack) on `{0}`")]
    Nacked(String),
    #[error("message to `{0}` was unroutable: no queue is bound to it")]
    Unroutable(String),
    #[error("broker connection pool: {0}")]
    Pool(deadpool_lapin::PoolError),
    #[error("broker connection pool: {0}")]
    PoolBuild(deadpool_lapin::BuildError),
    #[error("broker: the publishing channel is not in confirm mode")]
    NotConfirming,
    #[error("broker: no retry tiers are configured (broker.retry_delays is empty)")]
    NoRetryTiers,
    #[error("the in-process broker is closed")]
    Closed,
    #[error("unsupported broker URL scheme; expected amqp://…")]
    UnsupportedUrl,
}

/// Header carrying why a message was dead-lettered (both backends).
pub const REASON_HEADER: &str = "x-dbfleet-reason";

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The queues a process consumes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queue {
    Jobs,
    /// The interactive lane: jobs someone waits for (`instance check`, a
    /// job enqueued on its own), served by slots of their own so a nightly
    /// backlog never delays them.
    Interactive,
    Results,
    Dead,
}

/// A message to publish.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub queue: Queue,
    /// The job id: consumers deduplicate on it.
    pub message_id: String,
    /// The batch id.
    pub correlation_id: String,
    /// The message type: the job's kind for jobs, `result` for results.
    pub kind: String,
    /// Routing key on the topic exchange: `job.<kind>`, `result.<kind>`, so
    /// other systems can bind to the kinds they care about.
    pub routing_key: String,
    pub body: Vec<u8>,
    pub headers: BTreeMap<String, String>,
}

impl Outgoing {
    pub fn job(job: &JobMessage) -> Self {
        Self::job_in_zone(job, None)
    }

    /// A job for an instance in network zone `zone` (`None`: the default).
    pub fn job_in_zone(job: &JobMessage, zone: Option<&str>) -> Self {
        Self::job_in_lane(job, zone, false)
    }

    /// A job in zone `zone`, in the interactive lane or the batch one.
    pub fn job_in_lane(job: &JobMessage, zone: Option<&str>, interactive: bool) -> Self {
        let kind = job.kind().as_str();
        let key = Topology::job_routing_key(zone, kind);
        Self {
            queue: if interactive {
                Queue::Interactive
            } else {
                Queue::Jobs
            },
            message_id: job.job_id.to_string(),
            correlation_id: job.effective_batch_id().to_string(),
            kind: kind.to_string(),
            routing_key: if interactive {
                Topology::interactive_key(zone, kind)
            } else {
                key
            },
            body: job.encode(),
            headers: BTreeMap::new(),
        }
    }

    pub fn result(result: &JobResult) -> Self {
        Self {
            queue: Queue::Results,
            message_id: result.job_id.to_string(),
            correlation_id: result.batch_id.to_string(),
            kind: "result".to_string(),
            routing_key: format!("result.{}", result.kind),
            body: result.encode(),
            headers: BTreeMap::new(),
        }
    }
}

/// What to do with a delivery once it has been handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Done (including a job whose failed result is published).
    Ack,
    /// A transient failure: deliver again; counts toward the delivery limit.
    Retry,
    /// Unreadable: move to the dead-letter queue with this reason.
    DeadLetter(String),
    /// Not started because the process is stopping: give it back.
    HandBack,
    /// A transient failure: deliver again after the delay of retry tier
    /// `tier` (see [`Topology::retry_delays`]), as a new message carrying
    /// [`RETRIES_HEADER`] = `tier + 1`.
    Delay { tier: usize },
}

/// Header counting how many delayed retries a job has been through.
pub const RETRIES_HEADER: &str = "x-dbfleet-retries";

impl DeliveryMeta {
    /// Delayed retries so far (see [`Disposition::Delay`]).
    pub fn retries(&self) -> usize {
        self.headers
            .get(RETRIES_HEADER)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }
}

/// Settles one delivery on the broker it came from.
#[async_trait]
pub trait Acker: Send + Sync {
    async fn settle(
        self: Box<Self>,
        disposition: Disposition,
        delivery: &DeliveryMeta,
    ) -> Result<()>;
}

/// Everything about a delivery except the means to settle it.
#[derive(Debug, Clone, Default)]
pub struct DeliveryMeta {
    pub body: Vec<u8>,
    pub message_id: Option<String>,
    /// The batch id, for jobs and results.
    pub correlation_id: Option<String>,
    /// The message type (the job's kind for jobs).
    pub kind: Option<String>,
    /// The broker user that published the message, as the broker verified
    /// it (RabbitMQ refuses a `user_id` other than the connection's own).
    pub user_id: Option<String>,
    pub headers: BTreeMap<String, String>,
    /// 1 on first delivery, counting up on each redelivery.
    pub attempt: u32,
}

pub struct Delivery {
    pub meta: DeliveryMeta,
    acker: Box<dyn Acker>,
}

impl Delivery {
    pub fn new(meta: DeliveryMeta, acker: Box<dyn Acker>) -> Self {
        if meta.attempt > 1 {
            crate::metrics::metrics().redelivered.inc();
        }
        Self { meta, acker }
    }

    pub async fn settle(self, disposition: Disposition) -> Result<()> {
        let dead = matches!(disposition, Disposition::DeadLetter(_));
        self.acker.settle(disposition, &self.meta).await?;
        if dead {
            crate::metrics::metrics().dead_letters.inc();
        }
        Ok(())
    }
}

/// A consumer's stream of deliveries; it ends when the broker cancels the
/// consumer. What the consumer holds open (RabbitMQ: its own connection) is
/// closed by [`Deliveries::close`], which a consumer awaits before it
/// returns: a connection still open when the runtime stops makes lapin log
/// errors about the runtime shutting down. Dropping the stream closes it in
/// the background instead (on a reconnect, say).
pub struct Deliveries {
    stream: Pin<Box<dyn Stream<Item = Result<Delivery>> + Send>>,
    close: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

impl Deliveries {
    pub fn new(stream: impl Stream<Item = Result<Delivery>> + Send + 'static) -> Self {
        Self {
            stream: Box::pin(stream),
            close: None,
        }
    }

    /// Run `close` when the stream is closed or dropped.
    pub fn closed_by(mut self, close: impl Future<Output = ()> + Send + 'static) -> Self {
        self.close = Some(Box::pin(close));
        self
    }

    /// Close what the consumer holds open, and wait until it is closed.
    pub async fn close(mut self) {
        if let Some(close) = self.close.take() {
            close.await;
        }
    }
}

impl Drop for Deliveries {
    fn drop(&mut self) {
        if let Some(close) = self.close.take() {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(close);
            }
        }
    }
}

impl Stream for Deliveries {
    type Item = Result<Delivery>;

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.stream.as_mut().poll_next(cx)
    }
}

#[async_trait]
pub trait Broker: Send + Sync + 'static {
    /// Declare exchanges and queues; idempotent.
    async fn declare(&self) -> Result<()>;
    /// Declare the jobs queue of network zone `zone`, so its jobs wait
    /// there even before a worker of the zone consumes. The in-process
    /// queue has one jobs queue for every zone: its workers are all here.
    async fn declare_zone(&self, _zone: &str) -> Result<()> {
        Ok(())
    }
    /// Publish and wait for the broker's confirm. A nack or a return is an error.
    async fn publish(&self, message: Outgoing) -> Result<()>;
    /// Start consuming `queue` with at most `prefetch` unsettled deliveries.
    /// The stream ends when the broker cancels the consumer.
    async fn consume(&self, queue: Queue, prefetch: u16) -> Result<Deliveries>;
    /// Close the publishing side cleanly before the process exits.
    async fn close(&self) {}

    /// Whether a delivery was published by this fleet itself (the broker
    /// user this process connects as), not by another system: only then
    /// are the instance settings a job carries trusted. Everything the
    /// in-process queue delivers was published by this process.
    fn published_by_this_fleet(&self, _delivery: &DeliveryMeta) -> bool {
        true
    }

    /// Messages ready in `queue` (of the default zone), as the broker
    /// counts them: not those delivered and unsettled.
    async fn depth(&self, queue: Queue) -> Result<u64>;

    /// The names of this broker's exchanges and queues.
    fn names(&self) -> &Topology;

    /// The messaging system, as traces name it: `rabbitmq`, or
    /// `in_process` for the in-process queue.
    fn system(&self) -> &'static str;
}
