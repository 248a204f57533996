//! `capacity_sync`: one instance's inventory and database sizes, filed as
//! the day's history. connect → inventory → sizes → disconnect; the worker
//! files what the job staged.
//!
//! One database never hides another. A database that cannot be measured
//! (no privilege, dropped while the job runs, tables the account cannot
//! see) is recorded as not measured for the day, with its reason, and every
//! other database is sized and stored. The job then succeeds with a warning
//! per such database and says how many there were; the day is partial
//! (ruling 12) and its total counts what was measured. The job fails only
//! when nothing could be measured: class `permission` when grants are what
//! is missing (the message names them), `query` otherwise.
//!
//! Visibility is not existence: when the account cannot see the whole
//! catalogue, nothing is deactivated, databases it cannot see are kept and
//! recorded as not measured (`not_visible`), and the inventory is reported
//! partial.
//!
//! The job writes nothing itself: it stages the inventory diff as soon as
//! it has one, and the day's sizes and gaps once measured, and the worker
//! files them as the job ends, in one commit with the lease's release
//! (`store::Filing` holds the failure rules: the inventory is filed even
//! when sizing fails later; a total that cannot be recomputed is logged,
//! not fatal). No database to measure, with the whole catalogue seen, is a
//! success with zero records; nothing is sized.

mod report;

use std::collections::BTreeSet;

use super::{Context, Failure, Job};
use crate::adapters::{Capacity, Connection, DatabaseSize, Listing, Unmeasured, UnmeasuredReason};
use crate::inventory::{self, InventoryPlan};
use crate::message::capacity_sync::{Output, Params};
use crate::message::{ErrorClass, JobError, Warning};
use crate::store::{StatRow, Tally, UnmeasuredRow};

/// The `capacity_sync` kind.
pub struct CapacitySync;

impl Job for CapacitySync {
    type Params = Params;
    type Output = Output;

    const READS_INVENTORY: bool = true;

    /// The connection is closed whatever happens.
    async fn run(ctx: &Context<'_>, _params: &Params) -> Result<Output, Failure> {
        let mut connection = ctx.connect().await?;
        let outcome = collect(ctx, &mut connection).await;
        connection.close().await;
        outcome
    }

    fn tally(output: &Output) -> Tally {
        Tally::from_pairs([
            ("total_records", i64::from(output.records)),
            ("total_size_mb", output.total_size_mb),
            ("unmeasured_databases", i64::from(output.unmeasured)),
        ])
    }

    fn empty_summary() -> Tally {
        Self::tally(&Output::default())
    }

    fn warnings(output: &Output) -> Vec<Warning> {
        report::warnings(output)
    }
}

async fn collect(ctx: &Context<'_>, connection: &mut Connection) -> Result<Output, Failure> {
    let listing = ctx
        .remote("inventory", connection.fetch_inventory())
        .await?;
    let plan = take_inventory(ctx, &listing).await?;
    let mut output = Output {
        inventory: plan.counts(),
        inventory_grant: listing.grant.clone().filter(|_| !plan.complete),
        server_identity: identity(connection).await,
        ..Output::default()
    };
    let sizing = connection.fetch_capacity(&plan.active);
    let mut capacity = ctx.remote("sizes", sizing).await?;
    capacity.unmeasured.extend(not_visible(&plan, &listing));
    if capacity.sizes.is_empty() {
        if capacity.unmeasured.is_empty() && plan.complete {
            tracing::info!("no active database; inventory only");
            return Ok(output);
        }
        return Err(report::nothing_measured(&capacity.unmeasured, &listing).into());
    }
    stage_day(ctx, &plan, capacity, &mut output)?;
    Ok(output)
}

/// Diff the listing against the stored inventory and apply it.
async fn take_inventory(ctx: &Context<'_>, listing: &Listing) -> Result<InventoryPlan, Failure> {
    let instance = ctx.instance;
    let existing = ctx.stored_inventory().await?;
    let plan = inventory::plan(instance.db_type, &existing, listing, ctx.filters);
    for (name, reason) in &plan.filtered {
        tracing::debug!(database = %name, %reason, "database excluded by filter");
    }
    if !plan.complete {
        tracing::warn!(
            unseen = plan.unseen.len(),
            "the account cannot see every database; nothing is deactivated"
        );
    }
    ctx.stage(|f| f.inventory = Some(plan.clone()));
    Ok(plan)
}

/// The server's identity, for flagging instances that share one; a failure
/// to read it is not the job's.
async fn identity(connection: &mut Connection) -> Option<String> {
    connection.server_identity().await.unwrap_or_else(|e| {
        tracing::debug!(error = %e, "server identity not read");
        None
    })
}

/// The tracked databases the account could not see: not measured.
fn not_visible(plan: &InventoryPlan, listing: &Listing) -> Vec<Unmeasured> {
    plan.unseen
        .iter()
        .map(|name| Unmeasured {
            name: name.clone(),
            reason: UnmeasuredReason::NotVisible,
            detail: format!(
                "database `{name}` is in the inventory but the account cannot see it{}",
                listing
                    .grant
                    .as_ref()
                    .map(|g| format!(": {g}"))
                    .unwrap_or_default()
            ),
            grant: listing.grant.clone(),
        })
        .collect()
}

