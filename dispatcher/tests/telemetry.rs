//! What operators follow a fleet by, black-box. One trace per job: the
//! real processes export their spans
//! over OTLP/HTTP to a receiver in this test, which decodes them; the
//! test then follows each job from its publish through the broker to the
//! worker and back to the fold. On RabbitMQ (`dbfleet serve`, a
//! `dbfleet-worker` process and `dbfleet batch start`) and on the
//! in-process queue (`dbfleet run`). And the control plane's view of its
//! queues in `/metrics`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../tests/common/mod.rs"]
#[macro_use]
mod common;
#[path = "support/otlp.rs"]
mod otlp;
mod support;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use common::{eventually, Backend, World};
use otlp::{Got, Receiver, CONSUMER, PRODUCER, SERVER};
use secrecy::ExposeSecret;
use serde_json::{json, Value};

/// Environment that sends a process's spans to `receiver`, promptly.
fn exporting(receiver: &Receiver) -> Vec<(&'static str, String)> {
    vec![
        ("DBFLEET__TELEMETRY__OTLP_ENDPOINT", receiver.url.clone()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100".to_string()),
    ]
}

/// `program ARGS` on `world`, exporting to `receiver`, logging JSON.
fn spawn(program: PathBuf, world: &World, args: &[&str], env: &[(&str, String)]) -> Child {
    let store = world.settings.store.url.as_ref().unwrap().expose_secret();
    let broker = world.settings.broker.url.as_ref().unwrap().expose_secret();
    Command::new(program)
        .current_dir(common::repo_root())
        .args(["--config", "config/dbfleet.yaml"])
        .args(args)
        .env("DBFLEET__STORE__URL", store)
        .env("DBFLEET__BROKER__URL", broker)
        .env("DBFLEET__BROKER__PREFIX", &world.settings.broker.prefix)
        .env("DBFLEET__LOG__FORMAT", "json")
        .env("DBFLEET__LOG__LEVEL", "info")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn dbfleet_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_dbfleet"))
}

/// The worker binary, built beside `dbfleet` by `cargo test --workspace`.
fn worker_bin() -> PathBuf {
    let bin = dbfleet_bin().with_file_name("dbfleet-worker");
    assert!(
        bin.exists(),
        "{} is built by `cargo test --workspace`",
        bin.display()
    );
    bin
}

/// SIGTERM, then what the process wrote on stderr (its spans are flushed
/// on the way out).
fn stop(child: Child) -> String {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// The spans of one job, found by its id.
struct JobTrace<'a> {
    job_id: String,
    spans: Vec<&'a Got>,
}

impl<'a> JobTrace<'a> {
    fn of(all: &'a [Got], job_id: &str) -> Self {
        let publish = all
            .iter()
            .find(|s| is_job_publish(s) && s.attr("dbfleet.job_id") == Some(job_id))
            .unwrap_or_else(|| panic!("no publish span for job {job_id}"));
        let spans = all
            .iter()
            .filter(|s| s.trace_id == publish.trace_id)
            .collect();
        Self {
            job_id: job_id.to_string(),
            spans,
        }
    }

    fn trace_id(&self) -> &str {
        &self.publish().trace_id
    }

    fn one(&self, what: &str, matches: impl Fn(&Got) -> bool) -> &'a Got {
        let found: Vec<&&Got> = self.spans.iter().filter(|s| matches(s)).collect();
        assert_eq!(
            found.len(),
            1,
            "job {}: one {what} span: {:#?}",
            self.job_id,
            self.spans
        );
        found[0]
    }

    fn publish(&self) -> &'a Got {
        self.one("publish", is_job_publish)
    }

    /// The worker's processing of the job, with everything it did in it.
    fn processed(&self) -> &'a Got {
        self.one("worker process", |s| {
            s.kind == CONSUMER && s.attributes.contains_key("job_id")
        })
    }

    fn result_published(&self, worker: &str) -> &'a Got {
        self.one("result publish", |s| {
            s.kind == PRODUCER && s.service == worker && !is_job_publish(s)
        })
    }

    fn result_processed(&self) -> &'a Got {
        self.one("result process", |s| {
            s.kind == CONSUMER && s.attr("dbfleet.status").is_some()
        })
    }

    fn named(&self, name: &str) -> &'a Got {
        self.one(name, |s| s.name == name)
    }

    /// The publish → process → result → fold chain, each the parent of
    /// the next, with `worker` the service that ran the job.
    fn assert_chain(&self, worker: &str, system: &str, exchange: &str, batch: &Got) {
        let publish = self.publish();
        assert_eq!(publish.attr("messaging.system"), Some(system));
        assert_eq!(publish.attr("messaging.destination.name"), Some(exchange));
        assert_eq!(
            publish.attr("messaging.message.id"),
            Some(self.job_id.as_str())
        );
        let key = publish.attr("messaging.rabbitmq.destination.routing_key");
        assert!(key.unwrap().ends_with("job.capacity_sync"), "{publish:#?}");
        assert_eq!(publish.attr("dbfleet.kind"), Some("capacity_sync"));
        assert!(
            publish.attr("dbfleet.instance_id").is_some(),
            "{publish:#?}"
        );
        assert!(publish.attr("dbfleet.engine").is_some(), "{publish:#?}");
        assert_eq!(
            publish.links,
            vec![(batch.trace_id.clone(), batch.span_id.clone())],
            "the job's trace links to its batch's span"
        );
        let processed = self.processed();
        assert_eq!(processed.service, worker);
        assert_eq!(
            processed.parent_span_id, publish.span_id,
            "worker ← publish"
        );
        assert_eq!(processed.attr("job_id"), Some(self.job_id.as_str()));
        assert_eq!(processed.attr("messaging.system"), Some(system));
        let connect = self.named("connect");
        assert_eq!(
            connect.parent_span_id, processed.span_id,
            "connect ← worker"
        );
        let sent = self.result_published(worker);
        assert_eq!(
            sent.parent_span_id, processed.span_id,
            "result publish ← worker"
        );
        let received = self.result_processed();
        assert_eq!(received.service, "dbfleet");
        assert_eq!(
            received.parent_span_id, sent.span_id,
            "result process ← result publish"
        );
        let fold = self.named("fold");
        assert_eq!(
            fold.parent_span_id, received.span_id,
            "fold ← result process"
        );
    }
}

