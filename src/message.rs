//! The message contract v1: the only serialized boundary between processes.
//!
//! Jobs and results are JSON, versioned by a `schema` field whose major
//! version must match; unknown fields are tolerated so that producers can be
//! upgraded before consumers. JSON Schemas for both live in `schemas/` and
//! golden fixtures in `tests/fixtures/`. No field ever carries a secret:
//! workers resolve credentials themselves from the store's references.
//!
//! This module does no IO.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{BatchId, InstanceId, JobId};

/// `schema` value of a job message.
pub const JOB_SCHEMA: &str = "dbfleet.job.v1";
/// `schema` value of a result message.
pub const RESULT_SCHEMA: &str = "dbfleet.result.v1";

/// What a job asks a worker to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    CapacitySync,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::CapacitySync => "capacity_sync",
        }
    }
}

/// One unit of work: sync one instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobMessage {
    pub schema: String,
    pub job_id: JobId,
    /// Absent when another system enqueues a single job: it becomes its own
    /// batch of one, keyed by the job id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_id: Option<BatchId>,
    pub kind: JobKind,
    pub instance_id: InstanceId,
    /// The worker abandons the job at this instant; the aggregator's sweeper
    /// fails it (class `timeout`) if no result arrived by then.
    pub deadline: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
    pub enqueued_at: DateTime<Utc>,
}

impl JobMessage {
    pub fn new(
        job_id: JobId,
        batch_id: Option<BatchId>,
        instance_id: InstanceId,
        deadline: DateTime<Utc>,
        requested_by: Option<String>,
    ) -> Self {
        Self {
            schema: JOB_SCHEMA.to_string(),
            job_id,
            batch_id,
            kind: JobKind::CapacitySync,
            instance_id,
            deadline,
            requested_by,
            enqueued_at: Utc::now(),
        }
    }

    /// The batch this job counts toward.
    pub fn effective_batch_id(&self) -> BatchId {
        self.batch_id.unwrap_or(BatchId(self.job_id.0))
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        decode(bytes, "dbfleet.job.")
    }

    pub fn encode(&self) -> Vec<u8> {
        encode(self)
    }
}

/// Outcome of one job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Succeeded,
    Failed,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
        }
    }
}

/// Why a job failed. The class is stable and meant for dashboards and
/// scripts; the message is for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// The instance could not be reached (refused, DNS, TLS, reset).
    Connect,
    /// The instance refused the credentials, or they could not be resolved.
    Auth,
    /// A query on the instance failed.
    Query,
    /// The job ran past its deadline.
    Timeout,
    /// The engine or its version is not supported.
    Unsupported,
    /// The instance or job is misconfigured (unknown instance, bad filter).
    Config,
    /// dbfleet itself failed (control store, bug).
    Internal,
}

impl ErrorClass {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Connect => "connect",
            ErrorClass::Auth => "auth",
            ErrorClass::Query => "query",
            ErrorClass::Timeout => "timeout",
            ErrorClass::Unsupported => "unsupported",
            ErrorClass::Config => "config",
            ErrorClass::Internal => "internal",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_string())).ok()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobError {
    pub class: ErrorClass,
    pub message: String,
}

/// Inventory diff counts of one run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryCounts {
    pub created: u32,
    pub refreshed: u32,
    pub reactivated: u32,
    pub deactivated: u32,
}

/// What a successful (or partly done) job produced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobCounters {
    /// Databases whose size was collected.
    pub databases: u32,
    /// `database_size_stats` rows written.
    pub records: u32,
    /// Sum of the collected sizes, MiB.
    pub total_size_mb: i64,
    pub inventory: InventoryCounts,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobResult {
    pub schema: String,
    pub job_id: JobId,
    pub batch_id: BatchId,
    pub instance_id: InstanceId,
    pub kind: JobKind,
    pub status: JobStatus,
    #[serde(default)]
    pub error: Option<JobError>,
    #[serde(default)]
    pub counters: JobCounters,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// 1 on first delivery; higher when the broker redelivered the job.
    pub attempt: u32,
    /// Name of the worker that ran the job (pod name in Kubernetes).
    pub worker: String,
}

impl JobResult {
    /// The result of `job`: succeeded with its counters, or failed with its
    /// error, finished now.
    pub fn for_job(
        job: &JobMessage,
        started_at: DateTime<Utc>,
        outcome: Result<JobCounters, JobError>,
        attempt: u32,
        worker: &str,
    ) -> Self {
        let (status, counters, error) = match outcome {
            Ok(counters) => (JobStatus::Succeeded, counters, None),
            Err(e) => (JobStatus::Failed, JobCounters::default(), Some(e)),
        };
        Self {
            schema: RESULT_SCHEMA.to_string(),
            job_id: job.job_id,
            batch_id: job.effective_batch_id(),
            instance_id: job.instance_id,
            kind: job.kind,
            status,
            error,
            counters,
            started_at,
            finished_at: Utc::now(),
            attempt,
            worker: worker.to_string(),
        }
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        decode(bytes, "dbfleet.result.")
    }

    pub fn encode(&self) -> Vec<u8> {
        encode(self)
    }
}

/// Why a message could not be read; the reason travels with the dead letter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("not a JSON object: {0}")]
    NotJson(String),
    #[error("missing or non-string `schema` field")]
    MissingSchema,
    #[error("unsupported schema `{0}`")]
    UnknownSchema(String),
    #[error("invalid message: {0}")]
    Invalid(String),
}

/// The major version every reader of this build understands.
const MAJOR: &str = "v1";

fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8], family: &str) -> Result<T, DecodeError> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| DecodeError::NotJson(e.to_string()))?;
    let schema = value
        .get("schema")
        .and_then(|s| s.as_str())
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
    serde_json::from_value(value).map_err(|e| DecodeError::Invalid(e.to_string()))
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Serializing these plain structs cannot fail: every map key is a string
    // and no field has a fallible `Serialize` impl.
    serde_json::to_vec(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_other_major_versions_and_families() {
        let job = |schema: &str| {
            format!(
                r#"{{"schema":"{schema}","job_id":"0190d7a0-0000-7000-8000-000000000001","kind":"capacity_sync","instance_id":1,"deadline":"2026-01-01T00:00:00Z","enqueued_at":"2026-01-01T00:00:00Z"}}"#
            )
        };
        assert!(JobMessage::decode(job("dbfleet.job.v1").as_bytes()).is_ok());
        assert!(JobMessage::decode(job("dbfleet.job.v1.3").as_bytes()).is_ok());
        for bad in [
            "dbfleet.job.v2",
            "dbfleet.result.v1",
            "dbfleet.job.v10",
            "dbfleet.job.v1.",
            "dbfleet.job.v1.beta",
            "x",
        ] {
            assert_eq!(
                JobMessage::decode(job(bad).as_bytes()),
                Err(DecodeError::UnknownSchema(bad.to_string())),
            );
        }
        assert_eq!(JobMessage::decode(b"{}"), Err(DecodeError::MissingSchema));
        assert!(matches!(
            JobMessage::decode(b"\xff"),
            Err(DecodeError::NotJson(_))
        ));
        let no_instance = job("dbfleet.job.v1").replace(r#""instance_id":1,"#, "");
        assert!(matches!(
            JobMessage::decode(no_instance.as_bytes()),
            Err(DecodeError::Invalid(_))
        ));
    }

    #[test]
    fn standalone_job_is_its_own_batch() {
        let job = JobMessage::new(JobId::new(), None, InstanceId(3), Utc::now(), None);
        assert_eq!(job.effective_batch_id().0, job.job_id.0);
    }
}
