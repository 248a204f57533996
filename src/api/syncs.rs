//! `/api/v1/syncs` and `/api/v1/sync-runs`: the data sync definitions as
//! the control store keeps them (reconciled from the configuration), a
//! definition's run started as `dbfleet sync run` starts it, and the run
//! history as `dbfleet sync history` shows it.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, Body, ErrorBody, Params};
use super::{shapes, ApiState};
use crate::fleet::dispatcher::{self, BatchRequest, Selection};
use crate::fleet::sync::{self, SyncRequest};
use crate::store::{Batch, RunFilter, StoredSync, SyncRun};
use crate::sync::SyncMode;

/// A sync definition and its state.
#[derive(Debug, Serialize, ToSchema)]
pub struct SyncView {
    name: String,
    /// `instance/database`.
    source: String,
    /// `instance/database` of each target.
    targets: Vec<String>,
    /// `full` or `incremental`.
    mode: String,
    mirror: bool,
    verify: bool,
    /// The source tables, in order.
    tables: Vec<String>,
    /// Whether runs may start: declared, and enabled by the file or by
    /// the operator's switch.
    enabled: bool,
    /// Still in the configuration.
    declared: bool,
    /// The operator's switch, when set.
    enabled_override: Option<bool>,
}

impl From<StoredSync> for SyncView {
    fn from(s: StoredSync) -> Self {
        let enabled = s.is_enabled();
        let d = s.definition;
        Self {
            name: d.name,
            source: d.source.to_string(),
            targets: d.targets.iter().map(ToString::to_string).collect(),
            mode: d.mode.as_str().to_string(),
            mirror: d.mirror,
            verify: d.verify,
            tables: d.tables.into_iter().map(|t| t.name).collect(),
            enabled,
            declared: s.declared,
            enabled_override: s.enabled_override,
        }
    }
}

/// One table's run into one target.
#[derive(Debug, Serialize, ToSchema)]
pub struct SyncRunView {
    #[schema(value_type = uuid::Uuid)]
    job_id: String,
    #[schema(value_type = uuid::Uuid)]
    batch_id: String,
    definition: String,
    /// `instance/database`.
    target: String,
    table: String,
    mode: String,
    /// `running`, `success` or `failed`.
    status: String,
    started_at: DateTime<Utc>,
    ended_at: Option<DateTime<Utc>>,
    rows_read: i64,
    rows_applied: i64,
    rows_deleted: i64,
    chunks_verified: Option<i64>,
    chunks_differing: Option<i64>,
    error: Option<String>,
    attempt: i64,
    worker: String,
}

impl From<SyncRun> for SyncRunView {
    fn from(r: SyncRun) -> Self {
        Self {
            job_id: r.job_id.to_string(),
            batch_id: r.batch_id.to_string(),
            definition: r.definition,
            target: r.target,
            table: r.table,
            mode: r.mode,
            status: r.status,
            started_at: r.started_at,
            ended_at: r.ended_at,
            rows_read: r.rows_read,
            rows_applied: r.rows_applied,
            rows_deleted: r.rows_deleted,
            chunks_verified: r.chunks_verified,
            chunks_differing: r.chunks_differing,
            error: r.error,
            attempt: r.attempt,
            worker: r.worker,
        }
    }
}

#[utoipa::path(get, operation_id = "list_syncs", path = "/syncs", tag = "syncs",
    responses((status = 200, description = "Every sync definition, by name", body = Vec<SyncView>)))]
pub async fn list(State(state): State<ApiState>) -> Result<Json<Vec<SyncView>>, ApiError> {
    let all = state.store.syncs().list().await?;
    Ok(Json(all.into_iter().map(SyncView::from).collect()))
}

/// What to run of a definition; every field is optional.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunSync {
    /// `instance` (its targets) or `instance/database`; every target when
    /// absent.
    target: Option<String>,
    /// `full` or `incremental`; the definition's own when absent.
    mode: Option<String>,
    /// Compare only, no sync.
    #[serde(default)]
    verify_only: bool,
    /// With `verify_only`: copy again the chunks that differ.
    #[serde(default)]
    repair: bool,
}

/// Start a definition's run: one `data_sync` job per target instance.
#[utoipa::path(post, operation_id = "run_sync", path = "/syncs/{name}/run", tag = "syncs", params(("name" = String, Path, description = "The definition's name")), request_body = RunSync,
    responses((status = 201, description = "The batch started", body = shapes::Batch), (status = 400, description = "A bad field, named in `details.field`", body = ErrorBody), (status = 404, description = "No such definition, or not one of its targets", body = ErrorBody), (status = 409, description = "The definition is disabled", body = ErrorBody), (status = 413, description = "Body too large", body = ErrorBody), (status = 422, description = "Malformed JSON", body = ErrorBody)))]
pub async fn run(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    Body(body): Body<RunSync>,
) -> Result<(StatusCode, Json<Batch>), ApiError> {
    let mode = match body.mode.as_deref() {
        None => None,
        Some("full") => Some(SyncMode::Full),
        Some("incremental") => Some(SyncMode::Incremental),
        Some(_) => return Err(ApiError::invalid("mode", "expected full or incremental")),
    };
    if body.repair && !body.verify_only {
        return Err(ApiError::invalid(
            "repair",
            "repairs only with `verify_only`",
        ));
    }
    let request = SyncRequest {
        definition: &name,
        target: body.target.as_deref(),
        mode,
        verify_only: body.verify_only,
        repair: body.repair,
    };
    let stored = state.store.syncs().get(&name).await?;
    let plan = sync::plan(stored.as_ref(), &request).map_err(dispatcher::Error::from)?;
    let request = BatchRequest {
        params: &plan.params,
        selection: Selection::Named(&plan.instances),
        deadline: state.batch_deadline,
        requested_by: Some("api"),
        interactive: false,
    };
    let batch = dispatcher::start_batch(&state.store, state.broker.as_ref(), &request).await?;
    tracing::info!(sync = %name, batch_id = %batch.id, "sync started through the API");
    Ok((StatusCode::CREATED, Json(batch)))
}

/// Which runs: of one definition, target (`instance` or
/// `instance/database`), source table or status (`running`, `success`,
/// `failed`); `limit` 1 to 500 (default 50).
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RunsQuery {
    definition: Option<String>,
    target: Option<String>,
    table: Option<String>,
    status: Option<String>,
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
}

#[utoipa::path(get, operation_id = "sync_runs", path = "/sync-runs", tag = "syncs", params(RunsQuery),
    responses((status = 200, description = "The runs, newest first", body = Vec<SyncRunView>), (status = 400, description = "A bad field, named in `details.field`", body = ErrorBody)))]
pub async fn runs(
    State(state): State<ApiState>,
    Params(query): Params<RunsQuery>,
) -> Result<Json<Vec<SyncRunView>>, ApiError> {
    let status = query.status.as_deref();
    if status.is_some_and(|s| !["running", "success", "failed"].contains(&s)) {
        return Err(ApiError::invalid(
            "status",
            "expected running, success or failed",
        ));
    }
    let limit = match query.limit {
        None => 50,
        Some(n) if (1..=500).contains(&n) => n,
        Some(n) => {
            return Err(ApiError::invalid(
                "limit",
                format!("must be between 1 and 500, found {n}"),
            ))
        }
    };
    let filter = RunFilter {
        definition: query.definition.as_deref(),
        target: query.target.as_deref(),
        table: query.table.as_deref(),
        status,
        limit,
    };
    let runs = state.store.sync_runs().history(&filter).await?;
    Ok(Json(runs.into_iter().map(SyncRunView::from).collect()))
}
