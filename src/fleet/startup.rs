//! Opening the store and the broker: at once for commands, patiently for
//! the long-running processes.
//!
//! A command fails fast and says why. A worker or `dbfleet serve` started
//! before the broker or the store answers (a node that boots first, a
//! rolling upgrade that reaches the workers before `dbfleet migrate` ran)
//! waits instead, with jittered backoff, logging each attempt: exiting
//! would only make Kubernetes crash-loop it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{open_broker, open_store, Error};
use crate::broker::{Backoff, Broker};
use crate::config::Settings;
use crate::store::Store;

/// The longest pause between two attempts.
const MAX_PAUSE: Duration = Duration::from_secs(30);

/// The store, once it answers with a schema this build can use; `None` if
/// shutdown came first.
pub async fn wait_for_store(settings: &Settings, shutdown: &CancellationToken) -> Option<Store> {
    patiently("the control store", shutdown, || open_store(settings)).await
}

/// The broker, once it answers and the topology is declared; `None` if
/// shutdown came first.
pub async fn wait_for_broker(
    settings: &Settings,
    shutdown: &CancellationToken,
) -> Option<Arc<dyn Broker>> {
    patiently("the broker", shutdown, || open_broker(settings)).await
}

/// Try `open` until it succeeds or shutdown comes, pausing with jittered
/// backoff between attempts and saying why each one failed.
async fn patiently<T, F, Fut>(what: &str, shutdown: &CancellationToken, mut open: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    let mut backoff = Backoff::new(Duration::from_millis(500), MAX_PAUSE);
    for attempt in 1u32.. {
        let error = tokio::select! {
            _ = shutdown.cancelled() => return None,
            opened = open() => match opened {
                Ok(value) => {
                    if attempt > 1 {
                        tracing::info!(attempt, "{what} is ready");
                    }
                    return Some(value);
                }
                Err(e) => e,
            },
        };
        let retry_in = backoff.next_delay();
        tracing::warn!(attempt, error = %error, ?retry_in, "{what} is not ready; waiting");
        tokio::select! {
            _ = shutdown.cancelled() => return None,
            _ = tokio::time::sleep(retry_in) => {}
        }
    }
    None
}
