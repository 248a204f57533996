//! What a job files in the control store, written when the job ends.
//!
//! A job does not write as it goes: it stages its writes in a [`Filing`],
//! and the worker writes the filing and releases the instance's lease in one
//! commit ([`super::Runs::end`]): one statement on PostgreSQL where the
//! filing's parts allow it (`one_trip.rs`), else one transaction. One
//! commit per job instead of one per concept: each commit flushes the
//! write-ahead log, and at thousands of jobs those flushes are most of what
//! the fleet costs the store.
//!
//! Order and failure rules, the same as when each part had its own
//! transaction:
//! - the inventory diff is filed even when the job failed after taking it:
//!   what the server listed is true whatever happened next;
//! - the day's sizes and gaps are filed with it; failing to write them
//!   fails the whole filing (the job is retried, nothing half-written);
//! - the instance total is recomputed last ([`refresh_total`]): failing to
//!   recompute it is logged and the filing is written again without it,
//!   because the daily rows it derives from are safe and the next run
//!   recomputes it. Written again, not rolled back to a savepoint: a
//!   savepoint on every job's path costs two round trips and a
//!   subtransaction, for a failure that is rare.

use chrono::{DateTime, NaiveDate, Utc};

use super::db::Tx;
use super::dialect::Dialect;
use super::statement::Statement;
use super::{
    aggregates, day_total, inventory, leases, stats, table_sizes, Result, StatRow, TableSnapshot,
    UnmeasuredRow,
};
use crate::aggregate::PeriodSet;
use crate::domain::{InstanceId, JobId};
use crate::inventory::InventoryPlan;

/// The writes a job staged, all for one instance and one day.
#[derive(Debug, Clone)]
pub struct Filing {
    /// The calendar day the figures are filed under.
    pub today: NaiveDate,
    /// The instant the job ran at.
    pub now: DateTime<Utc>,
    /// An inventory diff to apply.
    pub inventory: Option<InventoryPlan>,
    /// The day's measured sizes.
    pub measured: Vec<StatRow>,
    /// The day's databases that could not be measured.
    pub unmeasured: Vec<UnmeasuredRow>,
    /// The day's table sizes, per database read.
    pub tables: Vec<TableSnapshot>,
    /// Period aggregates, each replacing its period's rows.
    pub aggregates: Vec<PeriodSet>,
}

impl Filing {
    /// Nothing staged yet, for `today` at `now`.
    pub fn new(today: NaiveDate, now: DateTime<Utc>) -> Self {
        Self {
            today,
            now,
            inventory: None,
            measured: Vec::new(),
            unmeasured: Vec::new(),
            tables: Vec::new(),
            aggregates: Vec::new(),
        }
    }

    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.inventory.is_none()
            && self.measured.is_empty()
            && self.unmeasured.is_empty()
            && self.tables.iter().all(|t| t.rows.is_empty())
            && self.aggregates.is_empty()
    }
}

/// Write `filing` for `instance` inside the caller's write transaction,
/// all but the instance total ([`refresh_total`]), and release `job`'s
/// lease if it holds it.
pub(super) async fn write(
    tx: &mut Tx,
    instance: InstanceId,
    filing: &Filing,
    job: Option<JobId>,
) -> Result<()> {
    let (today, now) = (filing.today, filing.now);
    tx.run_all(writes(tx.dialect(), instance, filing, job))
        .await?;
    table_sizes::save(tx, instance, (today, now), &filing.tables).await?;
    aggregates::save(tx, instance, now, &filing.aggregates).await?;
    Ok(())
}

/// The statements of [`write`] but the table sizes and the aggregates, in
/// order: the inventory diff, the day's sizes and gaps, the lease release.
pub(super) fn writes(
    dialect: Dialect,
    instance: InstanceId,
    filing: &Filing,
    job: Option<JobId>,
) -> Vec<Statement> {
    let (today, now) = (filing.today, filing.now);
    let (measured, unmeasured) = (&filing.measured[..], &filing.unmeasured[..]);
    let mut writes = match &filing.inventory {
        Some(plan) => inventory::writes(dialect, instance, plan, (today, now)),
        None => Vec::new(),
    };
    writes.extend(stats::day_writes(
        dialect, instance, today, measured, unmeasured,
    ));
    writes.extend(job.map(|job| leases::release_statement(instance, job)));
    writes
}

/// Recompute the instance's total of the day from its rows, once
/// [`write`] wrote the day's sizes; nothing to do for a filing without
/// sizes. On PostgreSQL a failure aborts `tx`: write the filing again
/// without the total then.
pub(super) async fn refresh_total(
    tx: &mut Tx,
    instance: InstanceId,
    filing: &Filing,
) -> Result<()> {
    if filing.measured.is_empty() {
        return Ok(());
    }
    day_total::refresh_total(tx, instance, filing.today, filing.now).await?;
    Ok(())
}
