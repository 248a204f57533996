//! What a job files in the control store, written when the job ends.
//!
//! A job does not write as it goes: it stages its writes in a [`Filing`],
//! and the worker writes the filing and releases the instance's lease in one
//! transaction ([`super::Runs::end`]). One commit per job instead of one per
//! concept: each commit flushes the write-ahead log, and at thousands of
//! jobs those flushes are most of what the fleet costs the store.
//!
//! Order and failure rules, the same as when each part had its own
//! transaction:
//! - the inventory diff is filed even when the job failed after taking it:
//!   what the server listed is true whatever happened next;
//! - the day's sizes and gaps are filed with it; failing to write them
//!   fails the whole filing (the job is retried, nothing half-written);
//! - the instance total is recomputed last, inside a savepoint: failing to
//!   recompute it is logged and rolled back alone, because the daily rows
//!   it derives from are safe and the next run recomputes it.

use chrono::{DateTime, NaiveDate, Utc};

use super::db::{args, Tx};
use super::{
    aggregates, inventory, stats, table_sizes, Result, StatRow, TableSnapshot, UnmeasuredRow,
};
use crate::aggregate::PeriodSet;
use crate::domain::InstanceId;
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

/// Write `filing` for `instance` inside the caller's write transaction.
pub(super) async fn write(tx: &mut Tx, instance: InstanceId, filing: &Filing) -> Result<()> {
    let (today, now) = (filing.today, filing.now);
    if let Some(plan) = &filing.inventory {
        inventory::apply(tx, instance, plan, today, now).await?;
    }
    table_sizes::save(tx, instance, (today, now), &filing.tables).await?;
    aggregates::save(tx, instance, now, &filing.aggregates).await?;
    stats::save_day(tx, instance, today, &filing.measured, &filing.unmeasured).await?;
    if filing.measured.is_empty() {
        return Ok(());
    }
    tx.execute("SAVEPOINT instance_total", args![]).await?;
    match stats::refresh_total(tx, instance, today, now).await {
        Ok(_) => {
            tx.execute("RELEASE SAVEPOINT instance_total", args![])
                .await?
        }
        Err(e) => {
            tracing::warn!(error = %e, "instance total not saved; database stats are kept");
            tx.execute("ROLLBACK TO SAVEPOINT instance_total", args![])
                .await?
        }
    };
    Ok(())
}
