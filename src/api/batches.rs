//! `/api/v1/batches`: start a batch, page through them, read one as
//! `dbfleet batch show --json` prints it, cancel what has not started, and
//! start another over the instances whose job failed.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::{ApiError, Body, ErrorBody, Params};
use super::{shapes, ApiState};
use crate::domain::{BatchId, InstanceName};
use crate::fleet::dispatcher::{self, BatchReport, BatchRequest, Selection};
use crate::labels::Selector;
use crate::message::{JobKind, JobParams};
use crate::store::{Batch, Cancel};
use utoipa::{IntoParams, ToSchema};

/// Who the store records as having asked for batches started here.
pub(super) const REQUESTED_BY: &str = "api";

/// Most batches one page holds, and the default.
const MAX_PAGE: i64 = 500;
const DEFAULT_PAGE: i64 = 50;

/// The body of `POST /batches`: a kind, and named instances, a selector or
/// neither (every active instance).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartBatch {
    #[schema(value_type = shapes::Kind)]
    kind: String,
    /// The jobs' parameters, as the kind's schema has them (its defaults
    /// when absent).
    #[schema(value_type = Option<Object>)]
    params: Option<Value>,
    instances: Option<Vec<String>>,
    selector: Option<String>,
}

#[utoipa::path(post, operation_id = "start_batch", path = "/batches", tag = "batches", request_body = StartBatch,
    responses((status = 201, description = "The batch", body = shapes::Batch), (status = 400, description = "A bad field, named in `details.field`", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 409, description = "Conflict", body = ErrorBody), (status = 401, description = "No token, or not `Bearer <token>`", body = ErrorBody), (status = 403, description = "Wrong token", body = ErrorBody), (status = 413, description = "Body too large", body = ErrorBody), (status = 422, description = "Malformed JSON", body = ErrorBody)))]
pub async fn start(
    State(state): State<ApiState>,
    Body(body): Body<StartBatch>,
) -> Result<(StatusCode, Json<Batch>), ApiError> {
    let params = params(kind(&body.kind)?, body.params)?.settled(state.today());
    let names = body
        .instances
        .map(|names| {
            let parsed: Result<Vec<_>, _> = names.iter().map(|n| InstanceName::parse(n)).collect();
            parsed.map_err(|e| ApiError::invalid("instances", e))
        })
        .transpose()?;
    let selector = body
        .selector
        .map(|raw| Selector::parse(&raw).map_err(|e| ApiError::invalid("selector", e)))
        .transpose()?;
    let selection = match (&names, &selector) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "selector",
                "give `instances` or `selector`, not both",
            ))
        }
        (Some(names), None) => Selection::Named(names),
        (None, Some(selector)) => Selection::Matching(selector),
        (None, None) => Selection::AllActive,
    };
    let batch = state.start(&params, selection).await?;
    Ok((StatusCode::CREATED, Json(batch)))
}

/// The parameters of jobs of `kind`: `value` checked against the kind, or
/// its defaults.
pub(super) fn params(kind: JobKind, value: Option<Value>) -> Result<JobParams, ApiError> {
    JobParams::from_json(kind, value.unwrap_or(Value::Null))
        .map_err(|e| ApiError::invalid("params", format!("for kind `{kind}`: {e}")))
}

/// A kind by its wire name; the error lists the known ones.
pub(super) fn kind(raw: &str) -> Result<JobKind, ApiError> {
    JobKind::parse(raw).ok_or_else(|| {
        let known: Vec<&str> = JobKind::ALL.iter().map(|k| k.as_str()).collect();
        ApiError::invalid(
            "kind",
            format!("unknown kind `{raw}`; expected one of {}", known.join(", ")),
        )
    })
}

impl ApiState {
    /// Start a batch of `params`' kind over `selection`, recorded as the API's.
    pub(super) async fn start(
        &self,
        params: &JobParams,
        selection: Selection<'_>,
    ) -> Result<Batch, ApiError> {
        let kind = params.kind();
        let request = BatchRequest {
            params,
            selection,
            deadline: self.batch_deadline,
            requested_by: Some(REQUESTED_BY),
            interactive: false,
        };
        let batch = dispatcher::start_batch(&self.store, self.broker.as_ref(), &request).await?;
        tracing::info!(batch_id = %batch.id, %kind, "batch started through the API");
        Ok(batch)
    }
}

/// `GET /batches`: `limit` (1 to 500, default 50) and the `cursor` a page
/// gave as `next_cursor`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Page {
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(value_type = Option<uuid::Uuid>)]
    cursor: Option<String>,
}

impl Page {
    /// A page of `limit` items from the start.
    pub(super) fn of(limit: Option<i64>) -> Self {
        Self {
            limit,
            cursor: None,
        }
    }

    pub(super) fn limit(&self) -> Result<i64, ApiError> {
        match self.limit {
            None => Ok(DEFAULT_PAGE),
            Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
            Some(n) => Err(ApiError::invalid(
                "limit",
                format!("must be between 1 and {MAX_PAGE}, found {n}"),
            )),
        }
    }
}

