//! The results folder: every result into its batch, many per transaction.
//!
//! Each delivery of the results queue is decoded by its own handler and
//! handed to one folding task, which takes every result waiting (up to
//! [`FOLD_BATCH`], lingering [`FOLD_LINGER`] for more) and folds them in one
//! store transaction, then settles each. A fold is idempotent, so a result folded twice (a redelivery, a
//! second `dbfleet serve`) changes nothing; if a group fails (one result the
//! store refuses), its results are folded one by one, so one bad result
//! never holds the others back. A result is acked only after its fold
//! committed.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, Span};

use super::aggregator::{finished_job, SWEEP_GRACE};
use super::spans;
use crate::broker::consume::{consume, Consume};
use crate::broker::{Broker, Delivery, Disposition, Queue};
use crate::message::JobResult;
use crate::store::{FinishedJob, Folded, Store};

/// Results folded in one transaction at most.
pub const FOLD_BATCH: usize = 128;

/// How long a group waits for more results after its first.
pub const FOLD_LINGER: Duration = Duration::from_millis(20);

/// A result on its way to the folding task, with the delivery it came in.
struct Folding {
    job: FinishedJob,
    delivery: Delivery,
    /// The result's span in its job's trace, open until it is settled.
    span: Span,
    /// Told when the delivery is settled, so its handler (and the consume
    /// loop's drain) waits until then.
    settled: oneshot::Sender<()>,
}

/// Fold results until `shutdown`, resubscribing whenever the consumer is
/// lost (a broker restart, a broker-side cancel).
pub async fn run(
    store: Store,
    broker: Arc<dyn Broker>,
    prefetch: u16,
    shutdown: CancellationToken,
) {
    let (to_folder, folding) = mpsc::channel(FOLD_BATCH);
    let folder = tokio::spawn(fold_loop(store, folding));
    let spec = Consume {
        queue: Queue::Results,
        prefetch,
        // Every delivery the broker hands over waits for the next fold.
        concurrency: usize::from(prefetch.max(1)),
        drain_timeout: SWEEP_GRACE,
    };
    let handle = |delivery: Delivery, _slot| hand_over(broker.clone(), to_folder.clone(), delivery);
    consume(broker.as_ref(), spec, &shutdown, handle).await;
    drop(to_folder);
    if let Err(e) = folder.await {
        tracing::error!(error = %e, "the folding task ended badly");
    }
}

/// Decode one result and hand it to the folding task; wait until it is
/// settled. An unreadable result is dead-lettered here.
async fn hand_over(broker: Arc<dyn Broker>, to_folder: mpsc::Sender<Folding>, delivery: Delivery) {
    let result = match JobResult::decode(&delivery.meta.body) {
        Ok(result) => result,
        Err(e) => {
            tracing::warn!(reason = %e, "dead-lettering an unreadable result");
            return settle(delivery, Disposition::DeadLetter(e.to_string())).await;
        }
    };
    let (settled, wait) = oneshot::channel();
    let folding = Folding {
        job: finished_job(&result),
        span: spans::process_result(broker.as_ref(), &delivery.meta, &result),
        delivery,
        settled,
    };
    // Only fails once the folder stopped: the delivery is dropped unsettled
    // and the broker hands it out again.
    if to_folder.send(folding).await.is_ok() {
        let _ = wait.await;
    }
}

async fn fold_loop(store: Store, mut folding: mpsc::Receiver<Folding>) {
    let mut group = Vec::with_capacity(FOLD_BATCH);
    while gather(&mut folding, &mut group, FOLD_LINGER).await {
        fold_group(&store, std::mem::take(&mut group)).await;
    }
}

