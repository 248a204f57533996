//! A batch spread over a time window: its jobs published at even steps
//! across the window instead of all at once, so a nightly batch of 100,000
//! instances does not open 100,000 sessions on the fleet's servers within
//! minutes, nor fill the jobs queue faster than the workers drain it.
//!
//! The first job is published at once by the dispatcher; the others are
//! parked in the control store in the batch's own transaction
//! ([`crate::store::Outbox`]) and published by the control plane when
//! their time comes ([`publish_due`], a loop of `dbfleet serve` and of the
//! in-process control plane of `dbfleet run`). A crash of the dispatcher
//! loses nothing: a parked job waits in the store, not in a process. The
//! batch's deadline counts from the end of the window.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::dispatcher::{self, BatchRequest, Error};
use super::spans;
use crate::broker::{Broker, Outgoing};
use crate::message::JobMessage;
use crate::store::{Batch, Claim, ClaimedBatch, Keyed, Parked, Store};

/// How often the control plane looks for parked jobs whose time has come.
pub const PUBLISH_TICK: Duration = Duration::from_secs(1);

/// Parked jobs claimed per look at most.
const PUBLISH_LIMIT: i64 = 200;

/// How long a claim on parked jobs lasts: past it, a control plane that
/// died mid-publish has its jobs published by another.
const CLAIM: chrono::Duration = chrono::Duration::minutes(2);

/// The longest window a batch may be spread over.
pub const MAX_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);

/// Start `request`'s batch with its jobs spread evenly over `window`.
pub async fn start_spread_batch(
    store: &Store,
    broker: &dyn Broker,
    request: &BatchRequest<'_>,
    window: Duration,
) -> Result<Batch, Error> {
    match spread_batch(store, broker, request, window, None).await? {
        Keyed::Created(batch) | Keyed::Existing(batch) => Ok(batch),
        Keyed::Reused => unreachable!("an unclaimed batch is always created"),
    }
}

/// [`start_spread_batch`] under `claim` (see `dispatcher::start_batch_once`).
pub async fn start_spread_batch_once(
    store: &Store,
    broker: &dyn Broker,
    request: &BatchRequest<'_>,
    window: Duration,
    claim: Claim<'_>,
) -> Result<Keyed, Error> {
    if let Some(earlier) = store.batches().keyed(claim).await? {
        return Ok(earlier);
    }
    spread_batch(store, broker, request, window, Some(claim)).await
}

async fn spread_batch(
    store: &Store,
    broker: &dyn Broker,
    request: &BatchRequest<'_>,
    window: Duration,
    claim: Option<Claim<'_>>,
) -> Result<Keyed, Error> {
    let extended = BatchRequest {
        deadline: request.deadline.saturating_add(window),
        ..*request
    };
    let plan = dispatcher::plan(store, &extended).await?;
    dispatcher::declare_zones(broker, &plan).await?;
    let mut messages = dispatcher::messages(&extended, &plan);
    let later = park(&mut messages, plan.id, window, request.interactive);
    let new = ClaimedBatch {
        id: plan.id,
        kind: request.kind().as_str(),
        origin: &plan.origin,
        jobs: &plan.jobs,
        summary: &plan.summary,
        parked: &later,
    };
    let batches = store.batches();
    let created = match claim {
        Some(claim) => batches.create_claimed(claim, &new).await?,
        None => Keyed::Created(
            batches
                .create_parked(new.id, new.kind, new.origin, new.jobs, new.summary, &later)
                .await?,
        ),
    };
    let Keyed::Created(batch) = created else {
        return Ok(created);
    };
    tracing::info!(batch_id = %plan.id, parked = later.len(), window = ?window, "batch spread");
    let unpublished = dispatcher::publish_now(store, broker, &extended, &plan, messages).await?;
    let batch = dispatcher::as_published(store, batch, unpublished).await?;
    Ok(Keyed::Created(batch))
}

