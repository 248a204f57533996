//! The JSON HTTP API of `dbfleet serve`, under `/api/v1` on `api.listen`,
//! with `/healthz` and `/readyz` beside it.
//!
//! Layout: `auth.rs` the bearer token, `error.rs` the one error shape and
//! the extractors that produce it, then one file per resource
//! (`instances.rs`, `batches.rs`, `jobs.rs`, `capacity.rs`,
//! `dead_letters.rs`); `openapi.rs` the document generated from their
//! annotations, with `shapes.rs` describing the answers whose JSON the
//! library writes. Handlers are thin: they parse the request into the
//! library's validated types and call the store, `fleet::dispatcher` or
//! `fleet::dlq`, as the CLI does; nothing here folds results or touches SQL.

mod aggregates;
mod auth;
mod batches;
mod capacity;
mod dead_letters;
mod error;
mod instances;
mod jobs;
mod openapi;
mod outlook;
mod schedules;
mod shapes;
mod syncs;
mod trace;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{middleware, Router};
use tokio_util::sync::CancellationToken;

use crate::broker::Broker;
use crate::config::Settings;
use crate::store::Store;
use crate::tls::TlsMode;

pub use auth::Guard;
pub use error::ApiError;
pub use openapi::{document as openapi_document, ApiDoc};

/// Why the API could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the API is enabled without `api.token_env` or `api.token_file`")]
    NoToken,
    /// The reference names the variable or file, never the token.
    #[error("cannot read the API token: {0}")]
    Token(#[from] crate::secret::Error),
    #[error("the API token is empty")]
    EmptyToken,
    #[error("cannot listen on {addr}: {}", crate::endpoint::io_cause(.cause))]
    Bind {
        addr: SocketAddr,
        cause: std::io::Error,
    },
}

impl Error {
    /// A configuration problem (the token's reference), not a failure.
    pub fn is_config(&self) -> bool {
        !matches!(self, Error::Bind { .. })
    }
}

/// What every handler shares.
#[derive(Clone)]
pub struct ApiState {
    store: Store,
    broker: Arc<dyn Broker>,
    guard: Arc<Guard>,
    /// `batch.deadline`, for batches started here.
    batch_deadline: Duration,
    /// `instance_defaults.tls_mode`, for instances added here.
    default_tls: TlsMode,
    /// `capacity:`, for forecasts.
    capacity: Arc<crate::config::CapacitySettings>,
    /// `timezone`: the day a batch started here is for.
    timezone: chrono_tz::Tz,
    /// `schedules:`, to list, switch and trigger.
    schedules: Arc<Vec<crate::config::DeclaredSchedule>>,
}

impl ApiState {
    /// The token is resolved here, once: a missing one stops the start.
    pub fn new(settings: &Settings, store: Store, broker: Arc<dyn Broker>) -> Result<Self, Error> {
        use secrecy::ExposeSecret;
        let token = settings
            .api
            .token
            .as_ref()
            .ok_or(Error::NoToken)?
            .resolve()?;
        if token.expose_secret().trim().is_empty() {
            return Err(Error::EmptyToken);
        }
        Ok(Self {
            store,
            broker,
            guard: Arc::new(Guard {
                token,
                read_requires_token: settings.api.read_requires_token,
            }),
            batch_deadline: settings.batch.deadline,
            default_tls: settings.instance_tls_mode,
            capacity: Arc::new(settings.capacity.clone()),
            timezone: settings.timezone,
            schedules: Arc::new(settings.schedules.clone()),
        })
    }
}

impl ApiState {
    /// Today in the configured zone: the day a batch started here is for.
    fn today(&self) -> chrono::NaiveDate {
        chrono::Utc::now()
            .with_timezone(&self.timezone)
            .date_naive()
    }
}

/// Every route of `/api/v1`, behind the token, and the health probes.
pub fn router(state: ApiState, body_limit: usize) -> Router {
    let v1 = Router::new()
        .route("/instances", get(instances::list).post(instances::create))
        .route(
            "/instances/{name}",
            get(instances::get)
                .patch(instances::patch)
                .delete(instances::delete),
        )
        .route("/instances/{name}/databases", get(capacity::databases))
        .route("/instances/{name}/sizes", get(capacity::instance_sizes))
        .route(
            "/instances/{name}/databases/{database}/sizes",
            get(capacity::database_sizes),
        )
        .route("/capacity/databases", get(capacity::largest_databases))
        .route("/capacity/growth", get(capacity::growth))
        .route("/capacity/tables", get(outlook::largest_tables))
        .route("/capacity/summary", get(capacity::summary))
        .route("/capacity/forecast", get(outlook::forecasts))
        .route("/instances/{name}/tables", get(outlook::tables))
        .route("/instances/{name}/aggregates", get(aggregates::list))
        .route("/batches", get(batches::list).post(batches::start))
        .route("/batches/{id}", get(batches::show))
        .route("/batches/{id}/cancel", post(batches::cancel))
        .route("/batches/{id}/retry-failed", post(batches::retry_failed))
        .route("/jobs", post(jobs::enqueue))
        .route("/dead-letters", get(dead_letters::list))
        .route("/dead-letters/replay", post(dead_letters::replay_all))
        .route("/dead-letters/{id}/replay", post(dead_letters::replay_one))
        .route("/schedules", get(schedules::list))
        .route("/schedules/{name}/pause", post(schedules::pause))
        .route("/schedules/{name}/resume", post(schedules::resume))
        .route("/schedules/{name}/trigger", post(schedules::trigger))
        .route("/syncs", get(syncs::list))
        .route("/syncs/{name}/run", post(syncs::run))
        .route("/sync-runs", get(syncs::runs))
        .route("/openapi.json", get(openapi::serve))
        .fallback(not_found)
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::require));
    Router::new()
        .nest("/api/v1", v1)
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn(trace::request))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint")
}

async fn ready(State(state): State<ApiState>) -> (StatusCode, String) {
    crate::metrics::readiness(&state.store).await
}

/// Serve until `shutdown`; the address is bound before this returns, so a
/// port in use is an error at start-up.
pub async fn serve(
    settings: &Settings,
    store: Store,
    broker: Arc<dyn Broker>,
    shutdown: CancellationToken,
) -> Result<tokio::task::JoinHandle<()>, Error> {
    let state = ApiState::new(settings, store, broker)?;
    let addr = settings.api.listen;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|cause| Error::Bind { addr, cause })?;
    tracing::info!(%addr, "serving the HTTP API under /api/v1");
    let app = router(state, settings.api.body_limit);
    Ok(tokio::spawn(async move {
        let stopped = shutdown.cancelled_owned();
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(stopped)
            .await
        {
            tracing::warn!(error = %e, "the HTTP API stopped");
        }
    }))
}
