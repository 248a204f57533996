//! `dbfleet capacity …`: the capacity history as people read it.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{anyhow, Result};
use chrono::{NaiveDate, Utc};
use dbfleet::config::Settings;
use dbfleet::domain::InstanceName;
use dbfleet::store::{AggregateQuery, FleetFilter, Instance, Store};
use dbfleet::{fleet, forecast};

use crate::cli::{Among, CapacityCommand, ForecastArgs, GrowthArgs, TablesArgs, TopArgs};
use crate::render;

pub async fn run(
    command: CapacityCommand,
    settings: &Settings,
    out: &mut impl Write,
) -> Result<ExitCode> {
    match command {
        CapacityCommand::Tables(args) => tables(settings, args, out).await?,
        CapacityCommand::Forecast(args) => forecasts(settings, args, out).await?,
        CapacityCommand::Top(args) => top(settings, args, out).await?,
        CapacityCommand::Growth(args) => growth(settings, args, out).await?,
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

/// The store's filter for `--engine` and `--instance`; an instance that is
/// not registered is an error, not an empty list.
async fn fleet_filter(store: &Store, among: &Among) -> Result<FleetFilter> {
    let instance = match &among.instance {
        Some(name) => Some(instance(store, name).await?.id),
        None => None,
    };
    Ok(FleetFilter {
        engine: among.engine,
        instance,
    })
}

async fn instance(store: &Store, name: &InstanceName) -> Result<Instance> {
    store
        .instances()
        .by_name(name)
        .await?
        .ok_or_else(|| anyhow!("no instance named `{name}`"))
}

/// The fleet's largest databases.
async fn top(settings: &Settings, args: TopArgs, out: &mut impl Write) -> Result<()> {
    let store = fleet::open_store(settings).await?;
    let filter = fleet_filter(&store, &args.among).await?;
    let capacity = store.capacity();
    let top = capacity
        .latest_sizes((filter, args.since), args.limit.max(1), None)
        .await?;
    render::history::top(out, &top, args.json)
}

/// The fleet's fastest-growing databases over the window.
async fn growth(settings: &Settings, args: GrowthArgs, out: &mut impl Write) -> Result<()> {
    let store = fleet::open_store(settings).await?;
    let filter = fleet_filter(&store, &args.among).await?;
    let to = args.date.unwrap_or_else(|| today(settings));
    let from = to - chrono::Duration::days(i64::from(args.days.max(1)));
    let capacity = store.capacity();
    let grown = capacity
        .growth((from, to), filter, args.limit.max(1))
        .await?;
    render::history::growth(out, &grown, args.json)
}

/// One instance's largest tables per database, or the fleet's largest.
async fn tables(settings: &Settings, args: TablesArgs, out: &mut impl Write) -> Result<()> {
    let store = fleet::open_store(settings).await?;
    let day = args.date.unwrap_or_else(|| today(settings));
    let table_sizes = store.table_sizes();
    let Some(name) = &args.name else {
        let filter = fleet_filter(&store, &args.among).await?;
        let limit = i64::try_from(args.limit.max(1)).unwrap_or(i64::MAX);
        let largest = table_sizes
            .largest((args.since, day), filter, limit)
            .await?;
        return render::tables::largest(out, &largest, args.json);
    };
    let id = instance(&store, name).await?.id;
    let found = table_sizes
        .latest(id, args.database.as_deref(), day)
        .await?;
    render::tables::tables(out, &found, args.limit, args.json)
}

/// Days until full, of the instances asked for.
async fn forecasts(settings: &Settings, args: ForecastArgs, out: &mut impl Write) -> Result<()> {
    let store = fleet::open_store(settings).await?;
    if let Some(name) = &args.instance {
        instance(&store, name).await?;
    }
    let scope = forecast::Scope {
        instance: args.instance.as_ref().map(|n| n.as_str()),
        engine: args.engine,
        databases: args.databases,
        today: args.date.unwrap_or_else(|| today(settings)),
    };
    let found = forecast::forecasts(&store, &settings.capacity, scope).await?;
    render::tables::forecasts(out, &found, args.json)
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
    let instance = instance(&store, name).await?;
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
    let instance = instance(&store, name).await?;
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
