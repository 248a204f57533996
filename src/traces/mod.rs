//! One trace per job, across the broker.
//!
//! A job's trace starts where it is published: the dispatcher's `publish`
//! span is the root (or continues the trace of the system that asked for
//! the job, from its HTTP `traceparent`), linked to its batch's span, which
//! is a trace of its own: a batch of 100,000 jobs is 100,000 small traces
//! and one batch trace, never one trace nobody can open. The W3C trace
//! context (`traceparent`, `tracestate`) travels in the message headers,
//! on RabbitMQ and on the in-process queue alike; the worker's `process`
//! span continues it (so does a job another system published with its own
//! `traceparent`), and the result carries the worker's context on to the
//! control plane's `process` and `fold` spans.
//!
//! Spans are `tracing` spans; `export.rs` turns them into OpenTelemetry
//! spans (sent over OTLP when `telemetry.otlp_endpoint` is set). Their
//! attributes follow the OpenTelemetry messaging conventions
//! (`messaging.system`, `messaging.destination.name`, the RabbitMQ routing
//! key, `messaging.message.id`, `messaging.operation.type`) plus the job's
//! ids, kind, instance and engine; never a secret, never a URL.

pub mod export;

use std::collections::BTreeMap;

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

pub use opentelemetry::Context;

/// The W3C trace context headers, as another system sends them (HTTP or
/// AMQP) and as dbfleet's messages carry them.
pub const HEADERS: [&str; 2] = ["traceparent", "tracestate"];

/// Where a message goes or comes from, for a messaging span's attributes.
#[derive(Debug, Clone, Copy)]
pub struct Destination<'a> {
    /// `rabbitmq`, or `in_process` for the embedded queue.
    pub system: &'static str,
    /// The exchange (the in-process queue names its queues the same way).
    pub exchange: &'a str,
    pub routing_key: &'a str,
    /// The queue consumed from (consumers only).
    pub queue: Option<&'a str>,
}

/// The trace context in `headers` (none: an empty context, so a span given
/// it as parent starts a trace of its own).
pub fn extract(headers: &BTreeMap<String, String>) -> Context {
    TraceContextPropagator::new().extract(&Carrier(headers))
}

/// The trace context of an HTTP request's headers (`traceparent`).
pub fn extract_http(headers: &http::HeaderMap) -> Context {
    let found: BTreeMap<String, String> = HEADERS
        .iter()
        .filter_map(|name| {
            let value = headers.get(*name)?.to_str().ok()?;
            Some((name.to_string(), value.to_string()))
        })
        .collect();
    extract(&found)
}

/// Write `span`'s trace context into `headers`, replacing any other; no
/// header when `span` has no trace (no OpenTelemetry layer installed).
pub fn inject(span: &Span, headers: &mut BTreeMap<String, String>) {
    for name in HEADERS {
        headers.remove(name);
    }
    let context = span.context();
    if context.span().span_context().is_valid() {
        TraceContextPropagator::new().inject_context(&context, &mut CarrierMut(headers));
    }
}

/// Give `span` `parent` (a remote context, or an empty one to make it a
/// root), before the span is first entered.
pub fn set_parent(span: &Span, parent: Context) {
    // Fails only without an OpenTelemetry layer (nothing to trace into) or
    // once the span has started, which callers here never do first.
    let _ = span.set_parent(parent);
}

/// `span`'s trace context, if it is traced (starting it, if not yet).
pub fn current_context(span: &Span) -> Option<Context> {
    if span.is_none() {
        return None;
    }
    let context = span.context();
    context.span().span_context().is_valid().then_some(context)
}

/// Link `span` to the span `to` (a job's publish span to its batch's).
pub fn link(span: &Span, to: &Span) {
    span.add_link(to.context().span().span_context().clone());
}

/// `span`'s trace and span ids as hex, recorded on it as `trace_id` and
/// `span_id` so that every JSON log line inside it carries them; the
/// span must declare both fields (empty).
pub fn record_ids(span: &Span) {
    let context = span.context();
    let ids = context.span().span_context().clone();
    if ids.is_valid() {
        span.record("trace_id", ids.trace_id().to_string());
        span.record("span_id", ids.span_id().to_string());
    }
}

/// A producer span publishing message `message_id` to `to`.
pub fn publish_span(to: &Destination<'_>, message_id: &str) -> Span {
    tracing::info_span!(
        target: "dbfleet::traces",
        parent: None,
        "publish",
        otel.name = %format!("publish {}", to.exchange),
        otel.kind = "producer",
        messaging.system = to.system,
        messaging.operation.type = "send",
        messaging.operation.name = "publish",
        messaging.destination.name = to.exchange,
        messaging.rabbitmq.destination.routing_key = to.routing_key,
        messaging.message.id = message_id,
        dbfleet.batch_id = tracing::field::Empty,
        dbfleet.job_id = tracing::field::Empty,
        dbfleet.kind = tracing::field::Empty,
        dbfleet.instance_id = tracing::field::Empty,
        dbfleet.engine = tracing::field::Empty,
    )
}

/// Record the job's ids, kind, instance and engine on a messaging span
/// made by [`publish_span`].
pub fn record_job(span: &Span, job: &JobFields) {
    span.record("dbfleet.batch_id", job.batch_id.as_str());
    span.record("dbfleet.job_id", job.job_id.as_str());
    span.record("dbfleet.kind", job.kind);
    if let Some(id) = job.instance_id {
        span.record("dbfleet.instance_id", id);
    }
    if let Some(engine) = job.engine {
        span.record("dbfleet.engine", engine);
    }
}

/// What a span says about its job.
#[derive(Debug, Clone)]
pub struct JobFields {
    pub batch_id: String,
    pub job_id: String,
    pub kind: &'static str,
    pub instance_id: Option<i64>,
    pub engine: Option<&'static str>,
}

/// The headers as a propagator reads them.
struct Carrier<'a>(&'a BTreeMap<String, String>);

impl Extractor for Carrier<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

/// The headers as a propagator writes them.
struct CarrierMut<'a>(&'a mut BTreeMap<String, String>);

impl Injector for CarrierMut<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_string(), value);
    }
}
