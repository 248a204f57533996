//! Other systems' clients, black-box, in Python from the pinned virtual
//! environment (`support::python`): the README's pika producer runs as
//! documented against a fleet world, and the API is checked against its
//! OpenAPI document by a validator and by schemathesis.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../tests/common/mod.rs"]
#[macro_use]
mod common;
mod support;

use std::process::Output;

use common::{eventually, Fleet, World};
use dbfleet::domain::BatchId;
use dbfleet::store::{Batch, BatchStatus};
use reqwest::StatusCode;
use secrecy::ExposeSecret;
use serde_json::json;
use support::api::{file_day, file_tables, pg_instance, Api};
use support::python;

const BEGIN: &str = "<!-- python-producer-example:begin -->";
const END: &str = "<!-- python-producer-example:end -->";

/// The Python code between the README's markers, without its fence.
fn readme_example() -> String {
    let readme = std::fs::read_to_string(common::repo_root().join("README.md")).unwrap();
    let (_, rest) = readme.split_once(BEGIN).expect("the README's begin marker");
    let (block, _) = rest.split_once(END).expect("the README's end marker");
    let code = block
        .trim()
        .strip_prefix("```python")
        .expect("a python block");
    code.strip_suffix("```")
        .expect("a closed block")
        .to_string()
}

