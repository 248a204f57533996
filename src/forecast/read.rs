//! The fleet's forecasts: each active instance's daily totals (and, when
//! asked, each database's daily sizes) over the last `forecast_days`,
//! against the configured ceilings; soonest to fill first.

use chrono::{Duration, NaiveDate};
use serde::Serialize;

use super::{outlook, Outlook};
use crate::config::CapacitySettings;
use crate::domain::DbType;
use crate::store::{self, Store};

/// What to forecast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope<'a> {
    /// Only this instance (by name); every active one when `None`.
    pub instance: Option<&'a str>,
    /// Only instances of this engine.
    pub engine: Option<DbType>,
    /// Each database too, not only instance totals.
    pub databases: bool,
    /// The last day of the history.
    pub today: NaiveDate,
}

/// One forecast: an instance's total, or one of its databases.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Forecast {
    pub instance: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    pub engine: &'static str,
    /// The ceiling counted down to, MiB.
    pub ceiling_mb: Option<i64>,
    /// `theil-sen`: see the module docs of `forecast`.
    pub fit: &'static str,
    #[serde(flatten)]
    pub outlook: Outlook,
}

/// Forecasts of `scope`, soonest to fill first, then those with no day.
pub async fn forecasts(
    store: &Store,
    settings: &CapacitySettings,
    scope: Scope<'_>,
) -> store::Result<Vec<Forecast>> {
    let window = i64::from(settings.forecast_days.max(1)) - 1;
    let from = scope
        .today
        .checked_sub_signed(Duration::days(window))
        .unwrap_or(NaiveDate::MIN);
    let capacity = store.capacity();
    let mut found = Vec::new();
    let instances = store.instances().list().await?;
    let chosen = instances
        .iter()
        .filter(|i| i.is_active)
        .filter(|i| scope.engine.is_none_or(|e| i.db_type == e))
        .filter(|i| scope.instance.is_none_or(|name| i.name.as_str() == name));
    for instance in chosen {
        let name = instance.name.as_str();
        let totals = capacity
            .instance_sizes(instance.id, from, scope.today)
            .await?;
        let history: Vec<(NaiveDate, i64)> = totals
            .iter()
            .map(|t| (t.collected_date, t.total_size_mb))
            .collect();
        let ceiling = settings.instance_ceiling(name, &instance.labels);
        found.push(Forecast {
            instance: name.to_string(),
            database: None,
            engine: instance.db_type.as_str(),
            ceiling_mb: ceiling,
            fit: "theil-sen",
            outlook: outlook(&history, ceiling),
        });
        if !scope.databases {
            continue;
        }
        for database in store.inventory().records(instance.id).await? {
            if !database.is_active {
                continue;
            }
            let db = database.database_name.as_str();
            let sizes = capacity
                .database_sizes(instance.id, db, from, scope.today)
                .await?;
            let history: Vec<(NaiveDate, i64)> = sizes
                .iter()
                .map(|s| (s.collected_date, s.size_mb))
                .collect();
            let ceiling = settings.database_ceiling(name, db);
            found.push(Forecast {
                instance: name.to_string(),
                database: Some(db.to_string()),
                engine: instance.db_type.as_str(),
                ceiling_mb: ceiling,
                fit: "theil-sen",
                outlook: outlook(&history, ceiling),
            });
        }
    }
    found.sort_by(|a, b| {
        let key = |f: &Forecast| (f.outlook.days_left.is_none(), f.outlook.days_left);
        key(a)
            .cmp(&key(b))
            .then_with(|| (&a.instance, &a.database).cmp(&(&b.instance, &b.database)))
    });
    Ok(found)
}
