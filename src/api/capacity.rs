//! Capacity reads: an instance's inventory and size history, one
//! database's history, the largest and the fastest-growing databases of
//! the fleet (of one engine, of one instance) and the fleet's daily
//! totals by engine.

use axum::extract::{Path, State};
use axum::Json;
use chrono::{Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::batches::Page;
use super::error::{ApiError, ErrorBody, Params};
use super::instances::by_name;
use super::{shapes, ApiState};
use crate::domain::{DbType, InstanceId, InstanceName};
use crate::store::{FleetFilter, SizeCursor};
use utoipa::IntoParams;

/// Days a range covers when `from` is not given.
const DEFAULT_DAYS: i64 = 30;

/// The longest growth window, in days.
const MAX_GROWTH_DAYS: u32 = 3660;

/// `engine` and `instance` of a fleet-wide read as the store's filter: a
/// bad engine or name is a 400 naming it, an unknown instance a 404.
pub(super) async fn fleet_filter(
    state: &ApiState,
    engine: Option<&str>,
    instance: Option<&str>,
) -> Result<FleetFilter, ApiError> {
    let engine = engine
        .map(|raw| raw.parse::<DbType>())
        .transpose()
        .map_err(|e| ApiError::invalid("engine", e))?;
    let Some(raw) = instance else {
        return Ok(FleetFilter {
            engine,
            instance: None,
        });
    };
    let name = InstanceName::parse(raw).map_err(|e| ApiError::invalid("instance", e))?;
    let found = state.store.instances().by_name(&name).await?;
    let found = found.ok_or_else(|| ApiError::not_found(format!("no instance named `{name}`")))?;
    Ok(FleetFilter {
        engine,
        instance: Some(found.id),
    })
}

/// `from` and `to`, days (`2026-01-31`), both included. Default: the last
/// 30 days to today (UTC).
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Range {
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
}

impl Range {
    fn days(&self) -> Result<(NaiveDate, NaiveDate), ApiError> {
        let to = self.to.unwrap_or_else(|| Utc::now().date_naive());
        let from = self.from.unwrap_or(to - Duration::days(DEFAULT_DAYS));
        if from > to {
            return Err(ApiError::invalid(
                "from",
                format!("{from} is after `to` ({to})"),
            ));
        }
        Ok((from, to))
    }
}

/// One database of an instance's inventory.
#[derive(Debug, Serialize)]
struct DatabaseView {
    name: String,
    active: bool,
    first_seen: NaiveDate,
    last_seen: NaiveDate,
}

#[utoipa::path(get, operation_id = "list_instance_databases", path = "/instances/{name}/databases", tag = "capacity", params(("name" = String, Path, description = "The instance's name")),
    responses((status = 200, description = "The inventory, active and inactive, with first and last seen days", body = shapes::Inventory), (status = 404, description = "Not found", body = ErrorBody)))]
pub async fn databases(
    State(state): State<ApiState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let instance = by_name(&state, &name).await?;
    let records = state.store.inventory().records(instance.id).await?;
    let items: Vec<DatabaseView> = records
        .into_iter()
        .map(|r| DatabaseView {
            name: r.database_name,
            active: r.is_active,
            first_seen: r.first_seen_date,
            last_seen: r.last_seen_date,
        })
        .collect();
    Ok(Json(json!({ "instance": instance.name, "items": items })))
}

#[utoipa::path(get, operation_id = "instance_sizes", path = "/instances/{name}/sizes", tag = "capacity", params(("name" = String, Path, description = "The instance's name"), Range),
    responses((status = 200, description = "Daily instance totals, oldest first", body = shapes::InstanceSizes), (status = 400, description = "A bad field, named in `details.field`", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody)))]
pub async fn instance_sizes(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    Params(range): Params<Range>,
) -> Result<Json<Value>, ApiError> {
    let (from, to) = range.days()?;
    let instance = by_name(&state, &name).await?;
    let days = state
        .store
        .capacity()
        .instance_sizes(instance.id, from, to)
        .await?;
    Ok(Json(
        json!({ "instance": instance.name, "from": from, "to": to, "items": days }),
    ))
}

#[utoipa::path(get, operation_id = "database_sizes", path = "/instances/{name}/databases/{database}/sizes", tag = "capacity",
    params(("name" = String, Path, description = "The instance's name"), ("database" = String, Path, description = "The database's name"), Range),
    responses((status = 200, description = "Daily sizes of the database, oldest first", body = shapes::DatabaseSizes), (status = 400, description = "A bad field, named in `details.field`", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody)))]
pub async fn database_sizes(
    State(state): State<ApiState>,
    Path((name, database)): Path<(String, String)>,
    Params(range): Params<Range>,
) -> Result<Json<Value>, ApiError> {
    let (from, to) = range.days()?;
    let instance = by_name(&state, &name).await?;
    let capacity = state.store.capacity();
    let days = capacity
        .database_sizes(instance.id, &database, from, to)
        .await?;
    let body = json!({
        "instance": instance.name, "database": database, "from": from, "to": to, "items": days
    });
    Ok(Json(body))
}

