//! The spans of a job's trace on the fleet: the batch the dispatcher
//! starts, each job's publish, the worker's processing of it and the
//! result it publishes, and the control plane's processing and fold of
//! that result. How the trace crosses the broker is [`crate::traces`]'s.

use tracing::Span;

use crate::broker::{Broker, DeliveryMeta, Outgoing};
use crate::message::{JobMessage, JobResult};
use crate::traces::{self, Destination, JobFields};

/// The span of starting a batch of `jobs` jobs: a child of the caller's
/// span (an API request continuing another system's trace), else a trace
/// of its own. Each job's trace links to it.
pub(super) fn batch(batch_id: &str, kind: &str, jobs: usize) -> Span {
    tracing::info_span!(
        "batch",
        otel.name = %format!("start batch {kind}"),
        dbfleet.batch_id = batch_id,
        dbfleet.kind = kind,
        dbfleet.jobs = jobs,
    )
}

/// The span of publishing `job`: the root of the job's trace, linked to
/// `batch` (none for a job parked until its time: its batch's span has
/// ended); or, for a batch of one job started in someone's trace (`POST
/// /jobs` with a `traceparent`), a child of the caller's span, so the job
/// continues that trace. Its context goes into `outgoing`'s headers.
pub(super) fn publish_job(
    broker: &dyn Broker,
    outgoing: &mut Outgoing,
    job: &JobMessage,
    batch: Option<&Span>,
    continues: Option<&traces::Context>,
) -> Span {
    let exchange = broker.names().exchange();
    let to = Destination {
        system: broker.system(),
        exchange: &exchange,
        routing_key: &outgoing.routing_key,
        queue: None,
    };
    let span = traces::publish_span(&to, &outgoing.message_id);
    let parent = continues.cloned().unwrap_or_else(traces::Context::new);
    traces::set_parent(&span, parent);
    if let Some(batch) = batch {
        traces::link(&span, batch);
    }
    let engine = job.details.as_ref().map(|d| d.engine.as_str());
    traces::record_job(&span, &job_fields(job, engine));
    traces::inject(&span, &mut outgoing.headers);
    span
}

/// The caller's trace context, when the caller is being traced.
pub(super) fn caller() -> Option<traces::Context> {
    traces::current_context(&Span::current())
}

/// The span a worker processes a job in: every line the job logs carries
/// its ids (job, batch, kind, attempt; the instance once resolved; the
/// trace and span ids), and its parent is the span that published the job.
pub(super) fn process_job(broker: &dyn Broker, meta: &DeliveryMeta, job: &JobMessage) -> Span {
    let exchange = broker.names().exchange();
    let span = tracing::info_span!(
        parent: None,
        "job",
        otel.name = %format!("process {exchange}"),
        otel.kind = "consumer",
        messaging.system = broker.system(),
        messaging.operation.type = "process",
        messaging.destination.name = %exchange,
        messaging.message.id = %job.job_id,
        job_id = %job.job_id,
        batch_id = %job.effective_batch_id(),
        kind = %job.kind(),
        attempt = meta.attempt,
        instance_id = tracing::field::Empty,
        instance = tracing::field::Empty,
        engine = tracing::field::Empty,
        duration_ms = tracing::field::Empty,
        trace_id = tracing::field::Empty,
        span_id = tracing::field::Empty,
    );
    traces::set_parent(&span, traces::extract(&meta.headers));
    traces::record_ids(&span);
    span
}

/// The span of publishing `result` from the worker, a child of the job's
/// span; its context goes into `outgoing`'s headers for the control plane.
pub(super) fn publish_result(
    broker: &dyn Broker,
    outgoing: &mut Outgoing,
    result: &JobResult,
    job: &Span,
) -> Span {
    let exchange = broker.names().exchange();
    let to = Destination {
        system: broker.system(),
        exchange: &exchange,
        routing_key: &outgoing.routing_key,
        queue: None,
    };
    let span = traces::publish_span(&to, &outgoing.message_id);
    traces::set_parent(&span, traces::current_context(job).unwrap_or_default());
    traces::record_job(&span, &result_fields(result));
    traces::inject(&span, &mut outgoing.headers);
    span
}

/// The span the control plane processes a result in, from the worker's
/// publish of it to its fold's commit.
pub(super) fn process_result(broker: &dyn Broker, meta: &DeliveryMeta, result: &JobResult) -> Span {
    let exchange = broker.names().exchange();
    let span = tracing::info_span!(
        parent: None,
        "result",
        otel.name = %format!("process {exchange}"),
        otel.kind = "consumer",
        messaging.system = broker.system(),
        messaging.operation.type = "process",
        messaging.destination.name = %exchange,
        messaging.message.id = %result.job_id,
        dbfleet.batch_id = %result.batch_id,
        dbfleet.job_id = %result.job_id,
        dbfleet.kind = %result.kind,
        dbfleet.instance_id = result.instance_id.map(|i| i.0),
        dbfleet.status = result.status.as_str(),
    );
    traces::set_parent(&span, traces::extract(&meta.headers));
    span
}

/// The span of folding a result (with the others of its transaction).
pub(super) fn fold(result: &Span, group: usize) -> Span {
    tracing::info_span!(parent: result, "fold", dbfleet.fold.results = group)
}

fn job_fields(job: &JobMessage, engine: Option<&'static str>) -> JobFields {
    JobFields {
        batch_id: job.effective_batch_id().to_string(),
        job_id: job.job_id.to_string(),
        kind: job.kind().as_str(),
        instance_id: job.target.instance_id().map(|i| i.0),
        engine,
    }
}

fn result_fields(result: &JobResult) -> JobFields {
    JobFields {
        batch_id: result.batch_id.to_string(),
        job_id: result.job_id.to_string(),
        kind: result.kind.as_str(),
        instance_id: result.instance_id.map(|i| i.0),
        engine: None,
    }
}
