//! `dbfleet serve`: the control plane's loops, side by side until shutdown.
//!
//! The results folder, the dead-letter folder and the deadline sweeper run
//! as named [`Tasks`]. If one of them ends before shutdown (an error, a
//! panic), the others are stopped and the failure is returned, so a broken
//! control plane exits and is restarted instead of limping along.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::Error;
use super::{aggregator, folder};
use crate::broker::Broker;
use crate::config::Settings;
use crate::lifecycle::Tasks;
use crate::store::Store;

/// Fold results and dead letters and sweep lost jobs until `shutdown`.
pub async fn serve(
    settings: &Settings,
    store: Store,
    broker: Arc<dyn Broker>,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let mut tasks = Tasks::new(shutdown.clone());
    spawn(&mut tasks, settings, store, broker);
    tokio::select! {
        _ = shutdown.cancelled() => {}
        failure = tasks.first_failure() => {
            tracing::error!(error = %failure, "a control-plane loop failed; stopping");
            let _ = tasks.stop().await;
            return Err(failure.into());
        }
    }
    Ok(tasks.stop().await?)
}

/// Add the control plane's loops to `tasks`.
pub(super) fn spawn(tasks: &mut Tasks, settings: &Settings, store: Store, broker: Arc<dyn Broker>) {
    let token = tasks.shutdown().clone();
    let (interval, prefetch) = (
        settings.aggregator.sweep_interval,
        settings.aggregator.prefetch,
    );
    tasks.spawn_loop(
        "the deadline sweeper",
        aggregator::sweep(
            store.clone(),
            interval,
            aggregator::SWEEP_GRACE,
            token.clone(),
        ),
    );
    tasks.spawn_loop(
        "the dead-letter folder",
        aggregator::run_dead_letters(store.clone(), broker.clone(), token.clone()),
    );
    tasks.spawn_loop(
        "the results folder",
        folder::run(store, broker, prefetch, token),
    );
}
