//! What a worker sends back: a job's status, its error (with the class
//! operators filter on) or its output and warnings.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use std::fmt;

use super::{wire, DecodeError, JobKind, JobMessage, JobOutput, RESULT_SCHEMA};
use crate::domain::{BatchId, InstanceId, JobId};

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
    /// The account lacks a privilege dbfleet needs; the message names the
    /// statement that grants it (`GRANT PROCESS ON *.* TO 'mon'@'%';`).
    Permission,
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
            ErrorClass::Permission => "permission",
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

impl JobError {
    pub fn new(class: ErrorClass, message: impl fmt::Display) -> Self {
        Self {
            class,
            message: message.to_string(),
        }
    }
}

/// Something a succeeded job wants people to know: a missing grant, a
/// database it could not measure. Warnings never change a batch's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    /// Stable, for scripts: `missing_grant` and `tls_in_clear` (probe), `not_measured` and
    /// `partial_inventory` (capacity sync), …
    pub code: String,
    /// For people.
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobResult {
    pub schema: String,
    pub job_id: JobId,
    pub batch_id: BatchId,
    pub kind: JobKind,
    /// The instance the job ran on, when it is a registered one.
    pub instance_id: Option<InstanceId>,
    /// What the job ran on, for people: the instance's name, or the target
    /// as the job named it when no registered instance matched.
    pub target: String,
    /// Who asked for the job (the job's `requested_by`).
    pub requested_by: Option<String>,
    pub status: JobStatus,
    pub error: Option<JobError>,
    pub warnings: Vec<Warning>,
    /// What the job produced; absent when it failed before producing anything.
    pub output: Option<JobOutput>,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// 1 on first delivery; higher when the broker redelivered the job.
    pub attempt: u32,
    /// Name of the worker that ran the job (pod name in Kubernetes).
    pub worker: String,
}

/// How a job ended, as its runner reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    pub instance_id: Option<InstanceId>,
    pub target: String,
    pub outcome: Result<(JobOutput, Vec<Warning>), JobError>,
}

impl JobResult {
    /// The result of `job`, finished now.
    pub fn for_job(
        job: &JobMessage,
        started_at: DateTime<Utc>,
        finished: Finished,
        attempt: u32,
        worker: &str,
    ) -> Self {
        let (status, output, warnings, error) = match finished.outcome {
            Ok((output, warnings)) => (JobStatus::Succeeded, Some(output), warnings, None),
            Err(e) => (JobStatus::Failed, None, Vec::new(), Some(e)),
        };
        Self {
            schema: RESULT_SCHEMA.to_string(),
            job_id: job.job_id,
            batch_id: job.effective_batch_id(),
            kind: job.kind(),
            instance_id: finished.instance_id,
            target: finished.target,
            requested_by: job.requested_by.clone(),
            status,
            error,
            warnings,
            output,
            started_at,
            finished_at: Utc::now(),
            attempt,
            worker: worker.to_string(),
        }
    }

    /// A failed result for `job` that never reached a runner (not
    /// published, dead-lettered): it names the target as the job did.
    pub fn failed(job: &JobMessage, error: JobError, attempt: u32, worker: &str) -> Self {
        let finished = Finished {
            instance_id: job.target.instance_id(),
            target: job.target.to_string(),
            outcome: Err(error),
        };
        Self::for_job(job, Utc::now(), finished, attempt, worker)
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        wire::decode_result(bytes)
    }

    pub fn encode(&self) -> Vec<u8> {
        wire::encode_result(self)
    }
}
