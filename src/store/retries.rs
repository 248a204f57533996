//! A failed job parked for another attempt (its kind's retry policy,
//! [`crate::retry`]).
//!
//! Contract: the job's row and its parked message are written in one
//! transaction, and only while the row is pending and its batch has no
//! cancelled job: a job swept meanwhile, or whose batch was cancelled while
//! it ran, is not retried (the caller reports the
//! failure as usual). The row goes back to "not started", with the next
//! attempt's number, the failure that caused it (so people see why the job
//! is still pending) and a new start-by deadline after the retry's time, so
//! the sweeper neither fails the retry early nor forgets it: a retry that no
//! worker starts in time fails as `timeout` like any job. The parked message
//! is published by the control plane's outbox loop at its time; a second
//! retry of the same job (a redelivered copy that failed too) replaces the
//! first, since a job has one row in the outbox at most.

use chrono::{DateTime, Utc};

use super::db::args;
use super::{Parked, Result, Runs};
use crate::message::JobError;

/// The next attempt of a failed job.
#[derive(Debug, Clone)]
pub struct Retrying<'a> {
    /// Its message, with the next attempt's number and deadline.
    pub parked: Parked,
    pub attempt: u32,
    /// Why the last attempt failed.
    pub error: &'a JobError,
    /// The new start-by deadline.
    pub start_by: DateTime<Utc>,
    pub now: DateTime<Utc>,
}

impl Runs<'_> {
    /// Park the job's next attempt; false when the job is no longer
    /// pending (nothing written).
    pub async fn retry(&self, retry: &Retrying<'_>) -> Result<bool> {
        let mut tx = self.db.write().await?;
        let parked = &retry.parked;
        let updated = tx
            .execute(
                "UPDATE batch_jobs SET attempt = $2, error_class = $3, error_message = $4, \
                     deadline = $5, started_at = NULL, lease_expires_at = NULL, updated_at = $6 \
                 WHERE job_id = $1 AND status = 'pending' AND NOT EXISTS ( \
                     SELECT 1 FROM batch_jobs c \
                     WHERE c.batch_id = batch_jobs.batch_id AND c.error_class = $7)",
                args![
                    parked.job_id,
                    i64::from(retry.attempt).min(i64::from(i32::MAX)),
                    retry.error.class.as_str(),
                    retry.error.message.as_str(),
                    retry.start_by,
                    retry.now,
                    super::cancel::CANCELLED
                ],
            )
            .await?;
        if updated == 0 {
            return Ok(false);
        }
        tx.execute(
            "INSERT INTO job_outbox (job_id, batch_id, publish_at, interactive, zone, body) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (job_id) DO UPDATE SET publish_at = excluded.publish_at, \
                 body = excluded.body, claimed_until = NULL",
            args![
                parked.job_id,
                parked.batch_id,
                parked.publish_at,
                i64::from(parked.interactive),
                parked.zone.clone(),
                String::from_utf8_lossy(&parked.body).into_owned()
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}