/// A job's publish by the control plane (to `job.*`, or `interactive.job.*`
/// for a job enqueued on its own; a result's goes to `result.*`).
fn is_job_publish(span: &Got) -> bool {
    let key = span.attr("messaging.rabbitmq.destination.routing_key");
    span.kind == PRODUCER
        && span.service == "dbfleet"
        && key.is_some_and(|k| !k.starts_with("result."))
}

/// The batch's own span (a trace of its own), found by its id.
fn batch_span<'a>(all: &'a [Got], batch_id: &str) -> &'a Got {
    all.iter()
        .find(|s| {
            s.name == "start batch capacity_sync" && s.attr("dbfleet.batch_id") == Some(batch_id)
        })
        .unwrap_or_else(|| panic!("no span for batch {batch_id}"))
}

fn job_ids(batch: &Value) -> Vec<String> {
    batch["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["job_id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_job_is_one_trace_through_rabbitmq_and_a_callers_trace_is_continued() {
    let receiver = Receiver::start().await;
    let world = World::new().await;
    world.add_postgres("traced-pg").await;
    world.add_unreachable("traced-down").await;
    let mut env = exporting(&receiver);
    let worker = spawn(worker_bin(), &world, &[], &env);
    let token = format!("tok-{}", world.tag);
    let port = common::closed_port();
    env.extend([
        ("DBFLEET__API__ENABLED", "true".to_string()),
        ("DBFLEET__API__LISTEN", format!("127.0.0.1:{port}")),
        (
            "DBFLEET__API__TOKEN_ENV",
            "DBFLEET_TEST_API_TOKEN".to_string(),
        ),
        ("DBFLEET_TEST_API_TOKEN", token.clone()),
    ]);
    let serve = spawn(dbfleet_bin(), &world, &["serve"], &env);

    let started = spawn(
        dbfleet_bin(),
        &world,
        &["batch", "start", "--wait", "--json"],
        &env,
    );
    let out = started.wait_with_output().unwrap();
    let batch: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(batch["status"], "partial_success", "{batch:#}");

    // Another system enqueues one job in a trace of its own.
    let caller_trace = format!("{:032x}", rand::random::<u128>() | 1);
    let caller_span = format!("{:016x}", rand::random::<u64>() | 1);
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    eventually("the API answers", || async {
        let answer = client.get(format!("{base}/healthz")).send().await;
        answer.ok().filter(|r| r.status().is_success())
    })
    .await;
    let enqueued: Value = client
        .post(format!("{base}/api/v1/jobs"))
        .bearer_auth(&token)
        .header("traceparent", format!("00-{caller_trace}-{caller_span}-01"))
        .json(&json!({"kind": "capacity_sync", "instance": "traced-pg"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let external_job = enqueued["job"]["job_id"].as_str().unwrap().to_string();
    let external_batch: dbfleet::domain::BatchId =
        serde_json::from_value(enqueued["batch"]["id"].clone()).unwrap();
    dbfleet::fleet::dispatcher::wait(
        &world.store,
        external_batch,
        std::time::Duration::from_millis(100),
    )
    .await
    .unwrap();

    let worker_log = stop(worker);
    stop(serve);
    let spans = receiver.spans();

    let batch_id = batch["id"].as_str().unwrap();
    let batch_root = batch_span(&spans, batch_id);
    let exchange = world.settings.broker.prefix.clone();
    let mut traces = BTreeSet::new();
    for job_id in job_ids(&batch) {
        let job = JobTrace::of(&spans, &job_id);
        job.assert_chain("dbfleet-worker", "rabbitmq", &exchange, batch_root);
        assert_eq!(
            job.publish().parent_span_id,
            "",
            "a batch's job starts its own trace"
        );
        assert_ne!(job.trace_id(), batch_root.trace_id);
        traces.insert(job.trace_id().to_string());
        assert_logged_in_trace(&worker_log, &job_id, job.trace_id());
    }
    assert_eq!(traces.len(), 2, "one trace per job");

    let job = JobTrace::of(&spans, &external_job);
    assert_eq!(
        job.trace_id(),
        caller_trace,
        "the caller's trace is continued"
    );
    let request = job.one("request", |s| s.kind == SERVER);
    assert_eq!(
        request.parent_span_id, caller_span,
        "the request continues the caller's span"
    );
    assert_eq!(job.publish().parent_span_id, request.span_id);
    let batch_root = batch_span(&spans, &external_batch.to_string());
    job.assert_chain("dbfleet-worker", "rabbitmq", &exchange, batch_root);

    let secret = world
        .settings
        .store
        .url
        .as_ref()
        .unwrap()
        .expose_secret()
        .to_string();
    for span in &spans {
        let text = format!("{span:?}");
        assert!(!text.contains(&secret) && !text.contains(&token), "{text}");
    }
    world.teardown().await;
}

/// Every JSON line the worker logged for `job_id` carries `trace_id`.
fn assert_logged_in_trace(log: &str, job_id: &str, trace_id: &str) {
    let lines: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["span"]["job_id"] == job_id || l["spans"][0]["job_id"] == job_id)
        .collect();
    assert!(!lines.is_empty(), "the worker logged job {job_id}: {log}");
    for line in lines {
        assert_eq!(line["spans"][0]["trace_id"], trace_id, "{line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_runs_trace_each_job_through_the_in_process_queue() {
    let receiver = Receiver::start().await;
    let world = World::on(Backend::Embedded).await;
    world.add_postgres("traced-pg").await;
    world.add_unreachable("traced-down").await;
    let run = spawn(
        dbfleet_bin(),
        &world,
        &["run", "--json"],
        &exporting(&receiver),
    );
    let out = run.wait_with_output().unwrap();
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let spans = receiver.spans();

    let batch = &report;
    let batch_root = batch_span(&spans, batch["id"].as_str().unwrap());
    let exchange = world.settings.broker.prefix.clone();
    let ids = job_ids(batch);
    assert_eq!(ids.len(), 2, "{report:#}");
    let mut traces = BTreeSet::new();
    for job_id in ids {
        let job = JobTrace::of(&spans, &job_id);
        job.assert_chain("dbfleet", "in_process", &exchange, batch_root);
        traces.insert(job.trace_id().to_string());
    }
    assert_eq!(traces.len(), 2, "one trace per job");
    world.teardown().await;
}

/// With no worker, a batch's jobs wait in the jobs queue, and `serve`'s
/// `/metrics` says how many: what an autoscaler scales workers on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_counts_the_messages_waiting_in_each_queue() {
    let world = World::new().await;
    for n in 0..3 {
        world.add_unreachable(&format!("waiting-{n}")).await;
    }
    let addr = format!("127.0.0.1:{}", common::closed_port());
    let env = [
        ("DBFLEET__TELEMETRY__METRICS_ADDR", addr.clone()),
        ("DBFLEET__AGGREGATOR__SWEEP_INTERVAL", "1s".to_string()),
    ];
    let serve = spawn(dbfleet_bin(), &world, &["serve"], &env);
    let started = support::dbfleet(&world, &["batch", "start"]);
    assert_eq!(
        started.status.code(),
        Some(0),
        "{}",
        support::stderr(&started)
    );
    let http = reqwest::Client::new();
    let waiting = r#"dbfleet_queue_messages{queue="jobs"} 3"#;
    let text = eventually("three jobs counted in the jobs queue", || async {
        let response = http
            .get(format!("http://{addr}/metrics"))
            .send()
            .await
            .ok()?;
        let text = response.text().await.ok()?;
        text.contains(waiting).then_some(text)
    })
    .await;
    assert!(
        text.contains(r#"dbfleet_queue_messages{queue="results"} 0"#),
        "{text}"
    );
    stop(serve);
    world.teardown().await;
}