#[utoipa::path(get, operation_id = "list_batches", path = "/batches", tag = "batches", params(Page),
    responses((status = 200, description = "Batches, newest first", body = shapes::BatchPage), (status = 400, description = "A bad field, named in `details.field`", body = ErrorBody)))]
pub async fn list(
    State(state): State<ApiState>,
    Params(page): Params<Page>,
) -> Result<Json<Value>, ApiError> {
    let limit = page.limit()?;
    let after = page
        .cursor
        .as_deref()
        .map(|raw| {
            raw.parse::<BatchId>()
                .map_err(|_| ApiError::invalid("cursor", "not a cursor of this list"))
        })
        .transpose()?;
    let mut items = state.store.batches().page(limit + 1, after).await?;
    let next = (items.len() > usize::try_from(limit).unwrap_or(usize::MAX)).then(|| {
        items.truncate(items.len() - 1);
        items.last().map(|b| b.id.to_string())
    });
    Ok(Json(
        json!({ "items": items, "next_cursor": next.flatten() }),
    ))
}

fn batch_id(raw: &str) -> Result<BatchId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::invalid("id", format!("`{raw}` is not a batch id")))
}

#[utoipa::path(get, operation_id = "get_batch", path = "/batches/{id}", tag = "batches", params(("id" = uuid::Uuid, Path, description = "The batch id")),
    responses((status = 200, description = "The batch and its jobs, as `dbfleet batch show --json`", body = shapes::BatchReport), (status = 400, description = "A bad field, named in `details.field`", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody)))]
pub async fn show(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<BatchReport>, ApiError> {
    let report = dispatcher::report(&state.store, batch_id(&id)?).await?;
    Ok(Json(report))
}

/// A new batch of the same kind over the instances whose job failed.
#[utoipa::path(post, operation_id = "retry_failed_jobs", path = "/batches/{id}/retry-failed", tag = "batches", params(("id" = uuid::Uuid, Path, description = "The batch id")),
    responses((status = 201, description = "A new batch over the failed jobs' instances", body = shapes::Batch), (status = 404, description = "Not found", body = ErrorBody), (status = 409, description = "Conflict", body = ErrorBody), (status = 401, description = "No token, or not `Bearer <token>`", body = ErrorBody), (status = 403, description = "Wrong token", body = ErrorBody)))]
pub async fn retry_failed(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Batch>), ApiError> {
    let report = dispatcher::report(&state.store, batch_id(&id)?).await?;
    let mut names: Vec<InstanceName> = report
        .jobs
        .iter()
        .filter(|job| job.status == "failed")
        .filter_map(|job| InstanceName::parse(&job.instance).ok())
        .collect();
    names.sort();
    names.dedup();
    if names.is_empty() {
        return Err(ApiError::conflict(format!(
            "batch {} has no failed job to retry",
            report.batch.id
        )));
    }
    let kind = kind(&report.batch.kind)?;
    let recorded = state.store.batches().params(report.batch.id).await?;
    // Parameters that no longer parse are a fault to report, never a
    // reason to run other work than the batch did.
    let recorded = recorded
        .map(|text| serde_json::from_str::<Value>(&text))
        .transpose()
        .map_err(|e| ApiError::internal(&format!("batch {}'s parameters: {e}", report.batch.id)))?;
    let params = JobParams::from_json(kind, recorded.unwrap_or(Value::Null))
        .map_err(|e| ApiError::internal(&format!("batch {}'s parameters: {e}", report.batch.id)))?;
    let batch = state.start(&params, Selection::Named(&names)).await?;
    Ok((StatusCode::CREATED, Json(batch)))
}

/// Cancel a batch: its jobs no worker has started end `cancelled` and are
/// never run; running ones finish. 409 when the batch has ended.
#[utoipa::path(post, operation_id = "cancel_batch", path = "/batches/{id}/cancel", tag = "batches", params(("id" = uuid::Uuid, Path, description = "The batch id")),
    responses((status = 200, description = "The batch, and how many jobs were cancelled", body = shapes::Cancelled), (status = 404, description = "Not found", body = ErrorBody), (status = 409, description = "Conflict", body = ErrorBody), (status = 401, description = "No token, or not `Bearer <token>`", body = ErrorBody), (status = 403, description = "Wrong token", body = ErrorBody)))]
pub async fn cancel(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = batch_id(&id)?;
    match state.store.batches().cancel(id, REQUESTED_BY).await? {
        Cancel::Cancelled { batch, jobs } => {
            tracing::info!(batch_id = %id, jobs, "batch cancelled through the API");
            Ok(Json(json!({ "batch": batch, "cancelled_jobs": jobs })))
        }
        Cancel::Finished(batch) => Err(ApiError::conflict(format!(
            "batch {id} has already ended ({})",
            batch.status.as_str()
        ))),
    }
}
