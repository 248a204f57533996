//! Starting batches: one job per selected active instance.
//!
//! The batch and its jobs are written in one transaction first, then each job
//! is published with a confirm. A job that cannot be published is failed on
//! the spot (class `internal`), so the batch still ends and says why.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::Utc;
use futures_util::{stream, StreamExt};
use serde::Serialize;

use crate::aggregator::{capacity_tally, finished_job};
use crate::broker::{Backoff, Broker, Outgoing};
use crate::domain::{BatchId, InstanceName, JobId};
use crate::message::{ErrorClass, JobCounters, JobError, JobKind, JobMessage, JobResult};
use crate::store::{self, Batch, JobRow, NewJob, Store};

/// Confirms awaited at once while publishing a batch.
const PUBLISH_WINDOW: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error("unknown instance(s): {0}")]
    UnknownInstances(String),
    #[error("disabled instance(s): {0} (enable them first)")]
    DisabledInstances(String),
    #[error("batch {0} not found")]
    NotFound(BatchId),
}

/// Which instances a batch covers.
pub enum Selection<'a> {
    AllActive,
    Named(&'a [InstanceName]),
}

/// Create a batch over the selected instances and publish its jobs.
pub async fn start_batch(
    store: &Store,
    broker: &dyn Broker,
    selection: Selection<'_>,
    deadline: Duration,
    requested_by: Option<&str>,
) -> Result<Batch, Error> {
    let instances = store.instances().list().await?;
    let chosen: Vec<_> = match selection {
        Selection::AllActive => instances.into_iter().filter(|i| i.is_active).collect(),
        Selection::Named(names) => {
            let wanted: BTreeSet<&str> = names.iter().map(InstanceName::as_str).collect();
            let known: BTreeSet<&str> = instances.iter().map(|i| i.name.as_str()).collect();
            let unknown: Vec<&str> = wanted.difference(&known).copied().collect();
            if !unknown.is_empty() {
                return Err(Error::UnknownInstances(unknown.join(", ")));
            }
            let chosen: Vec<_> = instances
                .into_iter()
                .filter(|i| wanted.contains(i.name.as_str()))
                .collect();
            let disabled: Vec<&str> = chosen
                .iter()
                .filter(|i| !i.is_active)
                .map(|i| i.name.as_str())
                .collect();
            if !disabled.is_empty() {
                return Err(Error::DisabledInstances(disabled.join(", ")));
            }
            chosen
        }
    };
    let deadline =
        Utc::now() + chrono::Duration::from_std(deadline).unwrap_or(chrono::Duration::MAX);
    let jobs: Vec<NewJob> = chosen
        .iter()
        .map(|i| NewJob {
            job_id: JobId::new(),
            instance_id: Some(i.id),
            target: i.name.to_string(),
            deadline,
        })
        .collect();
    let batch_id = BatchId::new();
    let zero = capacity_tally(&JobCounters::default());
    let kind = JobKind::CapacitySync.as_str();
    let batch = store
        .batches()
        .create(batch_id, kind, requested_by, &jobs, &zero)
        .await?;
    tracing::info!(batch_id = %batch_id, jobs = jobs.len(), "batch created");
    let messages = jobs.iter().zip(&chosen).map(|(job, instance)| {
        JobMessage::new(
            job.job_id,
            Some(batch_id),
            instance.id,
            deadline,
            requested_by.map(str::to_string),
        )
    });
    let unpublished: Vec<(JobMessage, String)> = stream::iter(messages)
        .map(|job| async move {
            let outcome = publish_with_retries(broker, Outgoing::job(&job)).await;
            outcome.err().map(|e| (job, e.to_string()))
        })
        .buffer_unordered(PUBLISH_WINDOW)
        .filter_map(|failed| async move { failed })
        .collect()
        .await;
    for (job, reason) in &unpublished {
        tracing::error!(job_id = %job.job_id, error = %reason, "job not published; failing it");
        let failed = finished_job(&unpublished_result(job, reason));
        store.batches().record_result(&failed).await?;
    }
    Ok(store.batches().get(batch_id).await?.unwrap_or(batch))
}

/// Publish attempts per job before it is failed as unpublished: enough to
/// ride out a broker restart or a failover (about 15 s of backoff).
const PUBLISH_ATTEMPTS: u32 = 6;

async fn publish_with_retries(
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

fn unpublished_result(job: &JobMessage, reason: &str) -> JobResult {
    let error = JobError {
        class: ErrorClass::Internal,
        message: format!("job could not be published: {reason}"),
    };
    JobResult::for_job(job, Utc::now(), Err(error), 0, "dispatcher")
}

/// Poll the store until the batch is terminal.
pub async fn wait(store: &Store, id: BatchId, poll: Duration) -> Result<Batch, Error> {
    loop {
        let batch = store.batches().get(id).await?.ok_or(Error::NotFound(id))?;
        if batch.status.is_terminal() {
            return Ok(batch);
        }
        tokio::time::sleep(poll).await;
    }
}

/// A batch with its jobs: what `batch show --json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct BatchReport {
    #[serde(flatten)]
    pub batch: Batch,
    pub jobs: Vec<JobRow>,
}

/// A batch with its jobs. A capacity-sync batch always shows its summary
/// counters, at 0 when none was folded yet (a batch created by a lone failed
/// result has none stored).
pub async fn report(store: &Store, id: BatchId) -> Result<BatchReport, Error> {
    let mut batch = store.batches().get(id).await?.ok_or(Error::NotFound(id))?;
    if batch.kind == JobKind::CapacitySync.as_str() {
        batch.summary.add(&capacity_tally(&JobCounters::default()));
    }
    let jobs = store.batches().jobs(id).await?;
    Ok(BatchReport { batch, jobs })
}
