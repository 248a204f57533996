//! The JSON form of jobs and results, and the rules for reading it.
//!
//! Decoding goes through a `serde_json::Value` first, so that each kind of
//! bad message gets its own error: not JSON, no `schema`, another major
//! version, a kind this build does not know, or a known kind whose fields
//! are wrong. Only the last two reach serde's typed decoding.
//!
//! Compatibility with v1 as it was first published:
//! - a job without `params` has the kind's default parameters (a v1
//!   capacity-sync job is `kind` + `instance_id`, nothing more);
//! - a result with `counters` and no `output` is a v1 capacity-sync result,
//!   whose counters are its output; a v1 result has no `target` either.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{
    InstanceDetails, InstanceRef, JobError, JobKind, JobMessage, JobOutput, JobParams, JobResult,
    JobStatus, Target, Warning,
};
use crate::domain::{BatchId, InstanceId, InstanceName, JobId};

/// Why a message could not be read; the reason travels with the dead letter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("not a JSON object: {0}")]
    NotJson(String),
    #[error("missing or non-string `schema` field")]
    MissingSchema,
    #[error("unsupported schema `{0}`")]
    UnknownSchema(String),
    #[error("unknown kind `{0}`")]
    UnknownKind(String),
    #[error("invalid message: {0}")]
    Invalid(String),
}

/// The major version every reader of this build understands.
const MAJOR: &str = "v1";

/// A job as it travels; `kind` and `params` are checked after the envelope.
#[derive(Serialize, Deserialize)]
struct JobWire {
    schema: String,
    job_id: JobId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    batch_id: Option<BatchId>,
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    instance_id: Option<InstanceId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    instance: Option<InstanceName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    instance_details: Option<InstanceDetails>,
    #[serde(default, skip_serializing_if = "is_empty_object")]
    params: Value,
    deadline: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    requested_by: Option<String>,
    enqueued_at: DateTime<Utc>,
    #[serde(default = "first", skip_serializing_if = "is_first")]
    attempt: u32,
}

fn first() -> u32 {
    1
}

fn is_first(attempt: &u32) -> bool {
    *attempt <= 1
}

/// A result as it travels.
#[derive(Serialize, Deserialize)]
struct ResultWire {
    schema: String,
    job_id: JobId,
    batch_id: BatchId,
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    instance_id: Option<InstanceId>,
    #[serde(default)]
    target: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    requested_by: Option<String>,
    status: JobStatus,
    #[serde(default)]
    error: Option<JobError>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<Warning>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    output: Option<Value>,
    /// v1 capacity-sync counters; read, never written.
    #[serde(default, skip_serializing)]
    counters: Option<Value>,
    started_at: DateTime<Utc>,
    finished_at: DateTime<Utc>,
    attempt: u32,
    worker: String,
}

fn is_empty_object(value: &Value) -> bool {
    value.is_null() || value.as_object().is_some_and(Map::is_empty)
}

/// A kind's params or output as a JSON value. They are plain structs with
/// string keys, so this cannot fail; `Null` is the unreachable fallback.
pub(super) fn to_json<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

fn invalid(e: impl std::fmt::Display) -> DecodeError {
    DecodeError::Invalid(e.to_string())
}

pub(super) fn decode_job(bytes: &[u8]) -> Result<JobMessage, DecodeError> {
    let value = checked(bytes, "dbfleet.job.")?;
    let kind = known_kind(&value)?;
    let wire: JobWire = serde_json::from_value(value).map_err(invalid)?;
    let target = match (wire.instance_id, wire.instance) {
        (Some(id), _) => Target::Instance(InstanceRef::Id(id)),
        (None, Some(name)) => Target::Instance(InstanceRef::Name(name)),
        (None, None) => {
            return Err(invalid(format!(
                "a `{kind}` job needs `instance_id` or `instance`"
            )))
        }
    };
    let params = JobParams::from_json(kind, wire.params)
        .map_err(|e| invalid(format!("`params` of a `{kind}` job: {e}")))?;
    Ok(JobMessage {
        schema: wire.schema,
        job_id: wire.job_id,
        batch_id: wire.batch_id,
        target,
        details: wire.instance_details,
        params,
        deadline: wire.deadline,
        requested_by: wire.requested_by,
        enqueued_at: wire.enqueued_at,
        attempt: wire.attempt.max(1),
    })
}

