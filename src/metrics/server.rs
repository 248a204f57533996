//! The HTTP endpoint of `telemetry.metrics_addr`: `/metrics` (Prometheus
//! text format), `/healthz` (the process answers: 200) and `/readyz` (200
//! when [`super::Health`] and the control store say so, 503 with the
//! reason otherwise).

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tokio_util::sync::CancellationToken;

use crate::store::Store;

/// How long a readiness probe waits for the control store.
const STORE_CHECK: Duration = Duration::from_secs(2);

/// Serve until `shutdown`; the address is bound before this returns, so a
/// port in use is an error at start-up.
pub async fn serve(
    addr: SocketAddr,
    store: Store,
    shutdown: CancellationToken,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(%addr, "serving /metrics, /healthz and /readyz");
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .with_state(store);
    Ok(tokio::spawn(async move {
        let stopped = shutdown.cancelled_owned();
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(stopped)
            .await
        {
            tracing::warn!(error = %e, "the metrics endpoint stopped");
        }
    }))
}

async fn metrics() -> impl IntoResponse {
    let content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    (
        [(header::CONTENT_TYPE, content_type)],
        super::metrics().render(),
    )
}

async fn ready(State(store): State<Store>) -> (StatusCode, String) {
    readiness(&store).await
}

/// The `/readyz` answer, shared with the API's listener.
pub async fn readiness(store: &Store) -> (StatusCode, String) {
    if let Some(why) = super::health().not_ready() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        );
    }
    match tokio::time::timeout(STORE_CHECK, store.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ready\n".to_string()),
        Ok(Err(e)) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {e}\n")),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the control store does not answer\n".to_string(),
        ),
    }
}
