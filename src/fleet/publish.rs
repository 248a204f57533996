//! Publishing a batch's jobs: a window of confirms at a time, each job
//! retried through a broker restart, and a job the broker would not take
//! failed on the spot (class `internal`), so its batch still ends and says
//! why.

use std::time::Duration;

use futures_util::{stream, StreamExt};
use tracing::Instrument;

use super::aggregator::finished_job;
use super::dispatcher::Error;
use super::spans;
use crate::broker::{Backoff, Broker, Outgoing};
use crate::message::{ErrorClass, JobError, JobMessage, JobResult};
use crate::store::Store;

/// Confirms awaited at once while publishing a batch.
const PUBLISH_WINDOW: usize = 64;

/// How a batch's jobs are published.
pub(super) struct Publishing<'a> {
    /// To the interactive lane.
    pub(super) interactive: bool,
    /// The batch's span, which each job's trace links to.
    pub(super) batch: Option<&'a tracing::Span>,
    /// The trace the job continues (a batch of one started in a trace).
    pub(super) continues: Option<&'a crate::traces::Context>,
}

/// Publish every job, a window of confirms at a time; fail the ones the
/// broker would not take. Returns how many it failed.
pub(super) async fn publish_all(
    store: &Store,
    broker: &dyn Broker,
    messages: impl Iterator<Item = (JobMessage, Option<String>)>,
    how: &Publishing<'_>,
) -> Result<usize, Error> {
    let unpublished: Vec<(JobMessage, String)> = stream::iter(messages)
        .map(|(job, zone)| async move {
            let mut outgoing = Outgoing::job_in_lane(&job, zone.as_deref(), how.interactive);
            let span = spans::publish_job(broker, &mut outgoing, &job, how.batch, how.continues);
            let outcome = publish_with_retries(broker, outgoing)
                .instrument(span)
                .await;
            outcome.err().map(|e| (job, e.to_string()))
        })
        .buffer_unordered(PUBLISH_WINDOW)
        .filter_map(|failed| async move { failed })
        .collect()
        .await;
    for (job, reason) in &unpublished {
        tracing::error!(job_id = %job.job_id, error = %reason, "job not published; failing it");
        let error = JobError::new(
            ErrorClass::Internal,
            format!("job could not be published: {reason}"),
        );
        let result = JobResult::failed(job, error, 0, "dispatcher");
        store
            .batches()
            .record_result(&finished_job(&result))
            .await?;
    }
    Ok(unpublished.len())
}

/// Publish attempts per job before it is failed as unpublished: enough to
/// ride out a broker restart or a failover (about 15 s of backoff).
const PUBLISH_ATTEMPTS: u32 = 6;

pub(super) async fn publish_with_retries(
    broker: &dyn Broker,
    message: Outgoing,
) -> Result<(), crate::broker::Error> {
    let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(8));
    let mut attempt = 1;
    loop {
        match broker.publish(message.clone()).await {
            Ok(()) => return Ok(()),
            Err(e) if attempt >= PUBLISH_ATTEMPTS => return Err(e),
            Err(e) => {
                let delay = backoff.next_delay();
                tracing::warn!(error = %e, attempt, retry_in = ?delay, "publish failed; retrying");
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
        }
    }
}
