//! The OpenAPI 3.1 document of `/api/v1`, generated from the handlers'
//! annotations and the request types, served at `/api/v1/openapi.json`
//! and committed as `docs/openapi.json` (a test fails when they differ).

use axum::Json;
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, Ref};
use utoipa::{Modify, OpenApi};

use super::error::{ErrorBody, ErrorDetail};
use super::{
    aggregates, batches, capacity, dead_letters, instances, jobs, outlook, schedules, syncs,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "dbfleet API",
        description = "Instances, batches, jobs, schedules, data syncs, capacity history and dead letters of a dbfleet fleet. \
            Writes need `Authorization: Bearer <token>`; reads too when \
            `api.read_requires_token` is set."
    ),
    servers((url = "/api/v1")),
    paths(
        instances::list,
        instances::create,
        instances::get,
        instances::patch,
        instances::delete,
        capacity::databases,
        capacity::instance_sizes,
        capacity::database_sizes,
        capacity::largest_databases,
        capacity::growth,
        capacity::summary,
        outlook::tables,
        outlook::largest_tables,
        outlook::forecasts,
        aggregates::list,
        batches::list,
        batches::start,
        batches::show,
        batches::cancel,
        batches::retry_failed,
        jobs::enqueue,
        dead_letters::list,
        dead_letters::replay_one,
        dead_letters::replay_all,
        schedules::list,
        schedules::pause,
        schedules::resume,
        schedules::trigger,
        syncs::list,
        syncs::run,
        syncs::runs,
    ),
    components(schemas(ErrorBody, ErrorDetail)),
    modifiers(&BearerToken, &CommonAnswers),
    security(("bearer" = []))
)]
pub struct ApiDoc;

/// The `bearer` security scheme the document's `security` names.
struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let scheme = HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build();
        components.add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// The error answers any operation may give, added where its annotation
/// does not list them, so that no operation's list forgets one: 401 and 403
/// (reads too, when `api.read_requires_token` is set), 500, and 400 where
/// the request carries anything to get wrong (413 and 422 with a body).
struct CommonAnswers;

impl Modify for CommonAnswers {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            operations
                .into_iter()
                .flatten()
                .for_each(add_common_answers);
        }
    }
}

fn add_common_answers(operation: &mut Operation) {
    let has_body = operation.request_body.is_some();
    let has_params = operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
    let mut answers = vec![
        ("401", "No token, or not `Bearer <token>`"),
        ("403", "Wrong token"),
        (
            "500",
            "An internal failure; its cause stays in the server's log",
        ),
    ];
    if has_body || has_params {
        answers.push(("400", "A bad field, named in `details.field`"));
    }
    if has_body {
        answers.extend([("413", "Body too large"), ("422", "Malformed JSON")]);
    }
    for (status, description) in answers {
        let answer = || {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    Content::new(Some(Ref::from_schema_name("ErrorBody"))),
                )
                .into()
        };
        operation
            .responses
            .responses
            .entry(status.to_string())
            .or_insert_with(answer);
    }
}

/// The document as committed: pretty JSON and a final newline.
pub fn document() -> String {
    let text = ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    format!("{text}\n")
}

pub async fn serve() -> Json<serde_json::Value> {
    Json(serde_json::to_value(ApiDoc::openapi()).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    /// Regenerate with `DBFLEET_WRITE_OPENAPI=1 cargo test -p dbfleet --lib openapi`.
    #[test]
    fn the_committed_document_is_the_generated_one() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json");
        let generated = super::document();
        if std::env::var_os("DBFLEET_WRITE_OPENAPI").is_some() {
            std::fs::write(path, &generated).unwrap_or_default();
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == generated,
            "docs/openapi.json is stale: run DBFLEET_WRITE_OPENAPI=1 cargo test -p dbfleet --lib openapi"
        );
    }
}
