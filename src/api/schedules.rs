//! `/api/v1/schedules`: the configuration's schedules as `dbfleet schedule
//! list --json` shows them, and the same pause, resume and trigger
//! ([`crate::fleet::scheduler`]). The schedules themselves are declared in
//! the configuration; the API switches them, it does not define them.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::error::{ApiError, ErrorBody};
use super::{shapes, ApiState};
use crate::fleet::scheduler::{self, Overview, TriggerError};
use crate::store::{Batch, ScheduleRun};
use utoipa::ToSchema;

/// Who the store records as having switched or triggered a schedule here.
const BY: &str = "api";

/// A schedule: its configuration, its state and its last run.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduleView {
    name: String,
    #[schema(value_type = shapes::Kind)]
    kind: String,
    /// The cron pattern, in the configuration's `timezone`.
    cron: String,
    /// Only the active instances matching this label selector.
    selector: Option<String>,
    paused: bool,
    /// Who paused or resumed it last.
    changed_by: Option<String>,
    last_run: Option<RunView>,
    /// When the next run starts; `null` while paused.
    next_start: Option<DateTime<Utc>>,
}

/// One run a schedule started.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunView {
    /// The cron time the run is for, or the moment of a manual trigger.
    slot: DateTime<Utc>,
    manual: bool,
    #[schema(value_type = uuid::Uuid)]
    batch_id: String,
    started_by: String,
    started_at: DateTime<Utc>,
}

impl From<ScheduleRun> for RunView {
    fn from(r: ScheduleRun) -> Self {
        Self {
            slot: r.slot,
            manual: r.manual,
            batch_id: r.batch_id.to_string(),
            started_by: r.started_by,
            started_at: r.started_at,
        }
    }
}

impl From<Overview> for ScheduleView {
    fn from(o: Overview) -> Self {
        Self {
            name: o.name,
            kind: o.kind.to_string(),
            cron: o.cron,
            selector: o.selector,
            paused: o.paused,
            changed_by: o.changed_by,
            last_run: o.last_run.map(RunView::from),
            next_start: o.next_start,
        }
    }
}

#[utoipa::path(get, operation_id = "list_schedules", path = "/schedules", tag = "schedules",
    responses((status = 200, description = "Every schedule of the configuration, in file order", body = Vec<ScheduleView>), (status = 401, description = "No token, or not `Bearer <token>`", body = ErrorBody), (status = 403, description = "Wrong token", body = ErrorBody)))]
pub async fn list(State(state): State<ApiState>) -> Result<Json<Vec<ScheduleView>>, ApiError> {
    let all = scheduler::overview(&state.store, &state.schedules, Utc::now()).await?;
    Ok(Json(all.into_iter().map(ScheduleView::from).collect()))
}

#[utoipa::path(post, operation_id = "pause_schedule", path = "/schedules/{name}/pause", tag = "schedules", params(("name" = String, Path, description = "The schedule's name")),
    responses((status = 200, description = "Paused on every control plane", body = ScheduleView), (status = 404, description = "Not found", body = ErrorBody), (status = 401, description = "No token, or not `Bearer <token>`", body = ErrorBody), (status = 403, description = "Wrong token", body = ErrorBody)))]
pub async fn pause(
    State(state): State<ApiState>,
    Path(name): Path<String>,
) -> Result<Json<ScheduleView>, ApiError> {
    state.switch(&name, true).await
}

#[utoipa::path(post, operation_id = "resume_schedule", path = "/schedules/{name}/resume", tag = "schedules", params(("name" = String, Path, description = "The schedule's name")),
    responses((status = 200, description = "Resumed: runs are owed from now on", body = ScheduleView), (status = 404, description = "Not found", body = ErrorBody), (status = 401, description = "No token, or not `Bearer <token>`", body = ErrorBody), (status = 403, description = "Wrong token", body = ErrorBody)))]
pub async fn resume(
    State(state): State<ApiState>,
    Path(name): Path<String>,
) -> Result<Json<ScheduleView>, ApiError> {
    state.switch(&name, false).await
}

/// Start the schedule's batch now, whatever its cron says.
#[utoipa::path(post, operation_id = "trigger_schedule", path = "/schedules/{name}/trigger", tag = "schedules", params(("name" = String, Path, description = "The schedule's name")),
    responses((status = 201, description = "The batch started", body = shapes::Batch), (status = 404, description = "Not found", body = ErrorBody), (status = 409, description = "A batch of its kind is still running", body = ErrorBody), (status = 401, description = "No token, or not `Bearer <token>`", body = ErrorBody), (status = 403, description = "Wrong token", body = ErrorBody)))]
pub async fn trigger(
    State(state): State<ApiState>,
    Path(name): Path<String>,
) -> Result<(StatusCode, Json<Batch>), ApiError> {
    let batch = state.scheduler().trigger(&name, BY, Utc::now()).await?;
    tracing::info!(schedule = %name, batch_id = %batch.id, "schedule triggered through the API");
    Ok((StatusCode::CREATED, Json(batch)))
}

impl ApiState {
    async fn switch(&self, name: &str, paused: bool) -> Result<Json<ScheduleView>, ApiError> {
        let now = Utc::now();
        scheduler::set_paused(&self.store, &self.schedules, (name, paused), BY, now).await?;
        let all = scheduler::overview(&self.store, &self.schedules, now).await?;
        let view = all.into_iter().find(|o| o.name == name);
        view.map(|o| Json(o.into()))
            .ok_or_else(|| ApiError::not_found(format!("no schedule named `{name}`")))
    }

    fn scheduler(&self) -> scheduler::Scheduler {
        let schedules = self.schedules.as_ref().clone();
        let name = format!("serve {}", std::process::id());
        scheduler::Scheduler::new(
            self.store.clone(),
            self.broker.clone(),
            schedules,
            self.batch_deadline,
            name,
        )
    }
}

impl From<TriggerError> for ApiError {
    fn from(e: TriggerError) -> Self {
        match e {
            unknown @ TriggerError::Unknown(_) => ApiError::not_found(unknown.to_string()),
            running @ TriggerError::Overlap(_) => ApiError::conflict(running.to_string()),
            TriggerError::Dispatch(e) => e.into(),
        }
    }
}
