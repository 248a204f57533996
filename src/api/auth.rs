//! The bearer token: required for every request that changes something,
//! and for reads when `api.read_requires_token` is set.
//!
//! The token is a `SecretString` resolved once at start-up from its
//! reference; it is never logged, echoed or put in an error. A missing or
//! malformed `Authorization` header is 401 (who are you?), a wrong token
//! 403 (not you).

use axum::extract::{Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

use super::error::ApiError;
use super::ApiState;

/// Who may do what: the token and whether reads need it.
#[derive(Clone)]
pub struct Guard {
    pub token: SecretString,
    pub read_requires_token: bool,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("read_requires_token", &self.read_requires_token)
            .finish_non_exhaustive()
    }
}

impl Guard {
    /// Whether `method` with this `Authorization` header value may go on.
    pub fn check(&self, method: &Method, authorization: Option<&[u8]>) -> Result<(), ApiError> {
        let read = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
        if read && !self.read_requires_token {
            return Ok(());
        }
        let Some(value) = authorization else {
            return Err(ApiError::unauthorized(
                "this request needs `Authorization: Bearer <token>`",
            ));
        };
        let Some(given) = bearer(value) else {
            return Err(ApiError::unauthorized(
                "the Authorization header must be `Bearer <token>`",
            ));
        };
        if same(given, self.token.expose_secret().as_bytes()) {
            Ok(())
        } else {
            Err(ApiError::forbidden())
        }
    }
}

/// The token of `Bearer <token>` (the scheme in any case), if well formed.
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = value.split_at_checked(7)?;
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return None;
    }
    let token = rest.trim_ascii();
    (!token.is_empty()).then_some(token)
}

/// Compare without an early exit on the first differing byte, so response
/// times say nothing about how much of a guess was right. `ct_eq` on
/// slices of different lengths returns at once: that reveals only the
/// length, which a generated token does not need to hide.
fn same(given: &[u8], token: &[u8]) -> bool {
    given.ct_eq(token).into()
}

/// The middleware in front of `/api/v1`.
pub async fn require(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes());
    match state.guard.check(request.method(), authorization) {
        Ok(()) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn each_header_gets_its_answer() {
        let guard = |reads| Guard {
            token: SecretString::from("s3cret-token"),
            read_requires_token: reads,
        };
        let check =
            |guard: &Guard, method: Method, header: Option<&str>, want: Option<StatusCode>| {
                let got = guard
                    .check(&method, header.map(str::as_bytes))
                    .err()
                    .map(|e| e.status);
                assert_eq!(got, want, "{method} {header:?}");
            };
        let open = guard(false);
        check(&open, Method::GET, None, None);
        check(&open, Method::POST, None, Some(StatusCode::UNAUTHORIZED));
        check(
            &open,
            Method::POST,
            Some("Basic abc"),
            Some(StatusCode::UNAUTHORIZED),
        );
        check(
            &open,
            Method::POST,
            Some("Bearer "),
            Some(StatusCode::UNAUTHORIZED),
        );
        check(
            &open,
            Method::DELETE,
            Some("Bearer wrong"),
            Some(StatusCode::FORBIDDEN),
        );
        check(&open, Method::PATCH, Some("bearer s3cret-token"), None);
        let closed = guard(true);
        check(&closed, Method::GET, None, Some(StatusCode::UNAUTHORIZED));
        check(
            &closed,
            Method::GET,
            Some("Bearer s3cret-tokem"),
            Some(StatusCode::FORBIDDEN),
        );
        check(&closed, Method::GET, Some("Bearer s3cret-token"), None);
    }
}
