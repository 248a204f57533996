//! `dbfleet serve`: the control plane's loops, side by side until shutdown.
//!
//! The results folder, the dead-letter folder, the deadline sweeper, the
//! publisher of parked jobs (a batch spread over a window), the queue
//! counter and, when configured, the scheduler and the alert evaluator run
//! as named [`Tasks`]. If one of them ends before
//! shutdown (an error, a panic), the others are stopped and the failure is
//! returned, so a broken control plane exits and is restarted instead of
//! limping along.

use std::sync::Arc;

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::scheduler::Scheduler;
use super::Error;
use super::{aggregator, folder};
use crate::alerts::Evaluator;
use crate::broker::{Broker, Queue};
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
    reconcile_syncs(settings, &store).await?;
    let mut tasks = Tasks::new(shutdown.clone());
    // Only `serve` schedules and alerts: `dbfleet run` runs the loops of
    // `spawn`, not these.
    if !settings.schedules.is_empty() {
        let scheduler = scheduler(settings, store.clone(), broker.clone());
        tasks.spawn_loop("the scheduler", scheduler.run(shutdown.clone()));
    }
    if !settings.alerts.rules.is_empty() {
        let evaluator = Evaluator::new(Arc::new(settings.clone()), store.clone());
        tasks.spawn_loop("the alert evaluator", evaluator.run(shutdown.clone()));
    }
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

/// Bring the store's sync definitions in line with the configuration,
/// logging each problem. Idempotent: `dbfleet serve` runs it before its API
/// answers (so `GET /syncs` never lists a stale set), and [`serve`] again.
pub async fn reconcile_syncs(settings: &Settings, store: &Store) -> Result<(), Error> {
    for problem in super::sync::reconcile(store, &settings.syncs).await? {
        tracing::warn!(%problem, "sync definition");
    }
    Ok(())
}

/// The scheduler of the configuration's schedules, naming this control
/// plane in the runs it starts.
pub fn scheduler(settings: &Settings, store: Store, broker: Arc<dyn Broker>) -> Scheduler {
    let host = std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty());
    // The process id alone may repeat (pid 1 in every container, a host
    // name not exported): a few random characters keep holders apart.
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let name = format!(
        "serve {}:{}:{}",
        host.as_deref().unwrap_or("localhost"),
        std::process::id(),
        &tag[..6]
    );
    let schedules = settings.schedules.clone();
    Scheduler::new(store, broker, schedules, settings.batch.deadline, name)
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
        "the parked-job publisher",
        super::spread::publish_due(store.clone(), broker.clone(), token.clone()),
    );
    tasks.spawn_loop(
        "the queue counter",
        count_queues(broker.clone(), interval, token.clone()),
    );
    tasks.spawn_loop(
        "the results folder",
        folder::run(store, broker, prefetch, token),
    );
}

/// Count the messages waiting in each queue every `interval`, for the
/// `dbfleet_queue_messages` gauge (what an autoscaler or an alert on a
/// growing backlog reads). A count that fails keeps the last one.
async fn count_queues(broker: Arc<dyn Broker>, interval: Duration, shutdown: CancellationToken) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        for queue in [Queue::Jobs, Queue::Interactive, Queue::Results, Queue::Dead] {
            match broker.depth(queue).await {
                Ok(ready) => crate::metrics::metrics().queue_depth(queue, ready),
                Err(e) => tracing::debug!(error = %e, ?queue, "could not count a queue"),
            }
        }
    }
}