/// Take the next group: wait for a first result, then up to `linger`
/// ([`FOLD_LINGER`]) for more while the group has room. Under a steady
/// trickle of results (workers finishing jobs a few at a time) a group of
/// one would cost a commit per result; lingering a moment folds several
/// per commit, and delays a batch's end by at most the linger. False once
/// the handlers are gone and nothing is left.
async fn gather<T>(folding: &mut mpsc::Receiver<T>, group: &mut Vec<T>, linger: Duration) -> bool {
    if folding.recv_many(group, FOLD_BATCH).await == 0 {
        return false;
    }
    let until = tokio::time::Instant::now() + linger;
    while group.len() < FOLD_BATCH {
        let room = FOLD_BATCH - group.len();
        match tokio::time::timeout_at(until, folding.recv_many(group, room)).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    true
}

/// Fold a group in one transaction; if that fails, each on its own.
async fn fold_group(store: &Store, group: Vec<Folding>) {
    let jobs: Vec<FinishedJob> = group.iter().map(|f| f.job.clone()).collect();
    let folds: Vec<Span> = group
        .iter()
        .map(|f| spans::fold(&f.span, jobs.len()))
        .collect();
    let recorded = store.batches().record_results(&jobs).await;
    drop(folds);
    match recorded {
        Ok(batches) => {
            log_folded(&batches, group.len());
            for folding in group {
                finish(folding, Disposition::Ack).await;
            }
        }
        Err(e) if group.len() > 1 => {
            tracing::warn!(error = %e, results = group.len(), "a group did not fold; folding one by one");
            for folding in group {
                let fold = spans::fold(&folding.span, 1);
                let disposition = fold_one(store, &folding.job).instrument(fold).await;
                finish(folding, disposition).await;
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, job_id = %jobs[0].job_id, "result not folded; it will be redelivered");
            for folding in group {
                finish(folding, Disposition::Retry).await;
            }
        }
    }
}

async fn fold_one(store: &Store, job: &FinishedJob) -> Disposition {
    match store.batches().fold_result(job).await {
        Ok(folded) => {
            log_folded(std::slice::from_ref(&folded), 1);
            Disposition::Ack
        }
        Err(e) => {
            tracing::warn!(error = %e, job_id = %job.job_id, "result not folded; it will be redelivered");
            Disposition::Retry
        }
    }
}

fn log_folded(batches: &[Folded], results: usize) {
    let metrics = crate::metrics::metrics();
    metrics
        .results_folded
        .inc_by(u64::try_from(results).unwrap_or(0));
    for folded in batches {
        let b = &folded.after;
        tracing::debug!(batch_id = %b.id, status = b.status.as_str(), results, "results folded");
        log_milestone(folded);
    }
}

/// A batch's milestones, at info: the fold that brought its first result
/// (it is under way: its workers are up), and the fold that ended it, with
/// how it ended. Only the fold that changed the batch logs, so a duplicate
/// result or a second `serve` replica adds no line.
pub(super) fn log_milestone(folded: &Folded) {
    let b = &folded.after;
    if folded.first_result() {
        tracing::info!(batch_id = %b.id, kind = %b.kind, "batch {} ({}) in progress", b.id, b.kind);
    }
    if folded.ended() {
        let status = b.status.as_str().to_string();
        let label = crate::metrics::StatusLabel { status };
        crate::metrics::metrics()
            .batches
            .get_or_create(&label)
            .inc();
        let took = b
            .finished_at
            .and_then(|end| (end - b.created_at).to_std().ok())
            .unwrap_or_default();
        let duration = humantime::format_duration(Duration::from_millis(
            u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
        ));
        tracing::info!(
            batch_id = %b.id, kind = %b.kind, status = b.status.as_str(), total = b.total,
            succeeded = b.succeeded, failed = b.failed, warned = b.warned, %duration,
            "batch {} ({}) ended {}", b.id, b.kind, b.status.as_str()
        );
    }
}

async fn finish(folding: Folding, disposition: Disposition) {
    settle(folding.delivery, disposition).await;
    let _ = folding.settled.send(());
}

async fn settle(delivery: Delivery, disposition: Disposition) {
    if let Err(e) = delivery.settle(disposition).await {
        tracing::warn!(error = %e, "could not settle a result");
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Results that arrive within the linger of the first fold together,
    /// however the sender is scheduled (the linger is long here).
    #[tokio::test]
    async fn a_group_lingers_for_results_close_behind_the_first() {
        let (tx, mut rx) = mpsc::channel(FOLD_BATCH);
        tx.send(1).await.unwrap();
        let sender = tokio::spawn(async move {
            for n in 2..=3 {
                tokio::time::sleep(Duration::from_millis(10)).await;
                tx.send(n).await.unwrap();
            }
            tx
        });
        let mut group = Vec::new();
        let linger = Duration::from_millis(300);
        assert!(gather(&mut rx, &mut group, linger).await);
        assert_eq!(std::mem::take(&mut group), [1, 2, 3]);

        // Nothing close behind: the group goes after the linger, alone.
        let tx = sender.await.unwrap();
        tx.send(4).await.unwrap();
        let started = tokio::time::Instant::now();
        let short = Duration::from_millis(30);
        assert!(gather(&mut rx, &mut group, short).await);
        assert!(started.elapsed() >= short);
        assert_eq!(std::mem::take(&mut group), [4]);

        // Closed and drained: the loop ends.
        drop(tx);
        assert!(!gather(&mut rx, &mut group, short).await);
    }

    /// A full group does not wait for the linger.
    #[tokio::test]
    async fn a_full_group_folds_at_once() {
        let (tx, mut rx) = mpsc::channel(FOLD_BATCH * 2);
        for n in 0..=FOLD_BATCH {
            tx.send(n).await.unwrap();
        }
        let mut group = Vec::new();
        let forever = Duration::from_secs(3600);
        let gathered = gather(&mut rx, &mut group, forever);
        let within = tokio::time::timeout(Duration::from_secs(60), gathered).await;
        assert_eq!((within, group.len()), (Ok(true), FOLD_BATCH));
    }
}
