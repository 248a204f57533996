//! `dbfleet capacity …`: the capacity history as people read it.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{bail, Result};
use chrono::Utc;
use dbfleet::config::Settings;
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
            let today = Utc::now().with_timezone(&settings.timezone).date_naive();
            let day = date.unwrap_or(today);
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
            let today = Utc::now().with_timezone(&settings.timezone).date_naive();
            let scope = forecast::Scope {
                instance: instance.as_ref().map(|n| n.as_str()),
                databases,
                today: date.unwrap_or(today),
            };
            let found = forecast::forecasts(&store, &settings.capacity, scope).await?;
            render::tables::forecasts(out, &found, json)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