/// `GET /capacity/databases`: `sort` (only `size`), `limit`, `cursor`,
/// and the part of the fleet (the same on every page).
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LargestQuery {
    sort: Option<String>,
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
    cursor: Option<String>,
    /// Only databases measured on or after this day.
    since: Option<NaiveDate>,
    /// Only instances of this engine: `mysql` (or `mariadb`), `postgresql` (or `postgres`, `pg`).
    engine: Option<String>,
    /// Only this instance.
    instance: Option<String>,
}

#[utoipa::path(get, operation_id = "largest_databases", path = "/capacity/databases", tag = "capacity", params(LargestQuery),
    responses((status = 200, description = "The latest size of every database, largest first", body = shapes::LatestSizes), (status = 400, description = "A bad field, named in `details.field`", body = ErrorBody), (status = 404, description = "No such instance", body = ErrorBody)))]
pub async fn largest_databases(
    State(state): State<ApiState>,
    Params(query): Params<LargestQuery>,
) -> Result<Json<Value>, ApiError> {
    if query.sort.as_deref().is_some_and(|s| s != "size") {
        return Err(ApiError::invalid("sort", "the only order is `size`"));
    }
    let limit = Page::of(query.limit).limit()?;
    let after = query.cursor.as_deref().map(parse_cursor).transpose()?;
    let filter = fleet_filter(&state, query.engine.as_deref(), query.instance.as_deref()).await?;
    let capacity = state.store.capacity();
    let mut items = capacity
        .latest_sizes((filter, query.since), limit + 1, after.as_ref())
        .await?;
    let more = items.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    items.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next = more.then(|| items.last().map(|row| cursor(&SizeCursor::from(row))));
    Ok(Json(
        json!({ "items": items, "next_cursor": next.flatten() }),
    ))
}

/// A cursor as the client sees it: `size.instance_id.database` (the
/// database last, as its name may hold dots).
fn cursor(c: &SizeCursor) -> String {
    format!("{}.{}.{}", c.size_mb, c.instance_id.0, c.database_name)
}

fn parse_cursor(raw: &str) -> Result<SizeCursor, ApiError> {
    let bad = || ApiError::invalid("cursor", "not a cursor of this list");
    let mut parts = raw.splitn(3, '.');
    let size_mb = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
    let id = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
    let database_name = parts.next().ok_or_else(bad)?.to_string();
    Ok(SizeCursor {
        size_mb,
        instance_id: InstanceId(id),
        database_name,
    })
}

/// `GET /capacity/growth`: the window (`days` ending on `date`, default 7
/// days to today, UTC), how many, and the part of the fleet.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct GrowthQuery {
    #[param(minimum = 1, maximum = 3660)]
    days: Option<u32>,
    date: Option<NaiveDate>,
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
    /// Only instances of this engine: `mysql` (or `mariadb`), `postgresql` (or `postgres`, `pg`).
    engine: Option<String>,
    /// Only this instance.
    instance: Option<String>,
}

#[utoipa::path(get, operation_id = "fastest_growing_databases", path = "/capacity/growth", tag = "capacity", params(GrowthQuery),
    responses((status = 200, description = "Each database's first size in the window against its last, largest change first", body = shapes::GrowthList), (status = 400, description = "A bad field, named in `details.field`", body = ErrorBody), (status = 404, description = "No such instance", body = ErrorBody)))]
pub async fn growth(
    State(state): State<ApiState>,
    Params(query): Params<GrowthQuery>,
) -> Result<Json<Value>, ApiError> {
    let days = query.days.unwrap_or(7);
    if !(1..=MAX_GROWTH_DAYS).contains(&days) {
        let why = format!("must be between 1 and {MAX_GROWTH_DAYS}, found {days}");
        return Err(ApiError::invalid("days", why));
    }
    let limit = Page::of(Some(query.limit.unwrap_or(20))).limit()?;
    let to = query.date.unwrap_or_else(|| Utc::now().date_naive());
    let from = to
        .checked_sub_signed(Duration::days(i64::from(days)))
        .ok_or_else(|| ApiError::invalid("date", "too early for the window"))?;
    let filter = fleet_filter(&state, query.engine.as_deref(), query.instance.as_deref()).await?;
    let capacity = state.store.capacity();
    let items = capacity.growth((from, to), filter, limit).await?;
    Ok(Json(json!({ "from": from, "to": to, "items": items })))
}

#[utoipa::path(get, operation_id = "fleet_summary", path = "/capacity/summary", tag = "capacity", params(Range),
    responses((status = 200, description = "Fleet totals by day and engine", body = shapes::FleetSummary), (status = 400, description = "A bad field, named in `details.field`", body = ErrorBody)))]
pub async fn summary(
    State(state): State<ApiState>,
    Params(range): Params<Range>,
) -> Result<Json<Value>, ApiError> {
    let (from, to) = range.days()?;
    let days = state.store.capacity().summary(from, to).await?;
    Ok(Json(json!({ "from": from, "to": to, "items": days })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_read_back_whatever_the_database_is_called() {
        for name in ["plain", "with.dots.in", "", "ünï"] {
            let c = SizeCursor {
                size_mb: 12,
                instance_id: InstanceId(7),
                database_name: name.to_string(),
            };
            assert_eq!(parse_cursor(&cursor(&c)).ok(), Some(c));
        }
        assert!(parse_cursor("x.1.db").is_err());
        assert!(parse_cursor("12").is_err());
    }
}
