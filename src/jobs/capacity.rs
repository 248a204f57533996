//! `capacity_sync`: one instance's inventory and database sizes, filed as
//! the day's history. connect → inventory → sizes → persist → disconnect.
//!
//! Failure rules:
//! - the inventory diff is applied in one transaction before any size is
//!   read, so it is kept even when sizing fails later: what the server
//!   listed is true whatever happens next;
//! - writing `database_size_stats` is a hard failure (the job fails);
//! - recomputing `instance_size_stats` is a soft failure (logged, the job
//!   still succeeds), because the daily rows it derives from are safe and
//!   the next run recomputes it;
//! - no active database is a success with zero records; nothing is sized.

use std::collections::BTreeSet;

use super::{Context, Failure, Job};
use crate::adapters::{Connection, DatabaseSize};
use crate::inventory;
use crate::message::capacity_sync::{Output, Params};
use crate::message::{ErrorClass, JobError};
use crate::store::{StatRow, Tally};

/// The `capacity_sync` kind.
pub struct CapacitySync;

impl Job for CapacitySync {
    type Params = Params;
    type Output = Output;

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
        ])
    }

    fn empty_summary() -> Tally {
        Self::tally(&Output::default())
    }
}

async fn collect(ctx: &Context<'_>, connection: &mut Connection) -> Result<Output, Failure> {
    let (instance, clock) = (ctx.instance, ctx.clock);
    let listed = connection.fetch_inventory().await?;
    let existing = ctx.store.inventory().records(instance.id).await?;
    let plan = inventory::plan(instance.db_type, &existing, &listed, ctx.filters);
    for (name, reason) in &plan.filtered {
        tracing::debug!(database = %name, %reason, "database excluded by filter");
    }
    ctx.store
        .inventory()
        .apply(instance.id, &plan, clock.today, clock.now)
        .await?;
    let mut output = Output {
        inventory: plan.counts(),
        ..Output::default()
    };
    if plan.active.is_empty() {
        tracing::info!("no active database; inventory only");
        return Ok(output);
    }
    let sizes = connection.fetch_capacity(&plan.active).await?;
    let rows = stat_rows(&plan.active, sizes);
    if rows.is_empty() {
        let message = format!(
            "no database size collected for {} active databases",
            plan.active.len()
        );
        return Err(JobError::new(ErrorClass::Query, message).into());
    }
    let stats = ctx.store.stats();
    let written = stats
        .upsert_databases(instance.id, clock.today, &rows)
        .await?;
    output.databases = u32::try_from(rows.len()).unwrap_or(u32::MAX);
    output.records = u32::try_from(written).unwrap_or(u32::MAX);
    output.total_size_mb = rows.iter().map(|r| r.size_mb).sum();
    if let Err(e) = stats
        .refresh_instance_total(instance.id, clock.today, clock.now)
        .await
    {
        tracing::warn!(error = %e, "instance total not saved; database stats are kept");
    }
    Ok(output)
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
            method: None,
            collected_at: s.collected_at,
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(super) mod tests {
    use chrono::{DateTime, NaiveDate, Utc};

    use super::*;
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
                reactivated: 0,
                deactivated: 0,
            },
        })
    }

    fn size(name: &str, mb: i64) -> DatabaseSize {
        DatabaseSize {
            name: name.to_string(),
            size_mb: mb,
            data_size_mb: Some(mb),
            log_size_mb: None,
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
            .map(|r| (r.database_name.as_str(), r.size_mb))
            .collect();
        assert_eq!(names, [("a", 3)]);
    }

    #[test]
    fn the_tally_is_records_and_size() {
        let JobOutput::CapacitySync(output) = sample_output() else {
            unreachable!()
        };
        let tally = CapacitySync::tally(&output);
        assert_eq!(
            (tally.get("total_records"), tally.get("total_size_mb")),
            (2, 30)
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