/// Stage the day's sizes and gaps, and count them in the output.
fn stage_day(
    ctx: &Context<'_>,
    plan: &InventoryPlan,
    capacity: Capacity,
    output: &mut Output,
) -> Result<(), Failure> {
    let rows = stat_rows(&plan.active, capacity.sizes);
    if rows.is_empty() {
        let message = format!(
            "no valid database size collected for {} active databases",
            plan.active.len()
        );
        return Err(JobError::new(ErrorClass::Query, message).into());
    }
    output.databases = count(rows.len());
    output.records = count(rows.len());
    output.total_size_mb = rows.iter().map(|r| r.size_mb).sum();
    report::record_unmeasured(output, &capacity.unmeasured);
    if !capacity.unmeasured.is_empty() {
        tracing::info!(unmeasured = capacity.unmeasured.len(), "the day is partial");
    }
    let gaps = gap_rows(&capacity.unmeasured, ctx.clock.now);
    ctx.stage(|f| {
        f.measured = rows;
        f.unmeasured = gaps;
    });
    Ok(())
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Keep the rows of active databases that are well-formed; log the others.
fn stat_rows(active: &[String], sizes: Vec<DatabaseSize>) -> Vec<StatRow> {
    let wanted: BTreeSet<&str> = active.iter().map(String::as_str).collect();
    sizes
        .into_iter()
        .filter(|s| {
            let ok = !s.name.is_empty() && s.size_mb >= 0;
            if !ok {
                tracing::warn!(database = %s.name, size_mb = s.size_mb, "skipping an invalid size row");
            }
            ok && wanted.contains(s.name.as_str())
        })
        .map(|s| StatRow {
            database_name: s.name,
            size_mb: s.size_mb,
            data_size_mb: s.data_size_mb,
            log_size_mb: s.log_size_mb,
            method: Some(s.method.as_str().to_string()),
            collected_at: s.collected_at,
        })
        .collect()
}

fn gap_rows(unmeasured: &[Unmeasured], at: chrono::DateTime<chrono::Utc>) -> Vec<UnmeasuredRow> {
    unmeasured
        .iter()
        .map(|u| UnmeasuredRow {
            database_name: u.name.clone(),
            reason: u.reason.as_str().to_string(),
            detail: u.detail.clone(),
            collected_at: at,
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(super) mod tests {
    use chrono::{DateTime, NaiveDate, Utc};

    use super::*;
    use crate::adapters::SizeMethod;
    use crate::jobs::Clock;
    use crate::message::capacity_sync::InventoryCounts;
    use crate::message::JobOutput;

    pub fn sample_output() -> JobOutput {
        JobOutput::CapacitySync(Output {
            databases: 2,
            records: 2,
            total_size_mb: 30,
            inventory: InventoryCounts {
                created: 1,
                refreshed: 1,
                ..InventoryCounts::default()
            },
            unmeasured: 1,
            ..Output::default()
        })
    }

    fn size(name: &str, mb: i64) -> DatabaseSize {
        DatabaseSize {
            name: name.to_string(),
            size_mb: mb,
            data_size_mb: Some(mb),
            log_size_mb: None,
            method: SizeMethod::Tables,
            collected_at: Utc::now(),
        }
    }

    #[test]
    fn only_well_formed_rows_of_active_databases_are_kept() {
        let active = vec!["a".to_string(), "b".to_string()];
        let rows = stat_rows(
            &active,
            vec![size("a", 3), size("b", -1), size("", 2), size("zzz", 9)],
        );
        let names: Vec<_> = rows
            .iter()
            .map(|r| (r.database_name.as_str(), r.size_mb, r.method.as_deref()))
            .collect();
        assert_eq!(names, [("a", 3, Some("tables"))]);
    }

    #[test]
    fn the_tally_is_records_size_and_unmeasured() {
        let JobOutput::CapacitySync(output) = sample_output() else {
            unreachable!()
        };
        let tally = CapacitySync::tally(&output);
        assert_eq!(
            (
                tally.get("total_records"),
                tally.get("total_size_mb"),
                tally.get("unmeasured_databases")
            ),
            (2, 30, 1)
        );
        let empty = CapacitySync::empty_summary();
        assert_eq!(
            (empty.get("total_records"), empty.get("total_size_mb")),
            (0, 0)
        );
    }

    #[test]
    fn collected_date_follows_the_time_zone() {
        let evening = "2026-01-01T20:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        assert_eq!(Clock::at(evening, chrono_tz::UTC).today, day(2026, 1, 1));
        assert_eq!(
            Clock::at(evening, chrono_tz::Asia::Shanghai).today,
            day(2026, 1, 2)
        );
        assert_eq!(
            Clock::at(evening, chrono_tz::America::Los_Angeles).today,
            day(2026, 1, 1)
        );
    }
}
