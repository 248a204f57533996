//! `dbfleet capacity …`: the capacity history as people read it.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{bail, Result};
use chrono::{NaiveDate, Utc};
use dbfleet::config::Settings;
use dbfleet::domain::InstanceName;
use dbfleet::store::AggregateQuery;
use dbfleet::{fleet, forecast};

use crate::cli::CapacityCommand;
use crate::render;

pub async fn run(
    command: CapacityCommand,
    settings: &Settings,
    out: &mut impl Write,
) -> Result<ExitCode> {
    match command {
        CapacityCommand::Tables {
            name,
            database,
            date,
            limit,
            json,
        } => {
            let store = fleet::open_store(settings).await?;
            let Some(instance) = store.instances().by_name(&name).await? else {
                bail!("no instance named `{name}`");
            };
            let day = date.unwrap_or_else(|| today(settings));
            let tables = store
                .table_sizes()
                .latest(instance.id, database.as_deref(), day)
                .await?;
            render::tables::tables(out, &tables, limit, json)?;
        }
        CapacityCommand::Forecast {
            instance,
            databases,
            date,
            json,
        } => {
            let store = fleet::open_store(settings).await?;
            if let Some(name) = &instance {
                if store.instances().by_name(name).await?.is_none() {
                    bail!("no instance named `{name}`");
                }
            }
            let scope = forecast::Scope {
                instance: instance.as_ref().map(|n| n.as_str()),
                databases,
                today: date.unwrap_or_else(|| today(settings)),
            };
            let found = forecast::forecasts(&store, &settings.capacity, scope).await?;
            render::tables::forecasts(out, &found, json)?;
        }
        CapacityCommand::Top { limit, json } => {
            let store = fleet::open_store(settings).await?;
            let top = store.capacity().latest_sizes(limit.max(1), None).await?;
            render::history::top(out, &top, json)?;
        }
        CapacityCommand::Growth {
            days,
            date,
            limit,
            json,
        } => {
            let store = fleet::open_store(settings).await?;
            let to = date.unwrap_or_else(|| today(settings));
            let from = to - chrono::Duration::days(i64::from(days.max(1)));
            let grown = store.capacity().growth(from, to, limit.max(1)).await?;
            render::history::growth(out, &grown, json)?;
        }
        CapacityCommand::History {
            name,
            database,
            since,
            date,
            json,
        } => {
            history(
                settings,
                &name,
                database.as_deref(),
                (since, date),
                json,
                out,
            )
            .await?
        }
        CapacityCommand::Aggregates {
            name,
            database,
            period,
            since,
            json,
        } => {
            let query = AggregateQuery {
                database: database.as_deref(),
                period,
                since,
            };
            aggregates(settings, &name, &query, json, out).await?
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One instance's period aggregates.
async fn aggregates(
    settings: &Settings,
    name: &InstanceName,
    query: &AggregateQuery<'_>,
    json: bool,
    out: &mut impl Write,
) -> Result<()> {
    let store = fleet::open_store(settings).await?;
    let Some(instance) = store.instances().by_name(name).await? else {
        bail!("no instance named `{name}`");
    };
    let found = store.aggregates().list(instance.id, query).await?;
    render::aggregates::aggregates(out, &found, json)
}

/// Today in the configured time zone.
fn today(settings: &Settings) -> NaiveDate {
    Utc::now().with_timezone(&settings.timezone).date_naive()
}

/// One instance's daily totals, or one database's daily sizes.
async fn history(
    settings: &Settings,
    name: &InstanceName,
    database: Option<&str>,
    (since, date): (Option<NaiveDate>, Option<NaiveDate>),
    json: bool,
    out: &mut impl Write,
) -> Result<()> {
    let store = fleet::open_store(settings).await?;
    let Some(instance) = store.instances().by_name(name).await? else {
        bail!("no instance named `{name}`");
    };
    let to = date.unwrap_or_else(|| today(settings));
    let from = since.unwrap_or(to - chrono::Duration::days(30));
    let capacity = store.capacity();
    match database {
        Some(db) => {
            let days = capacity.database_sizes(instance.id, db, from, to).await?;
            render::history::database_days(out, &days, json)
        }
        None => {
            let days = capacity.instance_sizes(instance.id, from, to).await?;
            render::history::instance_days(out, &days, json)
        }
    }
}
