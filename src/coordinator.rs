//! One capacity sync of one instance: connect → inventory → sizes →
//! persist → disconnect.
//!
//! Failure semantics follow the reference, made explicit:
//! - the inventory diff is applied in one transaction before any size is
//!   read, so it is kept even when sizing fails later (the reference keeps or
//!   rolls it back depending on the driver's error family; we always keep it);
//! - writing `database_size_stats` is a hard failure (the job fails);
//! - recomputing `instance_size_stats` is a soft failure (logged, the job
//!   still succeeds), because the daily rows it derives from are safe;
//! - no active database is a success with zero records; nothing is queried.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

use crate::adapters::{self, ConnectOptions, Connection, DatabaseSize};
use crate::config::JobSettings;
use crate::filters::DatabaseFilters;
use crate::inventory;
use crate::message::{ErrorClass, JobCounters, JobError};
use crate::store::{Instance, StatRow, Store};

/// The instant a sync runs at, and the calendar day it is filed under.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub now: DateTime<Utc>,
    pub today: NaiveDate,
}

impl Clock {
    /// Now, with `collected_date` taken in the configured time zone.
    pub fn system(tz: Tz) -> Self {
        Self::at(Utc::now(), tz)
    }

    pub fn at(now: DateTime<Utc>, tz: Tz) -> Self {
        Self {
            now,
            today: now.with_timezone(&tz).date_naive(),
        }
    }
}

pub struct Coordinator {
    store: Store,
    filters: Arc<DatabaseFilters>,
    job: JobSettings,
}

fn fail(class: ErrorClass, message: impl std::fmt::Display) -> JobError {
    JobError {
        class,
        message: message.to_string(),
    }
}

fn from_adapter(e: adapters::Error) -> JobError {
    fail(e.class(), e)
}

/// Why a sync did not finish.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The instance failed (unreachable, refused, a query failed): the job
    /// fails, the batch records it.
    #[error("{}: {}", .0.class.as_str(), .0.message)]
    Instance(JobError),
    /// dbfleet's own control store failed: transient, the job is retried.
    #[error(transparent)]
    Store(#[from] crate::store::Error),
}

impl From<JobError> for SyncError {
    fn from(e: JobError) -> Self {
        SyncError::Instance(e)
    }
}

impl Coordinator {
    pub fn new(store: Store, filters: Arc<DatabaseFilters>, job: JobSettings) -> Self {
        Self {
            store,
            filters,
            job,
        }
    }

    /// Sync one instance. The connection is closed whatever happens.
    pub async fn sync(&self, instance: &Instance, clock: Clock) -> Result<JobCounters, SyncError> {
        let password = instance
            .password
            .resolve()
            .map_err(|e| fail(ErrorClass::Config, e))?;
        let options = ConnectOptions {
            host: instance.host.clone(),
            port: instance.port,
            username: instance.username.clone(),
            password,
            database: instance.database.clone(),
            connect_timeout: self.job.connect_timeout,
            statement_timeout: self.job.statement_timeout,
            lock_timeout: self.job.lock_timeout,
        };
        let mut connection = Connection::connect(instance.db_type, &options)
            .await
            .map_err(from_adapter)?;
        let outcome = self.collect(&mut connection, instance, clock).await;
        connection.close().await;
        outcome
    }

    async fn collect(
        &self,
        connection: &mut Connection,
        instance: &Instance,
        clock: Clock,
    ) -> Result<JobCounters, SyncError> {
        let listed = connection.fetch_inventory().await.map_err(from_adapter)?;
        let existing = self.store.inventory().records(instance.id).await?;
        let plan = inventory::plan(instance.db_type, &existing, &listed, &self.filters);
        for (name, reason) in &plan.filtered {
            tracing::debug!(database = %name, %reason, "database excluded by filter");
        }
        self.store
            .inventory()
            .apply(instance.id, &plan, clock.today, clock.now)
            .await?;
        let mut counters = JobCounters {
            inventory: plan.counts(),
            ..JobCounters::default()
        };
        if plan.active.is_empty() {
            tracing::info!("no active database; inventory only");
            return Ok(counters);
        }
        let sizes = connection
            .fetch_capacity(&plan.active)
            .await
            .map_err(from_adapter)?;
        let rows = stat_rows(&plan.active, sizes);
        if rows.is_empty() {
            return Err(SyncError::Instance(fail(
                ErrorClass::Query,
                format!(
                    "no database size collected for {} active databases",
                    plan.active.len()
                ),
            )));
        }
        let written = self
            .store
            .stats()
            .upsert_databases(instance.id, clock.today, &rows)
            .await?;
        counters.databases = u32::try_from(rows.len()).unwrap_or(u32::MAX);
        counters.records = u32::try_from(written).unwrap_or(u32::MAX);
        counters.total_size_mb = rows.iter().map(|r| r.size_mb).sum();
        if let Err(e) = self
            .store
            .stats()
            .refresh_instance_total(instance.id, clock.today, clock.now)
            .await
        {
            tracing::warn!(error = %e, "instance total not saved; database stats are kept");
        }
        Ok(counters)
    }
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
            collected_at: s.collected_at,
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

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