/// Take every job but the first out of `messages`, each parked until its
/// step of `window` (job `i` of `n` at `i × window / n` from now).
fn park(
    messages: &mut Vec<(JobMessage, Option<String>)>,
    batch: crate::domain::BatchId,
    window: Duration,
    interactive: bool,
) -> Vec<Parked> {
    let now = Utc::now();
    let n = u32::try_from(messages.len()).unwrap_or(u32::MAX).max(1);
    let later = messages.split_off(messages.len().min(1));
    later
        .into_iter()
        .zip(1..)
        .map(|((job, zone), i)| {
            let step = window.saturating_mul(i) / n;
            let publish_at = now + chrono::Duration::from_std(step).unwrap_or_default();
            Parked {
                job_id: job.job_id,
                batch_id: batch,
                publish_at,
                interactive,
                zone,
                body: job.encode(),
            }
        })
        .collect()
}

/// Publish parked jobs as their time comes, until `shutdown`. A look
/// stops at the first job the broker would not take (the broker is away:
/// the rest wait for the next look), and between jobs when shutdown comes.
pub async fn publish_due(store: Store, broker: Arc<dyn Broker>, shutdown: CancellationToken) {
    let mut ticks = tokio::time::interval(PUBLISH_TICK);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let outbox = store.outbox();
        let due = match outbox.claim_due(Utc::now(), CLAIM, PUBLISH_LIMIT).await {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "parked jobs not read; retrying next tick");
                continue;
            }
        };
        let mut due = due.into_iter();
        for parked in due.by_ref() {
            if shutdown.is_cancelled() || !publish(&store, broker.as_ref(), &parked).await {
                let _ = store.outbox().release(parked.job_id).await;
                break;
            }
        }
        for left in due {
            let _ = store.outbox().release(left.job_id).await;
        }
    }
}

/// Publish one parked job and unpark it; whether the broker took it.
async fn publish(store: &Store, broker: &dyn Broker, parked: &Parked) -> bool {
    let Ok(job) = JobMessage::decode(&parked.body) else {
        tracing::error!(job_id = %parked.job_id, "a parked job does not decode; dropping it");
        let _ = store
            .outbox()
            .published(parked.job_id, parked.publish_at)
            .await;
        return true;
    };
    let zone = parked.zone.as_deref();
    let mut outgoing = Outgoing::job_in_lane(&job, zone, parked.interactive);
    let span = spans::publish_job(broker, &mut outgoing, &job, None, None);
    if let Err(e) = broker.publish(outgoing).instrument(span).await {
        tracing::warn!(job_id = %parked.job_id, error = %e, "parked job not published; retrying");
        return false;
    }
    if let Err(e) = store
        .outbox()
        .published(parked.job_id, parked.publish_at)
        .await
    {
        // Its claim expires and it goes out again: never lost.
        tracing::warn!(job_id = %parked.job_id, error = %e, "published job still parked");
    }
    true
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::domain::{BatchId, InstanceId, JobId};
    use crate::message::{InstanceRef, JobKind, JobParams, Target};

    fn job() -> (JobMessage, Option<String>) {
        let message = JobMessage::new(
            JobId::new(),
            None,
            Target::Instance(InstanceRef::Id(InstanceId(1))),
            JobParams::default_for(JobKind::Probe),
            Utc::now(),
            None,
        );
        (message, Some("a".to_string()))
    }

    #[test]
    fn the_first_job_goes_now_and_the_others_at_even_steps() {
        let mut messages: Vec<_> = (0..4).map(|_| job()).collect();
        let first = messages[0].0.job_id;
        let before = Utc::now();
        let later = park(
            &mut messages,
            BatchId::new(),
            Duration::from_secs(40),
            false,
        );
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].0.job_id, first);
        let offsets: Vec<i64> = later
            .iter()
            .map(|p| (p.publish_at - before).num_seconds())
            .collect();
        assert_eq!(offsets, vec![10, 20, 30]);
        assert!(later.iter().all(|p| p.zone.as_deref() == Some("a")));
        let body = JobMessage::decode(&later[0].body).unwrap();
        assert_eq!(body.job_id, later[0].job_id);
    }

    #[test]
    fn nothing_is_parked_of_an_empty_batch() {
        let mut messages = Vec::new();
        let later = park(&mut messages, BatchId::new(), Duration::from_secs(60), true);
        assert!(later.is_empty() && messages.is_empty());
    }
}
