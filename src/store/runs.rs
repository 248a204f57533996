//! A job's run on a worker, as the store records it: the start (the
//! instance's lease and the start record, at once) and the end (what the
//! job filed and the lease released, in one commit). On PostgreSQL each is
//! one statement where it can be (`one_trip.rs`); otherwise, and on
//! SQLite, a transaction.
//!
//! The start record is how the control plane knows a job is running, where,
//! and until when: the sweeper fails a job nobody started only at its
//! batch's deadline, and a started one whose worker died as soon as its
//! lease has run out. A job enqueued alone by another system has no row yet:
//! its start creates its batch (with who asked for it) and its row, so it is
//! visible while it runs. A job that already ended (a redelivered copy) is
//! left as it is: its new result decides, through the fold.
//!
//! The start commits without waiting for its flush to disk
//! (`Db::write_unflushed`): it is one of the two commits on every job's
//! path, and what it records can be lost to a store server crash at little
//! cost. The job then looks unstarted (the sweeper fails it at its batch's
//! deadline, unless its result comes first) and the instance's lease is
//! free early, so another job on the same instance may overlap this one;
//! the inventory diff is written to be safe against that. The end, which
//! carries what the job found, waits for its flush, and makes the start
//! durable with it.

use chrono::{DateTime, Utc};

use super::cancel::is_cancelled;
use super::db::{args, Db, Tx};
use super::dialect::Dialect;
use super::filing::{self, Filing};
use super::fold::{fold, Counters, Slot, State};
use super::inventory;
use super::leases;
use super::one_trip::{self, Began, Starting};
use super::results::{lock_or_create, save, stored, NewBatch};
use super::statement::Statement;
use super::{Result, Tally};
use crate::domain::{BatchId, InstanceId, JobId};
use crate::inventory::InventoryRecord;

/// A job a worker is about to run on a registered instance.
#[derive(Debug, Clone)]
pub struct StartingJob<'a> {
    pub job_id: JobId,
    pub batch_id: BatchId,
    pub kind: &'a str,
    pub instance_id: InstanceId,
    /// The instance's name.
    pub target: &'a str,
    pub requested_by: Option<&'a str>,
    pub worker: &'a str,
    pub attempt: u32,
    pub started_at: DateTime<Utc>,
    /// When the lease runs out: the job's own deadline plus a grace.
    pub lease_until: DateTime<Utc>,
    /// The batch's deadline, for a job row created here.
    pub start_by: DateTime<Utc>,
    /// The kind's counters, for a batch created here.
    pub summary: &'a Tally,
    /// The fleet's cap of concurrent jobs on the instance's host, if any.
    pub host: Option<HostSlot<'a>>,
    /// Take the instance's lease: false for a kind whose lease is narrower
    /// (a data sync holds its target table's, in the target database), so
    /// it never keeps the instance's other jobs waiting.
    pub instance_lease: bool,
}

/// A cap of concurrent jobs per host (`job.max_per_host`), across every
/// worker of the fleet.
#[derive(Debug, Clone, Copy)]
pub struct HostSlot<'a> {
    /// The host, as the instances name it.
    pub key: &'a str,
    pub limit: u32,
}

/// Whether the worker may run the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// The worker holds the lease and the start is recorded.
    Started,
    /// Another job holds the instance's lease; nothing was written.
    Busy,
    /// The host already runs its cap of jobs; nothing was written.
    HostFull,
    /// The job's batch was cancelled before it started: do not run it.
    /// Nothing was written.
    Cancelled,
}

/// The runs of a store ([`super::Store::runs`]).
pub struct Runs<'a> {
    pub(super) db: &'a Db,
}