/// Run a Python command off the async runtime; it must succeed.
async fn succeeds(mut command: std::process::Command) -> Output {
    let out = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Run the README's producer on `world` for `instance` (in `zone`, if
/// any), and wait for its job's batch of one to end.
async fn produce(world: &World, venv: &python::Venv, instance: &str, zone: Option<&str>) -> Batch {
    let files = support::Files::new();
    let script = files.write("producer.py", &readme_example());
    let url = world.settings.broker.url.as_ref().unwrap().expose_secret();
    let mut producer = venv.python();
    producer
        .arg(&script)
        .env("DBFLEET_AMQP_URL", url)
        .env("DBFLEET_PREFIX", &world.settings.broker.prefix)
        .env("DBFLEET_INSTANCE", instance)
        .env("DBFLEET_KIND", "probe")
        .env_remove("DBFLEET_ZONE");
    if let Some(zone) = zone {
        producer.env("DBFLEET_ZONE", zone);
    }
    let out = succeeds(producer).await;
    let job_id: BatchId = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    // A job on its own is a batch of one, keyed by the job id.
    eventually("the job's result is folded", || async {
        let batch = world.store.batches().get(job_id).await.unwrap()?;
        batch.status.is_terminal().then_some(batch)
    })
    .await
}

/// The one job of a batch of one: succeeded, on `worker`.
async fn ran_on(world: &World, batch: &Batch, worker: &str) {
    assert_eq!(batch.status, BatchStatus::Success, "{batch:?}");
    assert_eq!(batch.requested_by.as_deref(), Some("python-example"));
    let jobs = world.store.batches().jobs(batch.id).await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(
        (jobs[0].job_id.0, jobs[0].status.as_str()),
        (batch.id.0, "succeeded")
    );
    assert_eq!(jobs[0].worker.as_deref(), Some(worker));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_producer_example_runs_a_job() {
    let world = World::new().await;
    let api = Api::start(&world, &[]).await;
    let mut fleet = Fleet::new();
    fleet.worker(&world, "worker-0");
    fleet.worker_in_zone(&world, "worker-eu", "eu").await;
    api.post("/instances", pg_instance("orders-db", json!({})))
        .await;
    let in_eu = pg_instance("orders-eu", json!({"zone": "eu"}));
    api.post("/instances", in_eu).await;
    // As a batch would, so the zone's queue is there before the publish.
    world.broker.declare_zone("eu").await.unwrap();
    let venv = tokio::task::spawn_blocking(python::venv).await.unwrap();

    let batch = produce(&world, &venv, "orders-db", None).await;
    ran_on(&world, &batch, "worker-0").await;
    let batch = produce(&world, &venv, "orders-eu", Some("eu")).await;
    ran_on(&world, &batch, "worker-eu").await;
    fleet.stop().await;
    api.stop();
    world.delete_zone_queues(&["eu"]).await;
    world.teardown().await;
}

/// The checks of the API's contract: no 5xx, and every status, content type
/// and body as the document declares it for that operation.
const CHECKS: &str = "not_a_server_error,status_code_conformance,\
    content_type_conformance,response_schema_conformance";

/// A schemathesis configuration that gives each operation these
/// parameters (TOML's inline tables) instead of generated ones.
fn pinned(operations: &[(&str, &str)]) -> String {
    operations
        .iter()
        .map(|(name, parameters)| {
            format!("[[operations]]\ninclude-name = \"{name}\"\nparameters = {{ {parameters} }}\n")
        })
        .collect()
}

/// File the aggregates of the current periods of `db` (an `aggregate`
/// job run here), so their full answer is checked too.
async fn aggregate_today(world: &World, today: &str) {
    use dbfleet::jobs::{Aggregate, Clock, Context, Job};
    let name = "db".parse().unwrap();
    let instance = world.store.instances().by_name(&name).await.unwrap();
    let instance = instance.unwrap();
    let clock = Clock::system(world.settings.timezone);
    let (store, filters, limits) = (&world.store, &world.filters, &world.settings.job);
    let ctx = Context::new(&instance, store, filters, limits, clock);
    let params = dbfleet::message::aggregate::Params {
        current: true,
        date: Some(today.parse().unwrap()),
        ..Default::default()
    };
    Aggregate::run(&ctx, &params).await.unwrap();
    ctx.file().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_answers_as_its_openapi_document_says() {
    let world = World::new().await;
    let api = Api::start(&world, &[]).await;
    // Something to read, besides the answers to made-up names: an
    // instance with a day of sizes, a batch and a job (no worker: they
    // stay pending), and a dead letter.
    let (_, db) = api
        .post("/instances", pg_instance("db", json!({"env": "prod"})))
        .await;
    let today = chrono::Utc::now().date_naive();
    let yesterday = (today - chrono::Duration::days(1)).to_string();
    let today = today.to_string();
    let db_id = db["id"].as_i64().unwrap();
    file_day(&world, db_id, &yesterday, &[("orders", 10), ("billing", 3)]).await;
    let sizes = [("orders", 12), ("billing", 3)];
    file_day(&world, db_id, &today, &sizes).await;
    file_tables(&world, db_id, &today, "orders", &[("public.lines", 4096)]).await;
    let (_, batch) = api.post("/batches", json!({"kind": "probe"})).await;
    let dead = world.store.dead_letters();
    let letter = dead.record(None, "unknown", "test: kept", b"not json");
    let letter = format!("id = {}", letter.await.unwrap());
    let job = json!({"kind": "probe", "instance": "db"});
    assert_eq!(api.post("/jobs", job).await.0, StatusCode::CREATED);
    aggregate_today(&world, &today).await;
    let venv = tokio::task::spawn_blocking(python::venv).await.unwrap();
    let document = common::repo_root().join("docs/openapi.json");
    let mut validator = venv.script("openapi-spec-validator");
    validator.arg(&document);
    succeeds(validator).await;

    // Its own directory, for what schemathesis leaves behind, and the
    // reads pinned to what exists, so the shapes of full answers are checked.
    let files = support::Files::new();
    let batch = format!("id = \"{}\"", batch["id"].as_str().unwrap());
    let config = pinned(&[
        ("GET /batches/{id}", &batch),
        ("POST /dead-letters/{id}/replay", &letter),
        ("GET /instances/{name}", "name = \"db\""),
        ("GET /instances/{name}/databases", "name = \"db\""),
        ("GET /instances/{name}/sizes", "name = \"db\""),
        ("GET /instances/{name}/tables", "name = \"db\""),
        ("GET /instances/{name}/aggregates", "name = \"db\""),
        ("GET /capacity/growth", "instance = \"db\""),
        ("GET /capacity/tables", "instance = \"db\""),
        (
            "GET /instances/{name}/databases/{database}/sizes",
            "name = \"db\", database = \"orders\"",
        ),
    ]);
    let config = files.write("schemathesis.toml", &config);
    let mut schemathesis = venv.script("schemathesis");
    schemathesis
        .current_dir(&files.0)
        .arg("--config-file")
        .arg(&config)
        .arg("run")
        .arg(&document)
        .args(["--url", &format!("{}/api/v1", api.base)])
        .args(["--header", &format!("Authorization: Bearer {}", api.token)])
        .args(["--checks", CHECKS])
        .args([
            "--max-examples",
            "25",
            "--seed",
            "20260314",
            // One worker: this machine's CPython 3.11 can fail `ast.parse`
            // called from two threads at once ("AST constructor recursion
            // depth mismatch"), which hypothesis does while describing
            // its strategies; a crash of the tool, not a finding.
            "--workers",
            "1",
        ])
        .args(["--generation-database", "none", "--no-color"])
        .args(["--request-timeout", "10", "--max-failures", "20"]);
    succeeds(schemathesis).await;
    api.stop();
    world.teardown().await;
}
