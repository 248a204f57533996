//! A failed job its kind retries ([`crate::retry`]): the next attempt is
//! parked in the control store, in the same transaction that puts the
//! job's row back to "not started", and the delivery is acked without a
//! result: the job and its batch stay pending until an attempt succeeds
//! or the last one fails, so whoever waits on the batch sees one outcome.

use std::time::Duration;

use chrono::Utc;
use rand::Rng;

use super::{ended, Leased, Worker};
use crate::jobs::{self, Context, Failure, Ran};
use crate::message::{JobError, JobMessage};
use crate::store::{self, Instance, Parked, Retrying};

/// The least time a retry has to be started by a worker, for a job whose
/// own start window was shorter.
const LEAST_START_WINDOW: Duration = Duration::from_secs(60);

/// The next attempt of a failed job, decided but not yet parked.
#[derive(Debug)]
pub struct NextAttempt {
    pub attempt: u32,
    pub delay: Duration,
}

impl Worker {
    /// How the job ended: ran, or failed and parked for its next attempt.
    pub(super) async fn settled(
        &self,
        job: &JobMessage,
        instance: &Instance,
        executed: Result<Ran, Failure>,
        next: Option<NextAttempt>,
    ) -> store::Result<Leased> {
        let e = match executed {
            Ok(ran) => return Ok(Leased::Ran(Box::new(ended(instance, Ok(ran))), None)),
            Err(Failure::Store(e)) => return Err(e),
            Err(Failure::Instance(e)) => e,
        };
        if let Some(next) = next {
            if self.park_retry(job, instance, &next, &e).await? {
                let kind = job.kind().as_str();
                crate::metrics::metrics().job_ended(kind, Some(e.class.as_str()));
                return Ok(Leased::Retrying(next, e));
            }
        }
        Ok(Leased::Ran(Box::new(ended(instance, Err(e))), None))
    }

    /// Whether the job's kind runs it again after `error`, as attempt
    /// `ctx.job.attempt` failed, and after how long (jittered).
    pub(super) async fn next_attempt(
        ctx: &Context<'_>,
        job: &JobMessage,
        error: &JobError,
    ) -> Option<NextAttempt> {
        let policy = jobs::retry_policy(ctx, &job.params, error).await?;
        let attempt = ctx.job.attempt;
        let jitter = rand::thread_rng().gen_range(0.0..=1.0);
        let delay = policy.after(attempt, jitter)?;
        Some(NextAttempt {
            attempt: attempt.saturating_add(1),
            delay,
        })
    }

    /// Park `next`; false when the job is no longer pending (its batch was
    /// cancelled or swept): its failure is then reported as usual.
    pub(super) async fn park_retry(
        &self,
        job: &JobMessage,
        instance: &Instance,
        next: &NextAttempt,
        error: &JobError,
    ) -> store::Result<bool> {
        let now = Utc::now();
        let delay = chrono::Duration::from_std(next.delay).unwrap_or_default();
        let publish_at = now + delay;
        // The retry has the start window the first attempt had.
        let window = (job.deadline - job.enqueued_at)
            .to_std()
            .unwrap_or_default()
            .max(LEAST_START_WINDOW);
        let start_by = publish_at + chrono::Duration::from_std(window).unwrap_or_default();
        let message = JobMessage {
            deadline: start_by,
            enqueued_at: publish_at,
            attempt: next.attempt,
            ..job.clone()
        };
        let retrying = Retrying {
            parked: Parked {
                job_id: job.job_id,
                batch_id: job.effective_batch_id(),
                publish_at,
                interactive: false,
                zone: instance.labels.zone().map(str::to_string),
                body: message.encode(),
            },
            attempt: next.attempt,
            error,
            start_by,
            now,
        };
        self.store.runs().retry(&retrying).await
    }
}
