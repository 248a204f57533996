//! Table sizes and forecasts: what the `table_sizes` jobs filed (one
//! instance's snapshots, the fleet's largest tables), and days until full
//! against the configured ceilings (`capacity.ceilings`).

use axum::extract::{Path, State};
use axum::Json;
use chrono::{NaiveDate, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::IntoParams;

use super::batches::Page;
use super::capacity::fleet_filter;
use super::error::{ApiError, ErrorBody, Params};
use super::instances::by_name;
use super::{shapes, ApiState};
use crate::forecast;

/// Which snapshot: the latest on or before `date` (default today, UTC),
/// of every database or only `database`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TablesQuery {
    database: Option<String>,
    date: Option<NaiveDate>,
}

#[utoipa::path(get, operation_id = "instance_tables", path = "/instances/{name}/tables", tag = "capacity", params(("name" = String, Path, description = "The instance's name"), TablesQuery),
    responses((status = 200, description = "Each database's latest table sizes, largest first, the rest folded into one row", body = shapes::TableSizes), (status = 400, description = "A bad field, named in `details.field`", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody)))]
pub async fn tables(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    Params(query): Params<TablesQuery>,
) -> Result<Json<Value>, ApiError> {
    let instance = by_name(&state, &name).await?;
    let day = query.date.unwrap_or_else(|| Utc::now().date_naive());
    let items = state
        .store
        .table_sizes()
        .latest(instance.id, query.database.as_deref(), day)
        .await?;
    Ok(Json(
        json!({ "instance": instance.name, "date": day, "items": items }),
    ))
}

/// `GET /capacity/tables`: the latest snapshot on or before `date`
/// (default today, UTC) of each database, how many tables (default 20),
/// and the part of the fleet.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LargestTablesQuery {
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
    date: Option<NaiveDate>,
    /// Only snapshots taken on or after this day.
    since: Option<NaiveDate>,
    /// Only instances of this engine: `mysql` (or `mariadb`), `postgresql` (or `postgres`, `pg`).
    engine: Option<String>,
    /// Only this instance.
    instance: Option<String>,
}

#[utoipa::path(get, operation_id = "largest_tables", path = "/capacity/tables", tag = "capacity", params(LargestTablesQuery),
    responses((status = 200, description = "The largest tables of the fleet from each database's latest snapshot, largest first", body = shapes::FleetTables), (status = 400, description = "A bad field, named in `details.field`", body = ErrorBody), (status = 404, description = "No such instance", body = ErrorBody)))]
pub async fn largest_tables(
    State(state): State<ApiState>,
    Params(query): Params<LargestTablesQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = Page::of(Some(query.limit.unwrap_or(20))).limit()?;
    let day = query.date.unwrap_or_else(|| Utc::now().date_naive());
    let filter = fleet_filter(&state, query.engine.as_deref(), query.instance.as_deref()).await?;
    let items = state
        .store
        .table_sizes()
        .largest((query.since, day), filter, limit)
        .await?;
    Ok(Json(json!({ "date": day, "items": items })))
}

/// Whose forecast: every active instance, one, or those of one engine,
/// with their databases or not, the history ending on `date` (default
/// today, UTC).
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ForecastQuery {
    instance: Option<String>,
    /// Only instances of this engine: `mysql` (or `mariadb`), `postgresql` (or `postgres`, `pg`).
    engine: Option<String>,
    databases: Option<bool>,
    date: Option<NaiveDate>,
}

#[utoipa::path(get, operation_id = "capacity_forecast", path = "/capacity/forecast", tag = "capacity", params(ForecastQuery),
    responses((status = 200, description = "Days until full, soonest first; unknown ones last with the reason", body = shapes::Forecasts), (status = 400, description = "A bad field, named in `details.field`", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody)))]
pub async fn forecasts(
    State(state): State<ApiState>,
    Params(query): Params<ForecastQuery>,
) -> Result<Json<Value>, ApiError> {
    let filter = fleet_filter(&state, query.engine.as_deref(), query.instance.as_deref()).await?;
    let scope = forecast::Scope {
        instance: query.instance.as_deref(),
        engine: filter.engine,
        databases: query.databases.unwrap_or(false),
        today: query.date.unwrap_or_else(|| Utc::now().date_naive()),
    };
    let items = forecast::forecasts(&state.store, &state.capacity, scope).await?;
    Ok(Json(json!({ "date": scope.today, "items": items })))
}
