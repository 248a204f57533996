//! Instance leases: at most one running job per instance.
//!
//! Contract: a lease is taken, renewed and handed over in one upsert, so
//! concurrent acquirers serialize on the row and each sees the winner's
//! committed lease in the upsert's `WHERE`. A lease expires on its own, so a
//! worker that dies holding one blocks its instance only until
//! `expires_at`. Acquiring a lease on an instance that was never registered
//! is [`Error::NotFound`].
//!
//! A lease may carry a host key: when the fleet caps concurrent jobs per
//! host, [`host_has_room`] counts the unexpired leases of that key before
//! one more is taken, under a lock of the key (PostgreSQL: a transaction
//! advisory lock; SQLite: its one write lock), so two workers never both
//! take the last slot.

use chrono::{DateTime, Utc};

use super::db::{args, Db, Tx};
use super::statement::Statement;
use super::{Error, Result};
use crate::domain::{InstanceId, JobId};

/// The instance leases of a store ([`super::Store::leases`]).
pub struct Leases<'a> {
    pub(super) db: &'a Db,
}

impl Leases<'_> {
    /// Take the lease unless another job holds an unexpired one (one that
    /// expires after `now`). Re-entrant for the same job, which then moves
    /// the expiry to `until`. Returns whether `job` holds the lease.
    pub async fn acquire(
        &self,
        instance: InstanceId,
        job: JobId,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        // A write transaction, so SQLite takes its write lock up front.
        let mut tx = self.db.write().await?;
        let taken = take(&mut tx, instance, job, (until, now), None).await?;
        tx.commit().await?;
        Ok(taken)
    }

    /// Release only if `job` holds it; otherwise a no-op.
    pub async fn release(&self, instance: InstanceId, job: JobId) -> Result<()> {
        self.db.execute(RELEASE, args![instance, job]).await?;
        Ok(())
    }
}

const RELEASE: &str = "DELETE FROM instance_leases WHERE instance_id = $1 AND job_id = $2";

/// The statement of [`Leases::release`], for a write of the caller's (a
/// transaction, or a part of a job's end as one statement).
pub(super) fn release_statement(instance: InstanceId, job: JobId) -> Statement {
    Statement {
        sql: RELEASE.to_string(),
        args: args![instance, job],
    }
}

/// Whether fewer than `limit` unexpired leases of other instances hold
/// `host_key`; the key stays locked until the transaction ends.
pub(super) async fn host_has_room(
    tx: &mut Tx,
    instance: InstanceId,
    host_key: &str,
    limit: u32,
    now: DateTime<Utc>,
) -> Result<bool> {
    if let Some(lock) = tx.dialect().lock_key() {
        tx.execute(lock, args![format!("dbfleet.host:{host_key}")])
            .await?;
    }
    let held = tx
        .fetch_one(
            "SELECT count(*) AS held FROM instance_leases \
             WHERE host_key = $1 AND expires_at >= $2 AND instance_id <> $3",
            args![host_key, now, instance],
        )
        .await?
        .int("held")?;
    Ok(held < i64::from(limit))
}

/// [`Leases::acquire`] inside a write transaction of the caller's, the
/// lease keyed to `host_key` when there is one.
pub(super) async fn take(
    tx: &mut Tx,
    instance: InstanceId,
    job: JobId,
    lease: (DateTime<Utc>, DateTime<Utc>),
    host_key: Option<&str>,
) -> Result<bool> {
    let Statement { sql, args } = take_statement(instance, job, lease, host_key);
    let taken = tx.fetch_optional(&(sql + " RETURNING job_id"), args).await;
    not_found_if_unregistered(taken.map(|row| row.is_some()), instance)
}

/// The statement of [`take`], without its `RETURNING job_id`: after it,
/// `job` holds the lease if the lease row names it.
pub(super) fn take_statement(
    instance: InstanceId,
    job: JobId,
    (until, now): (DateTime<Utc>, DateTime<Utc>),
    host_key: Option<&str>,
) -> Statement {
    let sql = "INSERT INTO instance_leases AS l (instance_id, job_id, expires_at, acquired_at, \
             host_key) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (instance_id) DO UPDATE SET job_id = excluded.job_id, \
             expires_at = excluded.expires_at, host_key = excluded.host_key, \
             acquired_at = CASE WHEN l.job_id = excluded.job_id THEN l.acquired_at \
                                ELSE excluded.acquired_at END \
         WHERE l.expires_at < $4 OR l.job_id = excluded.job_id";
    Statement {
        sql: sql.to_string(),
        args: args![instance, job, until, now, host_key],
    }
}

/// A lease taken on an instance that was never registered fails its
/// foreign key: say which instance is missing.
pub(super) fn not_found_if_unregistered<T>(taken: Result<T>, instance: InstanceId) -> Result<T> {
    match taken {
        Err(e) if e.is_foreign_key_violation() => {
            Err(Error::NotFound(format!("instance {instance}")))
        }
        taken => taken,
    }
}
