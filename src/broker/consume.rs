//! The one consume loop of every long-lived consumer (the worker's jobs, the
//! control plane's results and dead letters): supervised, concurrency
//! limited, and drained on shutdown.
//!
//! - **Supervised**: when the connection drops or the broker cancels the
//!   consumer, the loop backs off (jittered, exponential), re-declares the
//!   topology, re-applies its prefetch and subscribes again. lapin's own
//!   recovery does neither, so nothing relies on it.
//! - **Concurrency**: at most `concurrency` deliveries are handled at once;
//!   the loop takes the next delivery only when a handler slot is free, and
//!   the broker's prefetch bounds what waits on this side.
//! - **Tails**: a handler frees its slot as soon as its work is done and
//!   hands what is left (a worker's filing of what its job found,
//!   publishing a result, waiting for its confirm, the ack) to
//!   [`Slot::finish_later`], so the next delivery starts while the store
//!   and the broker finish the last one. Prefetch must then exceed concurrency,
//!   or the slots would wait for acks after all.
//! - **Shutdown**: the loop stops taking deliveries, lets handlers in flight
//!   finish for up to `drain_timeout`, then cancels the `abandon` token each
//!   handler got, so it hands its delivery back, and waits for them and for
//!   every tail. Only then is the consumer closed, and the loop waits for
//!   that too: deliveries are settled on the channel they came from, closing
//!   it returns any prefetched, unstarted one, and a connection left to
//!   close after the runtime stops would end in lapin's errors.
//! - **Panics**: a handler that panics is reported and the loop goes on; its
//!   delivery, never settled, is redelivered when the consumer's channel
//!   closes.

use std::future::Future;
use std::time::Duration;

use std::panic::AssertUnwindSafe;

use futures_util::{FutureExt, StreamExt};
use tokio::task::{JoinError, JoinSet};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{Backoff, Broker, Deliveries, Delivery, Queue, Result};

/// How one consumer consumes.
#[derive(Debug, Clone, Copy)]
pub struct Consume {
    pub queue: Queue,
    /// Unsettled deliveries the broker hands this consumer at most.
    pub prefetch: u16,
    /// Deliveries handled at once.
    pub concurrency: usize,
    /// On shutdown, how long handlers in flight may finish.
    pub drain_timeout: Duration,
}

/// What a handler gets with its delivery.
#[derive(Clone)]
pub struct Slot {
    /// Cancelled when the drain timeout passes: hand the delivery back.
    pub abandon: CancellationToken,
    queue: Queue,
    tails: TaskTracker,
}

impl Slot {
    /// Run `tail` after the handler returns, outside the concurrency limit
    /// (the loop waits for it before closing the consumer). A panic in it is
    /// reported like a handler's.
    pub fn finish_later(&self, tail: impl Future<Output = ()> + Send + 'static) {
        let queue = self.queue;
        self.tails.spawn(async move {
            if let Err(panic) = AssertUnwindSafe(tail).catch_unwind().await {
                let panic = crate::lifecycle::panic_message(panic);
                tracing::error!(?queue, %panic, "a delivery's tail panicked; it will be redelivered");
            }
        });
    }
}

