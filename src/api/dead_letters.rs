//! `/api/v1/dead-letters`: the messages the broker could not deliver, kept
//! by the control plane, as `dbfleet dlq list --json` shows them, and their
//! replay through the same library code as `dbfleet dlq replay`
//! ([`crate::fleet::dlq`]).
//!
//! A dead letter's body is never sent: it may be anything a producer
//! published. `preview` (its first characters) is what the CLI shows too.
//! Replaying one by id refuses (409) one already replayed, so a client that
//! retries a request whose answer it lost does not publish the job twice.

use axum::extract::{Path, State};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::batches::Page;
use super::error::{ApiError, ErrorBody, Params};
use super::ApiState;
use crate::fleet::dlq::{self, Replayed, Selection};
use crate::store::DeadLetter;
use utoipa::{IntoParams, ToSchema};

/// A dead letter as the API shows it: the fields of `dbfleet dlq list
/// --json`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLetterView {
    id: i64,
    /// The job id, for jobs.
    message_id: Option<String>,
    /// What the body decodes as: `job`, `result` or `unknown`.
    kind: String,
    /// Why the broker or a worker gave up on it.
    reason: String,
    /// The first 200 characters of the body (invalid UTF-8 replaced).
    preview: String,
    dead_at: DateTime<Utc>,
    /// When it was last published again; `null` until then.
    replayed_at: Option<DateTime<Utc>>,
}

impl From<DeadLetter> for DeadLetterView {
    fn from(d: DeadLetter) -> Self {
        // Named field by field, so a new field of `DeadLetter` is a
        // compile error here until someone decides whether to show it.
        let DeadLetter {
            id,
            message_id,
            kind,
            reason,
            body: _,
            preview,
            dead_at,
            replayed_at,
        } = d;
        Self {
            id,
            message_id,
            kind,
            reason,
            preview,
            dead_at,
            replayed_at,
        }
    }
}

/// One page of dead letters, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLetterPage {
    items: Vec<DeadLetterView>,
    /// The `cursor` of the next page; `null` on the last one.
    next_cursor: Option<String>,
}

/// What a replay did.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayOutcome {
    /// Published again and marked replayed, oldest first.
    replayed: Vec<i64>,
    /// Left alone by a replay of all: bodies that are neither a job nor a
    /// result would only be dead-lettered again (replay them by id).
    skipped_unknown: Vec<i64>,
}

impl From<Replayed> for ReplayOutcome {
    fn from(r: Replayed) -> Self {
        Self {
            replayed: r.replayed,
            skipped_unknown: r.skipped_unknown,
        }
    }
}

/// `GET /dead-letters`: not yet replayed ones unless `include_replayed`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Include dead letters already replayed (default `false`).
    include_replayed: Option<bool>,
    /// 1 to 500, default 50.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[utoipa::path(get, operation_id = "list_dead_letters", path = "/dead-letters", tag = "dead letters", params(ListQuery),
    responses((status = 200, description = "Dead letters, newest first", body = DeadLetterPage), (status = 400, description = "A bad field, named in `details.field`", body = ErrorBody)))]
pub async fn list(
    State(state): State<ApiState>,
    Params(query): Params<ListQuery>,
) -> Result<Json<DeadLetterPage>, ApiError> {
    let limit = Page::of(query.limit).limit()?;
    let after = query.cursor.as_deref().map(letter_id).transpose()?;
    let include_replayed = query.include_replayed.unwrap_or(false);
    let mut items = dlq::page(&state.store, include_replayed, limit + 1, after).await?;
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let more = items.len() > limit;
    items.truncate(limit);
    let next_cursor = items
        .last()
        .filter(|_| more)
        .map(|last| last.id.to_string());
    let items = items.into_iter().map(DeadLetterView::from).collect();
    Ok(Json(DeadLetterPage { items, next_cursor }))
}

fn letter_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::invalid("cursor", "not a cursor of this list"))
}

/// Publish one dead letter again, as `dbfleet dlq replay ID` does: a job
/// with a fresh deadline to the jobs queue, a result to the results queue,
/// any other body to the jobs queue as it is.
#[utoipa::path(post, operation_id = "replay_dead_letter", path = "/dead-letters/{id}/replay", tag = "dead letters", params(("id" = i64, Path, description = "The dead letter's id")),
    responses((status = 200, description = "Replayed", body = ReplayOutcome), (status = 400, description = "A bad field, named in `details.field`", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 409, description = "Already replayed", body = ErrorBody), (status = 401, description = "No token, or not `Bearer <token>`", body = ErrorBody), (status = 403, description = "Wrong token", body = ErrorBody)))]
pub async fn replay_one(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<ReplayOutcome>, ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::invalid("id", format!("`{id}` is not a dead letter id")))?;
    state.replay(Selection::Pending(&[id])).await
}

/// Publish every dead letter not replayed yet, as `dbfleet dlq replay
/// --all` does (bodies that are neither a job nor a result stay).
#[utoipa::path(post, operation_id = "replay_dead_letters", path = "/dead-letters/replay", tag = "dead letters",
    responses((status = 200, description = "Replayed", body = ReplayOutcome), (status = 401, description = "No token, or not `Bearer <token>`", body = ErrorBody), (status = 403, description = "Wrong token", body = ErrorBody)))]
pub async fn replay_all(State(state): State<ApiState>) -> Result<Json<ReplayOutcome>, ApiError> {
    state.replay(Selection::AllPending).await
}

impl ApiState {
    async fn replay(&self, selection: Selection<'_>) -> Result<Json<ReplayOutcome>, ApiError> {
        let done = dlq::replay(
            &self.store,
            self.broker.as_ref(),
            selection,
            self.batch_deadline,
        )
        .await?;
        tracing::info!(
            replayed = done.replayed.len(),
            "dead letters replayed through the API"
        );
        Ok(Json(done.into()))
    }
}

impl From<dlq::Error> for ApiError {
    fn from(e: dlq::Error) -> Self {
        match e {
            dlq::Error::Store(e) => e.into(),
            missing @ dlq::Error::NotFound(_) => ApiError::not_found(missing.to_string()),
            again @ dlq::Error::AlreadyReplayed { .. } => ApiError::conflict(again.to_string()),
            // The broker or the store failed: nothing the client can fix.
            other @ (dlq::Error::Publish { .. } | dlq::Error::Mark { .. }) => {
                ApiError::internal(&other)
            }
        }
    }
}
