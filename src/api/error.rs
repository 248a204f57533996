//! The one error shape of the API, `{"error": {"code", "message",
//! "details"}}`, and the extractors that turn a bad request into it.
//!
//! A failure the client cannot fix (the store is down, a row is corrupt)
//! is logged here with its cause and answered as a bare 500: SQL, hosts and
//! paths of the server stay on the server.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use crate::fleet::dispatcher;
use crate::fleet::sync::PlanError;
use crate::store;

/// An error answer: its status, a stable code, words for people and, when
/// it helps, structured details (the field at fault).
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Value,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: Value::Null,
        }
    }

    /// A request that names a bad value: `field` says which.
    pub fn invalid(field: &str, message: impl std::fmt::Display) -> Self {
        let mut e = Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("{field}: {message}"),
        );
        e.details = json!({ "field": field });
        e
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// Well-formed, but not something the server can do (422).
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden() -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "the token is not valid")
    }

    /// Logged with its cause; the client learns only that it happened.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "API request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; the server's log has the details",
        )
    }
}

/// The error shape, for the OpenAPI document (answers are built from
/// [`ApiError`] directly).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable, for programs: `invalid_request`, `malformed_json`,
    /// `unauthorized`, `forbidden`, `not_found`, `conflict`,
    /// `payload_too_large`, `idempotency_key_reused`, `internal`.
    code: String,
    /// For people.
    message: String,
    /// `{"field": …}` for a bad field; `null` otherwise.
    details: Value,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "error": { "code": self.code, "message": self.message, "details": self.details }
        });
        (self.status, Json(body)).into_response()
    }
}

impl From<store::Error> for ApiError {
    fn from(e: store::Error) -> Self {
        match e {
            store::Error::NotFound(what) => ApiError::not_found(what),
            // Conflicts the store words for operators (a name taken); a
            // corrupt row is also a `Conflict` and is not the client's.
            store::Error::Conflict(what) if !what.starts_with("corrupt") => {
                ApiError::conflict(what)
            }
            other => ApiError::internal(&other),
        }
    }
}

impl From<dispatcher::Error> for ApiError {
    fn from(e: dispatcher::Error) -> Self {
        match e {
            dispatcher::Error::Store(e) => e.into(),
            dispatcher::Error::UnknownInstances(names) => {
                ApiError::not_found(format!("unknown instance(s): {names}"))
            }
            dispatcher::Error::DisabledInstances(names) => {
                ApiError::conflict(format!("disabled instance(s): {names} (enable them first)"))
            }
            dispatcher::Error::NotFound(id) => ApiError::not_found(format!("batch {id} not found")),
            zone @ dispatcher::Error::Zone { .. } => ApiError::internal(&zone),
            dispatcher::Error::Sync(e @ PlanError::Disabled(_)) => {
                ApiError::conflict(e.to_string())
            }
            dispatcher::Error::Sync(e) => ApiError::not_found(e.to_string()),
        }
    }
}

/// A JSON request body: too large is 413, not JSON at all is 422, JSON of
/// the wrong shape (a missing, unknown or mistyped field) is 400 naming it.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|rejection| match rejection.status() {
                StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    "the request body is too large",
                ),
                _ => ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    rejection.body_text(),
                ),
            })?;
        parse_body(&bytes).map(Body)
    }
}

fn parse_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => {
                let mut error =
                    ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", e.to_string());
                if let Some(field) = field_of(&e.to_string()) {
                    error.details = json!({ "field": field });
                }
                error
            }
            Category::Io | Category::Syntax | Category::Eof => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "malformed_json",
                format!("the body is not valid JSON: {e}"),
            ),
        }
    })
}

/// The field serde's message names between backticks, if any.
fn field_of(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(&message[start..start + len])
}

/// The parameter a query rejection names: serde's backticks, or the path
/// axum puts before the problem (`…query string: from: input contains…`).
fn query_field(message: &str) -> Option<&str> {
    let problem = message
        .split_once("query string: ")
        .map_or(message, |(_, p)| p);
    let path = problem.split_once(": ").map(|(path, _)| path);
    let is_name =
        |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    path.filter(is_name).or_else(|| field_of(message))
}

/// Query parameters; a bad one is a 400 naming it.
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        axum::extract::Query::try_from_uri(&parts.uri)
            .map(|axum::extract::Query(value)| Params(value))
            .map_err(|e| {
                let text = e.body_text();
                let field = query_field(&text).map(str::to_string);
                let mut error = ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    format!("query `{query}`: {text}"),
                );
                if let Some(field) = field {
                    error.details = json!({ "field": field });
                }
                error
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_sorted_into_malformed_and_invalid() {
        let check = |body: &str, status: StatusCode| {
            #[derive(Debug, serde::Deserialize)]
            #[serde(deny_unknown_fields)]
            #[allow(dead_code)]
            struct Shape {
                kind: String,
            }
            let got = parse_body::<Shape>(body.as_bytes())
                .map(|_| ())
                .map_err(|e| e.status);
            assert_eq!(got.err(), Some(status), "{body}");
        };
        check("{", StatusCode::UNPROCESSABLE_ENTITY);
        check("not json", StatusCode::UNPROCESSABLE_ENTITY);
        check("{}", StatusCode::BAD_REQUEST);
        check(r#"{"kind": 1}"#, StatusCode::BAD_REQUEST);
        check(r#"{"kind": "a", "other": 1}"#, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn store_failures_keep_their_words_on_the_server() {
        let check = |e: store::Error, status: StatusCode| {
            let words = e.to_string();
            let answer = ApiError::from(e);
            assert_eq!(answer.status, status, "{words}");
            if status == StatusCode::INTERNAL_SERVER_ERROR {
                assert!(!answer.message.contains(&words), "{}", answer.message);
                assert_eq!(answer.code, "internal");
            }
        };
        check(
            store::Error::SchemaMissing,
            StatusCode::INTERNAL_SERVER_ERROR,
        );
        check(
            store::Error::UnsupportedUrl,
            StatusCode::INTERNAL_SERVER_ERROR,
        );
        let corrupt = store::Error::Conflict("corrupt instance row: port 99999".into());
        check(corrupt, StatusCode::INTERNAL_SERVER_ERROR);
        check(
            store::Error::Conflict("name taken".into()),
            StatusCode::CONFLICT,
        );
        check(
            store::Error::NotFound("batch x".into()),
            StatusCode::NOT_FOUND,
        );
    }

    #[test]
    fn the_field_is_found_in_serde_words() {
        assert_eq!(field_of("missing field `kind` at line 1"), Some("kind"));
        assert_eq!(field_of("no field here"), None);
        let bad_date =
            "Failed to deserialize query string: from: input contains invalid characters";
        assert_eq!(query_field(bad_date), Some("from"));
        let unknown =
            "Failed to deserialize query string: unknown field `lmit`, expected one of `limit`";
        assert_eq!(query_field(unknown), Some("lmit"));
    }
}
