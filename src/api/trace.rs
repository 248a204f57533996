//! One span per request, continuing the caller's trace: a system that
//! enqueues a job with a `traceparent` header finds that job in its own
//! trace (`POST /jobs`), and a batch it starts is a child of its request
//! while each of the batch's jobs is a trace of its own linked to it.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

/// Run the request in a server span whose parent is the caller's
/// `traceparent` (none: a trace of its own). Probes are not traced: an
/// orchestrator asks every few seconds, and each would be a trace.
pub async fn request(request: Request, next: Next) -> Response {
    if matches!(request.uri().path(), "/healthz" | "/readyz") {
        return next.run(request).await;
    }
    let method = request.method().as_str().to_string();
    let span = tracing::info_span!(
        parent: None,
        "request",
        otel.name = %method,
        otel.kind = "server",
        http.request.method = %method,
        url.path = %request.uri().path(),
        http.response.status_code = tracing::field::Empty,
    );
    crate::traces::set_parent(&span, crate::traces::extract_http(request.headers()));
    let response = next.run(request).instrument(span.clone()).await;
    span.record("http.response.status_code", response.status().as_u16());
    response
}
