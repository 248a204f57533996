//! A consumer that survives the broker: re-subscribes (re-declaring the
//! topology and re-applying prefetch) with jittered backoff whenever its
//! connection drops or the broker cancels it, until shutdown.
//!
//! lapin's own recovery neither restores prefetch nor resubscribes a
//! cancelled consumer, so every long-lived consumer goes through this loop.

use std::future::Future;

use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use super::{Backoff, Broker, Deliveries, Delivery, Queue, Result};

/// Handle deliveries of `queue` one at a time until `shutdown`.
pub async fn consume<F, Fut>(
    broker: &dyn Broker,
    queue: Queue,
    prefetch: u16,
    shutdown: &CancellationToken,
    mut handle: F,
) where
    F: FnMut(Delivery) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut backoff = Backoff::default();
    while !shutdown.is_cancelled() {
        let mut deliveries = match subscribe(broker, queue, prefetch).await {
            Ok(deliveries) => deliveries,
            Err(e) => {
                pause(&mut backoff, queue, &e.to_string(), shutdown).await;
                continue;
            }
        };
        loop {
            let next = tokio::select! {
                _ = shutdown.cancelled() => return,
                next = deliveries.next() => next,
            };
            match next {
                Some(Ok(delivery)) => {
                    backoff.reset();
                    handle(delivery).await;
                }
                Some(Err(e)) => {
                    pause(&mut backoff, queue, &e.to_string(), shutdown).await;
                    break;
                }
                None => {
                    pause(
                        &mut backoff,
                        queue,
                        "the broker cancelled the consumer",
                        shutdown,
                    )
                    .await;
                    break;
                }
            }
        }
    }
}

async fn subscribe(broker: &dyn Broker, queue: Queue, prefetch: u16) -> Result<Deliveries> {
    broker.declare().await?;
    broker.consume(queue, prefetch.max(1)).await
}

async fn pause(backoff: &mut Backoff, queue: Queue, error: &str, shutdown: &CancellationToken) {
    let delay = backoff.next_delay();
    tracing::warn!(?queue, error, retry_in = ?delay, "consumer lost; reconnecting");
    tokio::select! {
        _ = tokio::time::sleep(delay) => {}
        _ = shutdown.cancelled() => {}
    }
}