impl Runs<'_> {
    /// Take the instance's lease (if its host has room and the job takes
    /// one) and record the start, at once.
    pub async fn start(&self, job: &StartingJob<'_>) -> Result<Start> {
        Ok(self.begin(job, false).await?.0)
    }

    /// [`Runs::start`], reading the instance's inventory with it, under the
    /// lease just taken: a job that diffs the inventory spares a store round
    /// trip and a commit of its own. The records are read only for a job
    /// that started.
    pub async fn start_reading_inventory(
        &self,
        job: &StartingJob<'_>,
    ) -> Result<(Start, Vec<InventoryRecord>)> {
        self.begin(job, true).await
    }

    /// The start in one call where it can be (`one_trip.rs`), else in one
    /// transaction.
    async fn begin(
        &self,
        job: &StartingJob<'_>,
        read: bool,
    ) -> Result<(Start, Vec<InventoryRecord>)> {
        if job.host.is_some() || !job.instance_lease {
            return self.begin_in_transaction(job, read).await;
        }
        match one_trip::start(self.db, one_trip_start(job), read).await? {
            Began::Started(records) => Ok((Start::Started, records)),
            Began::Busy => Ok((Start::Busy, Vec::new())),
            Began::Leased => {
                let begun = self.begin_in_transaction(job, read).await;
                if !matches!(begun, Ok((Start::Started, _))) {
                    // Taken and committed for a job that does not run now:
                    // give it back rather than hold the instance until it
                    // expires. A failure to is the caller's only when the
                    // start itself went through.
                    let leases = super::Leases { db: self.db };
                    let released = leases.release(job.instance_id, job.job_id).await;
                    if begun.is_ok() {
                        released?;
                    }
                }
                begun
            }
        }
    }

    async fn begin_in_transaction(
        &self,
        job: &StartingJob<'_>,
        read: bool,
    ) -> Result<(Start, Vec<InventoryRecord>)> {
        let mut tx = self.db.write_unflushed().await?;
        let start = begin(&mut tx, job).await?;
        let records = match start {
            Start::Started if read => inventory::records(&mut tx, job.instance_id).await?,
            // Dropped uncommitted: the lease just taken goes with it.
            Start::Cancelled => return Ok((start, Vec::new())),
            Start::Started | Start::Busy | Start::HostFull => Vec::new(),
        };
        tx.commit().await?;
        Ok((start, records))
    }

    /// Write what the job filed and release the instance's lease (if `job`
    /// still holds it), in one commit; a job that filed nothing only
    /// releases the lease.
    pub async fn end(&self, instance: InstanceId, job: JobId, filing: &Filing) -> Result<()> {
        if filing.is_empty() {
            return super::Leases { db: self.db }.release(instance, job).await;
        }
        self.write_filing(instance, Some(job), filing).await
    }

    /// Write what a job filed, for a job run outside a worker (no lease).
    pub async fn file(&self, instance: InstanceId, filing: &Filing) -> Result<()> {
        if filing.is_empty() {
            return Ok(());
        }
        self.write_filing(instance, None, filing).await
    }

    /// Write `filing`, releasing the lease `job` holds if any, in one
    /// statement or else one transaction; written again without the
    /// instance total when the server refused the total alone
    /// (`filing.rs`). A lost connection is an error like any other: the job
    /// runs again and files its total.
    async fn write_filing(
        &self,
        instance: InstanceId,
        job: Option<JobId>,
        filing: &Filing,
    ) -> Result<()> {
        if self.filed_in_one_statement(instance, job, filing).await? {
            return Ok(());
        }
        let refused = match self
            .try_filing(instance, job, filing, Total::Refresh)
            .await?
        {
            Filed::Committed => return Ok(()),
            Filed::TotalRefused(e) if e.is_refused() => e,
            Filed::TotalRefused(e) => return Err(e),
        };
        match self.try_filing(instance, job, filing, Total::Skip).await? {
            Filed::Committed => {
                tracing::warn!(
                    instance = instance.0, error = %refused,
                    "instance total not saved; the day's database rows are, and the next run \
                     recomputes it"
                );
                Ok(())
            }
            Filed::TotalRefused(e) => Err(e),
        }
    }

    /// Write `filing` as one statement where it can be (`one_trip.rs`);
    /// false when it cannot, or the server refused it: the transaction then
    /// finds which part was refused.
    async fn filed_in_one_statement(
        &self,
        instance: InstanceId,
        job: Option<JobId>,
        filing: &Filing,
    ) -> Result<bool> {
        if self.db.dialect() != Dialect::Postgres {
            return Ok(false);
        }
        let Some(one) = one_trip::end(instance, job, filing)? else {
            return Ok(false);
        };
        match self.db.execute(&one.sql, one.args).await {
            Ok(_) => Ok(true),
            // A statement the server could not run as written fails here:
            // the transaction would hide it.
            Err(e) if e.is_refused() && !e.is_malformed() => {
                tracing::debug!(
                    instance = instance.0, error = %e,
                    "filing refused as one statement; writing it in a transaction"
                );
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// One attempt at [`Runs::write_filing`].
    async fn try_filing(
        &self,
        instance: InstanceId,
        job: Option<JobId>,
        filing: &Filing,
        total: Total,
    ) -> Result<Filed> {
        let mut tx = self.db.write().await?;
        filing::write(&mut tx, instance, filing, job).await?;
        if total == Total::Refresh {
            if let Err(e) = filing::refresh_total(&mut tx, instance, filing).await {
                // Dropped uncommitted: nothing of this attempt is kept.
                return Ok(Filed::TotalRefused(e));
            }
        }
        tx.commit().await?;
        Ok(Filed::Committed)
    }
}

/// Whether a filing's attempt recomputes the instance total.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Total {
    Refresh,
    Skip,
}

/// How an attempt at a filing ended, short of an error of the filing itself.
enum Filed {
    Committed,
    /// The instance total failed, so nothing was committed.
    TotalRefused(super::Error),
}

/// Take the lease and record the start in `tx`, uncommitted. A job of a
/// cancelled batch writes nothing the caller should keep: drop `tx` then,
/// and the lease just taken goes with it.
async fn begin(tx: &mut Tx, job: &StartingJob<'_>) -> Result<Start> {
    let (instance, id, now) = (job.instance_id, job.job_id, job.started_at);
    if let Some(slot) = job.host {
        if !leases::host_has_room(tx, instance, slot.key, slot.limit, now).await? {
            return Ok(Start::HostFull);
        }
    }
    let host_key = job.host.map(|slot| slot.key);
    let lease = (job.lease_until, now);
    if job.instance_lease && !leases::take(tx, instance, id, lease, host_key).await? {
        return Ok(Start::Busy);
    }
    if !record_start(tx, job).await? {
        return Ok(Start::Cancelled);
    }
    Ok(Start::Started)
}

/// Mark the job started. The row of a job the dispatcher created is
/// pending: one update does it, the batch's counters unmoved. Otherwise the
/// job has no row yet (enqueued alone), or it ended already. Returns false
/// for a job that ended cancelled: it must not run.
async fn record_start(tx: &mut Tx, job: &StartingJob<'_>) -> Result<bool> {
    if update_started(tx, job).await? > 0 {
        return Ok(true);
    }
    if is_cancelled(tx, job.job_id).await? {
        return Ok(false);
    }
    let new_batch = NewBatch {
        id: job.batch_id,
        kind: job.kind,
        requested_by: job.requested_by,
        summary: job.summary,
    };
    let now = job.started_at;
    let batch = lock_or_create(tx, &new_batch, now).await?;
    let old = stored(tx, job.job_id, job.batch_id).await?;
    let pending = Slot {
        state: State::Pending,
        finished_at: None,
        warned: false,
        tally: Tally::default(),
    };
    // A row that already ended stays as it is: `fold` refuses to replace it.
    let Some(counters) = fold(&Counters::of(&batch), old.as_ref(), &pending) else {
        return Ok(true);
    };
    if old.is_none() {
        insert_started(tx, job).await?;
        save(tx, &batch, counters, now).await?;
    }
    Ok(true)
}

async fn insert_started(tx: &mut Tx, job: &StartingJob<'_>) -> Result<()> {
    tx.execute(
        "INSERT INTO batch_jobs (job_id, batch_id, instance_id, kind, target, status, \
             attempt, worker, deadline, started_at, lease_expires_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, $8, $9, $10, $9)",
        args![
            job.job_id,
            job.batch_id,
            job.instance_id,
            job.kind,
            job.target,
            job.attempt,
            job.worker,
            job.start_by,
            job.started_at,
            job.lease_until
        ],
    )
    .await?;
    Ok(())
}

/// Returns the rows changed: 1 for a pending row of this batch, else 0.
async fn update_started(tx: &mut Tx, job: &StartingJob<'_>) -> Result<u64> {
    tx.run(started_statement(job)).await
}

/// `job`'s start as `one_trip.rs` takes it.
fn one_trip_start(job: &StartingJob<'_>) -> Starting {
    Starting {
        instance: job.instance_id,
        job: job.job_id,
        lease: (job.lease_until, job.started_at),
        mark: started_statement(job),
    }
}

/// The statement of [`update_started`]; it ends with its `WHERE`.
fn started_statement(job: &StartingJob<'_>) -> Statement {
    let sql = "UPDATE batch_jobs SET attempt = $2, worker = $3, started_at = $4, \
             lease_expires_at = $5, updated_at = $4 \
         WHERE job_id = $1 AND batch_id = $6 AND status = 'pending'";
    Statement {
        sql: sql.to_string(),
        args: args![
            job.job_id,
            job.attempt,
            job.worker,
            job.started_at,
            job.lease_until,
            job.batch_id
        ],
    }
}