pub(super) fn encode_job(job: &JobMessage) -> Vec<u8> {
    let (instance_id, instance) = match &job.target {
        Target::Instance(InstanceRef::Id(id)) => (Some(*id), None),
        Target::Instance(InstanceRef::Name(name)) => (None, Some(name.clone())),
    };
    let wire = JobWire {
        schema: job.schema.clone(),
        job_id: job.job_id,
        batch_id: job.batch_id,
        kind: job.kind().as_str().to_string(),
        instance_id,
        instance,
        instance_details: job.details.clone(),
        params: job.params.to_json(),
        deadline: job.deadline,
        requested_by: job.requested_by.clone(),
        enqueued_at: job.enqueued_at,
        attempt: job.attempt,
    };
    to_bytes(&wire)
}

pub(super) fn decode_result(bytes: &[u8]) -> Result<JobResult, DecodeError> {
    let value = checked(bytes, "dbfleet.result.")?;
    let kind = known_kind(&value)?;
    let wire: ResultWire = serde_json::from_value(value).map_err(invalid)?;
    // Only the first v1 results, all capacity syncs, carry `counters`.
    let legacy = wire.counters.filter(|_| kind == JobKind::CapacitySync);
    let output = match (wire.output, legacy) {
        (Some(output), _) | (None, Some(output)) => Some(
            JobOutput::from_json(kind, output)
                .map_err(|e| invalid(format!("`output` of a `{kind}` result: {e}")))?,
        ),
        (None, None) => None,
    };
    Ok(JobResult {
        schema: wire.schema,
        job_id: wire.job_id,
        batch_id: wire.batch_id,
        kind,
        instance_id: wire.instance_id,
        target: wire.target,
        requested_by: wire.requested_by,
        status: wire.status,
        error: wire.error,
        warnings: wire.warnings,
        output,
        started_at: wire.started_at,
        finished_at: wire.finished_at,
        attempt: wire.attempt,
        worker: wire.worker,
    })
}

pub(super) fn encode_result(result: &JobResult) -> Vec<u8> {
    let wire = ResultWire {
        schema: result.schema.clone(),
        job_id: result.job_id,
        batch_id: result.batch_id,
        kind: result.kind.as_str().to_string(),
        instance_id: result.instance_id,
        target: result.target.clone(),
        requested_by: result.requested_by.clone(),
        status: result.status,
        error: result.error.clone(),
        warnings: result.warnings.clone(),
        output: result.output.as_ref().map(JobOutput::to_json),
        counters: None,
        started_at: result.started_at,
        finished_at: result.finished_at,
        attempt: result.attempt,
        worker: result.worker.clone(),
    };
    to_bytes(&wire)
}

/// Parse JSON and check the `schema` field against `family` and [`MAJOR`].
fn checked(bytes: &[u8], family: &str) -> Result<Value, DecodeError> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| DecodeError::NotJson(e.to_string()))?;
    let schema = value
        .get("schema")
        .and_then(Value::as_str)
        .ok_or(DecodeError::MissingSchema)?;
    let version = schema
        .strip_prefix(family)
        .ok_or_else(|| DecodeError::UnknownSchema(schema.to_string()))?;
    // `v1` and minor revisions such as `v1.2` are readable; `v2` is not.
    let (major, minor) = version.split_once('.').unwrap_or((version, "0"));
    let numeric = !minor.is_empty() && minor.bytes().all(|b| b.is_ascii_digit());
    if major != MAJOR || !numeric {
        return Err(DecodeError::UnknownSchema(schema.to_string()));
    }
    Ok(value)
}

fn known_kind(value: &Value) -> Result<JobKind, DecodeError> {
    let name = value
        .get("kind")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("missing or non-string `kind` field"))?;
    JobKind::parse(name).ok_or_else(|| DecodeError::UnknownKind(name.to_string()))
}

fn to_bytes<T: Serialize>(value: &T) -> Vec<u8> {
    // Serializing these plain structs cannot fail: every map key is a string
    // and no field has a fallible `Serialize` impl.
    serde_json::to_vec(value).unwrap_or_default()
}
