//! `POST /api/v1/jobs`: one job of any kind on one instance, as a batch of
//! one. With an `Idempotency-Key` header, a retried request (a timeout, a
//! lost answer) gets the job its first attempt created instead of a second
//! one: the key is kept in the control store with the batch, under a
//! unique constraint (`store::idempotency`).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::batches::{kind, params, REQUESTED_BY};
use super::error::{ApiError, Body, ErrorBody};
use super::{shapes, ApiState};
use crate::domain::InstanceId;
use crate::fleet::dispatcher::{self, BatchRequest, Selection};
use crate::message::JobParams;
use crate::store::{Batch, Claim, IdempotencyKey, Instance, Keyed};
use utoipa::ToSchema;

/// The header, and the longest key kept (the store's column).
const HEADER: &str = "idempotency-key";
const MAX_KEY: usize = 255;

/// An instance by name (`"pay-prod"`) or by id (`42`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum InstanceKey {
    Id(i64),
    Name(String),
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnqueueJob {
    #[schema(value_type = shapes::Kind)]
    kind: String,
    /// The job's parameters, as the kind's schema has them (its defaults
    /// when absent).
    #[schema(value_type = Option<Object>)]
    params: Option<Value>,
    instance: InstanceKey,
}

#[utoipa::path(post, operation_id = "enqueue_job", path = "/jobs", tag = "jobs", request_body = EnqueueJob,
    params(("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key gets the same job")),
    responses((status = 201, description = "The job and its batch of one", body = shapes::Enqueued),
        (status = 200, description = "The job an earlier request with this key created", body = shapes::Enqueued),
        (status = 400, description = "A bad field, named in `details.field`", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 409, description = "Conflict", body = ErrorBody), (status = 401, description = "No token, or not `Bearer <token>`", body = ErrorBody), (status = 403, description = "Wrong token", body = ErrorBody), (status = 413, description = "Body too large", body = ErrorBody), (status = 422, description = "Malformed JSON", body = ErrorBody)))]
pub async fn enqueue(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Body(body): Body<EnqueueJob>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let kind = kind(&body.kind)?;
    let asked = params(kind, body.params)?;
    let params = asked.clone().settled(state.today());
    let key = idempotency_key(&headers)?;
    let instance = instance(&state, &body.instance).await?;
    let names = [instance.name.clone()];
    let request = BatchRequest {
        params: &params,
        selection: Selection::Named(&names),
        deadline: state.batch_deadline,
        requested_by: Some(REQUESTED_BY),
        // One job someone asked for: the interactive lane.
        interactive: true,
    };
    let (store, broker) = (&state.store, state.broker.as_ref());
    let Some(key) = key else {
        let batch = dispatcher::start_batch(store, broker, &request).await?;
        return answer(&state, StatusCode::CREATED, batch).await;
    };
    // The parameters as they mean, not as they were written: absent, `{}`
    // and the defaults spelt out are one request.
    let mut fingerprint = format!("{} {}", kind.as_str(), instance.id);
    if asked != JobParams::default_for(kind) {
        fingerprint = format!("{fingerprint} {}", asked.to_json());
    }
    let keyed = IdempotencyKey {
        key: &key,
        request: &fingerprint,
    };
    match dispatcher::start_batch_once(store, broker, &request, Claim::Key(keyed)).await? {
        Keyed::Created(batch) => answer(&state, StatusCode::CREATED, batch).await,
        Keyed::Existing(batch) => answer(&state, StatusCode::OK, batch).await,
        Keyed::Reused => Err(ApiError::unprocessable(
            "idempotency_key_reused",
            "this Idempotency-Key was used for another request",
        )),
    }
}

/// The key of the header, if sent: 1 to 255 visible ASCII characters.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(HEADER) else {
        return Ok(None);
    };
    let invalid = || ApiError::invalid("Idempotency-Key", "use 1 to 255 visible ASCII characters");
    let key = value.to_str().map_err(|_| invalid())?.trim();
    let visible = key.bytes().all(|b| b.is_ascii_graphic());
    if key.is_empty() || key.len() > MAX_KEY || !visible {
        return Err(invalid());
    }
    Ok(Some(key.to_string()))
}

async fn instance(state: &ApiState, key: &InstanceKey) -> Result<Instance, ApiError> {
    match key {
        InstanceKey::Name(name) => super::instances::by_name(state, name).await,
        InstanceKey::Id(id) => state
            .store
            .instances()
            .get(InstanceId(*id))
            .await?
            .ok_or_else(|| ApiError::not_found(format!("no instance with id {id}"))),
    }
}

/// The job and its batch.
async fn answer(
    state: &ApiState,
    status: StatusCode,
    batch: Batch,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let jobs = state.store.batches().jobs(batch.id).await?;
    let job = jobs.into_iter().next();
    Ok((status, Json(json!({ "job": job, "batch": batch }))))
}