/// Handle deliveries of `spec.queue` until `shutdown`, then drain.
pub async fn consume<F, Fut>(
    broker: &dyn Broker,
    spec: Consume,
    shutdown: &CancellationToken,
    handle: F,
) where
    F: Fn(Delivery, Slot) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let health = crate::metrics::health();
    health.consumer_started();
    let abandon = CancellationToken::new();
    let slot = Slot {
        abandon: abandon.clone(),
        queue: spec.queue,
        tails: TaskTracker::new(),
    };
    let mut running = JoinSet::new();
    let mut backoff = Backoff::default();
    let mut consumer: Option<Deliveries> = None;
    while !shutdown.is_cancelled() {
        let deliveries = match consumer.as_mut() {
            Some(deliveries) => deliveries,
            None => match subscribe(broker, &spec).await {
                Ok(deliveries) => {
                    health.subscribed();
                    consumer.insert(deliveries)
                }
                Err(e) => {
                    pause(&mut backoff, spec.queue, &e.to_string(), shutdown).await;
                    continue;
                }
            },
        };
        if !free_slot(&mut running, spec, shutdown).await {
            break;
        }
        let next = tokio::select! {
            _ = shutdown.cancelled() => break,
            next = deliveries.next() => next,
        };
        match next {
            Some(Ok(delivery)) => {
                backoff.reset();
                running.spawn(handle(delivery, slot.clone()));
            }
            Some(Err(e)) => {
                consumer = None;
                health.unsubscribed();
                pause(&mut backoff, spec.queue, &e.to_string(), shutdown).await;
            }
            None => {
                consumer = None;
                health.unsubscribed();
                let why = "the broker cancelled the consumer";
                pause(&mut backoff, spec.queue, why, shutdown).await;
            }
        }
    }
    health.draining();
    drain(&mut running, spec, &abandon).await;
    slot.tails.close();
    slot.tails.wait().await;
    if let Some(consumer) = consumer {
        consumer.close().await;
    }
}

/// Wait until fewer than `concurrency` handlers run, reaping (and reporting)
/// finished ones. False when shutdown came first.
async fn free_slot(running: &mut JoinSet<()>, spec: Consume, shutdown: &CancellationToken) -> bool {
    while let Some(done) = running.try_join_next() {
        report(spec.queue, done);
    }
    while running.len() >= spec.concurrency.max(1) {
        tokio::select! {
            _ = shutdown.cancelled() => return false,
            Some(done) = running.join_next() => report(spec.queue, done),
        }
    }
    true
}

async fn subscribe(broker: &dyn Broker, spec: &Consume) -> Result<Deliveries> {
    broker.declare().await?;
    let deliveries = broker.consume(spec.queue, spec.prefetch.max(1)).await?;
    tracing::info!(queue = ?spec.queue, prefetch = spec.prefetch, "consuming");
    Ok(deliveries)
}

/// Let handlers finish until the drain timeout, then make them hand back
/// what they hold, and wait for that.
async fn drain(running: &mut JoinSet<()>, spec: Consume, abandon: &CancellationToken) {
    // Handlers that already finished are not in flight.
    while let Some(done) = running.try_join_next() {
        report(spec.queue, done);
    }
    if running.is_empty() {
        return;
    }
    let (queue, jobs, timeout) = (spec.queue, running.len(), spec.drain_timeout);
    tracing::info!(?queue, jobs, ?timeout, "draining deliveries in flight");
    let all_done = async {
        while let Some(done) = running.join_next().await {
            report(queue, done);
        }
    };
    if tokio::time::timeout(timeout, all_done).await.is_err() {
        tracing::warn!(
            ?queue,
            jobs = running.len(),
            "drain timeout: handing the rest back"
        );
        abandon.cancel();
        while let Some(done) = running.join_next().await {
            report(queue, done);
        }
    }
}

fn report(queue: Queue, done: std::result::Result<(), JoinError>) {
    if let Err(e) = done {
        if e.is_panic() {
            let panic = crate::lifecycle::panic_message(e.into_panic());
            tracing::error!(?queue, %panic, "a delivery handler panicked; the delivery will be redelivered");
        }
    }
}

/// Wait out one backoff step, unless shutdown comes first.
async fn pause(backoff: &mut Backoff, queue: Queue, error: &str, shutdown: &CancellationToken) {
    let delay = backoff.next_delay();
    tracing::warn!(?queue, error, retry_in = ?delay, "consumer lost; reconnecting");
    let metrics = crate::metrics::metrics();
    crate::metrics::Metrics::count(&metrics.reconnects, queue);
    tokio::select! {
        _ = tokio::time::sleep(delay) => {}
        _ = shutdown.cancelled() => {}
    }
}
