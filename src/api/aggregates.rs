//! Period aggregates of an instance's size history, as `aggregate` jobs
//! filed them.

use axum::extract::{Path, State};
use axum::Json;
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::IntoParams;

use super::error::{ApiError, ErrorBody, Params};
use super::instances::by_name;
use super::{shapes, ApiState};
use crate::aggregate::PeriodType;
use crate::store::AggregateQuery;

/// Which aggregates: of one period type (`daily`, `weekly`, `monthly`,
/// `quarterly`, `yearly`) or all, only one database's (else the
/// instance's and every database's), periods starting on or after `since`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AggregatesQuery {
    period: Option<String>,
    database: Option<String>,
    since: Option<NaiveDate>,
}

#[utoipa::path(get, operation_id = "instance_aggregates", path = "/instances/{name}/aggregates", tag = "capacity", params(("name" = String, Path, description = "The instance's name"), AggregatesQuery),
    responses((status = 200, description = "The aggregates by period type and start, the instance's (no `database`) before its databases'", body = shapes::Aggregates), (status = 400, description = "A bad field, named in `details.field`", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody)))]
pub async fn list(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    Params(query): Params<AggregatesQuery>,
) -> Result<Json<Value>, ApiError> {
    let period = match query.period.as_deref() {
        None => None,
        Some(p) => Some(PeriodType::parse(p).ok_or_else(|| {
            ApiError::invalid(
                "period",
                "expected daily, weekly, monthly, quarterly or yearly",
            )
        })?),
    };
    let instance = by_name(&state, &name).await?;
    let wanted = AggregateQuery {
        database: query.database.as_deref(),
        period,
        since: query.since,
    };
    let items = state.store.aggregates().list(instance.id, &wanted).await?;
    Ok(Json(json!({ "instance": instance.name, "items": items })))
}
