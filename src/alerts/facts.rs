//! What an evaluation reads from the store, and only what its rules need:
//! the batches that ended badly since the last look, each active
//! instance's labels, last collection and forecast, and each database's
//! growth over every window a rule names.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::config::{Condition, Settings};
use crate::labels::Labels;
use crate::store::{self, Store};

/// How far back the first evaluation on a store looks for ended batches.
const FIRST_LOOK: chrono::Duration = chrono::Duration::days(1);
/// Batches are read again this far before the mark: a batch whose end was
/// committed just after an earlier evaluation read is still seen (and an
/// alert already recorded is not recorded twice).
const OVERLAP: chrono::Duration = chrono::Duration::minutes(10);
/// The mark of the ended batches in the store.
pub(super) const BATCHES_MARK: &str = "batches";

/// Everything the rules look at, at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    /// Today, in the configured time zone.
    pub today: NaiveDate,
    pub batches: Vec<EndedBatch>,
    pub instances: Vec<InstanceFact>,
    /// Growth per window (days): each database that changed in it.
    pub growth: BTreeMap<u32, Vec<GrowthFact>>,
    /// The latest ended run of each data sync table into each target.
    pub syncs: Vec<SyncFact>,
}

/// How a data sync table's latest run into one target ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SyncFact {
    pub definition: String,
    /// `instance/database`.
    pub target: String,
    pub table: String,
    pub status: String,
    pub chunks_differing: Option<i64>,
    pub error: Option<String>,
    pub ended_at: Option<DateTime<Utc>>,
}

impl SyncFact {
    /// The target's instance.
    pub fn instance(&self) -> &str {
        self.target.split_once('/').map_or(&self.target, |(i, _)| i)
    }
}

/// A batch that ended `failed` or `partial_success`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EndedBatch {
    pub id: String,
    pub kind: String,
    pub status: String,
    pub total: i64,
    pub succeeded: i64,
    pub failed: i64,
    pub finished_at: Option<DateTime<Utc>>,
}

/// An active instance.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct InstanceFact {
    pub name: String,
    pub labels: Labels,
    /// Its newest day with a total; `None`: never collected.
    pub last_collected: Option<NaiveDate>,
    /// Days until its total reaches its ceiling, when known.
    pub days_left: Option<i64>,
    pub current_mb: Option<i64>,
    pub ceiling_mb: Option<i64>,
}

/// How one database changed over a window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GrowthFact {
    pub instance: String,
    pub database: String,
    pub from_mb: i64,
    pub to_mb: i64,
    pub change_mb: i64,
    pub change_percent: Option<f64>,
}

impl Facts {
    pub fn instance(&self, name: &str) -> Option<&InstanceFact> {
        self.instances.iter().find(|i| i.name == name)
    }
}

/// Read the facts the configured rules need, at `now`.
pub(super) async fn read(
    store: &Store,
    settings: &Settings,
    now: DateTime<Utc>,
) -> store::Result<Facts> {
    let today = now.with_timezone(&settings.timezone).date_naive();
    let conditions: Vec<&Condition> = settings.alerts.rules.iter().map(|r| &r.when).collect();
    let wants = |f: fn(&Condition) -> bool| conditions.iter().any(|c| f(c));
    let mut facts = Facts {
        today,
        instances: instances(store, settings, today, wants(is_forecast)).await?,
        ..Facts::default()
    };
    if wants(|c| matches!(c, Condition::BatchFailed { .. })) {
        facts.batches = ended_batches(store, now).await?;
    }
    if wants(|c| matches!(c, Condition::SyncFailed)) {
        facts.syncs = syncs(store).await?;
    }
    for condition in conditions {
        if let Condition::Growth { over_days, .. } = condition {
            let growth = growth(store, today, *over_days).await?;
            facts.growth.insert(*over_days, growth);
        }
    }
    Ok(facts)
}

fn is_forecast(c: &Condition) -> bool {
    matches!(c, Condition::DaysUntilFull { .. })
}

async fn instances(
    store: &Store,
    settings: &Settings,
    today: NaiveDate,
    forecast: bool,
) -> store::Result<Vec<InstanceFact>> {
    let last: BTreeMap<i64, NaiveDate> = store
        .alerts()
        .last_collected()
        .await?
        .into_iter()
        .map(|(id, day)| (id.0, day))
        .collect();
    let mut facts: Vec<InstanceFact> = store
        .instances()
        .list()
        .await?
        .into_iter()
        .filter(|i| i.is_active)
        .map(|i| InstanceFact {
            name: i.name.as_str().to_string(),
            last_collected: last.get(&i.id.0).copied(),
            labels: i.labels,
            ..InstanceFact::default()
        })
        .collect();
    if forecast {
        add_forecasts(store, settings, today, &mut facts).await?;
    }
    Ok(facts)
}

/// Each instance's days until full, against its ceiling.
async fn add_forecasts(
    store: &Store,
    settings: &Settings,
    today: NaiveDate,
    facts: &mut [InstanceFact],
) -> store::Result<()> {
    let scope = crate::forecast::Scope {
        instance: None,
        engine: None,
        databases: false,
        today,
    };
    for f in crate::forecast::forecasts(store, &settings.capacity, scope).await? {
        if let Some(fact) = facts.iter_mut().find(|i| i.name == f.instance) {
            fact.days_left = f.outlook.days_left;
            fact.current_mb = f.outlook.current_mb;
            fact.ceiling_mb = f.ceiling_mb;
        }
    }
    Ok(())
}

async fn ended_batches(store: &Store, now: DateTime<Utc>) -> store::Result<Vec<EndedBatch>> {
    let alerts = store.alerts();
    let mark = alerts.mark(BATCHES_MARK).await?;
    let after = mark.map_or(now - FIRST_LOOK, |at| at - OVERLAP);
    let batches = alerts.ended_badly_since(after).await?;
    Ok(batches
        .into_iter()
        .map(|b| EndedBatch {
            id: b.id.0.to_string(),
            kind: b.kind,
            status: b.status.as_str().to_string(),
            total: b.total,
            succeeded: b.succeeded,
            failed: b.failed,
            finished_at: b.finished_at,
        })
        .collect())
}

async fn syncs(store: &Store) -> store::Result<Vec<SyncFact>> {
    let runs = store.sync_runs().latest_ended().await?;
    Ok(runs
        .into_iter()
        .map(|r| SyncFact {
            definition: r.definition,
            target: r.target,
            table: r.table,
            status: r.status,
            chunks_differing: r.chunks_differing,
            error: r.error,
            ended_at: r.ended_at,
        })
        .collect())
}

/// Every database that changed over the `days` ending today.
async fn growth(store: &Store, today: NaiveDate, days: u32) -> store::Result<Vec<GrowthFact>> {
    let from = today - chrono::Duration::days(i64::from(days));
    let fleet = store::FleetFilter::default();
    let rows = store
        .capacity()
        .growth((from, today), fleet, 100_000)
        .await?;
    Ok(rows
        .into_iter()
        .map(|g| GrowthFact {
            instance: g.instance,
            database: g.database_name,
            from_mb: g.from_mb,
            to_mb: g.to_mb,
            change_mb: g.change_mb,
            change_percent: g.change_percent,
        })
        .collect())
}
