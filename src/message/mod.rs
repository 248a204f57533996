//! The message contract v1: the only serialized boundary between processes.
//!
//! Every job is an *envelope* plus a *kind*. The envelope carries what every
//! job has: its id, its batch, its target, its deadline, who asked for it and
//! when. The kind says what to do, and its `params` (job) and `output`
//! (result) are typed per kind, one module each: [`capacity_sync`],
//! [`probe`]. Adding a kind adds a module and one line to [`job_kinds!`]'s
//! list below; the envelope, the broker and the other kinds stay as they are.
//!
//! On the wire a job is one JSON object:
//!
//! ```json
//! {"schema": "dbfleet.job.v1", "job_id": "…", "batch_id": "…",
//!  "kind": "probe", "instance_id": 42, "params": {…},
//!  "deadline": "…", "requested_by": "…", "enqueued_at": "…"}
//! ```
//!
//! `params` is left out when the kind has none, so a capacity-sync job is
//! byte for byte what v1 producers have always sent, and what they send keeps
//! working. A result carries the kind's `output` and any `warnings`; results
//! written by v1 workers (capacity counters under `counters`) are still read.
//!
//! Versioning: a `schema` field whose major version must match; minor
//! revisions and unknown fields are tolerated so producers can be upgraded
//! before consumers. A kind this build does not know is its own error
//! ([`DecodeError::UnknownKind`]), so a worker can hand it to a newer one.
//! JSON Schemas live in `schemas/` (one per kind under `schemas/kinds/`),
//! golden fixtures in `tests/fixtures/`. No field ever carries a secret:
//! workers resolve credentials themselves from the store's references.
//!
//! This module does no IO.

pub mod aggregate;
pub mod capacity_sync;
pub mod data_sync;
pub mod probe;
mod result;
pub mod table_sizes;
mod wire;

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{BatchId, DbType, InstanceId, InstanceName, JobId};
use crate::secret::PasswordRef;
use crate::tls::TlsSettings;

pub use result::{ErrorClass, Finished, JobError, JobResult, JobStatus, Warning};
pub use wire::DecodeError;

/// `schema` value of a job message.
pub const JOB_SCHEMA: &str = "dbfleet.job.v1";
/// `schema` value of a result message.
pub const RESULT_SCHEMA: &str = "dbfleet.result.v1";

/// The registry of job kinds: for each, its enum variant, its wire name and
/// the module holding its `Params` and `Output`. Generates [`JobKind`],
/// [`JobParams`] and [`JobOutput`] and the conversions between them and JSON.
macro_rules! job_kinds {
    ($($variant:ident => $name:literal, $module:ident;)+) => {
        /// What a job asks a worker to do.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum JobKind { $($variant),+ }

        impl JobKind {
            /// Every kind this build knows.
            pub const ALL: &'static [JobKind] = &[$(JobKind::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $(JobKind::$variant => $name),+ }
            }

            pub fn parse(name: &str) -> Option<Self> {
                match name { $($name => Some(JobKind::$variant),)+ _ => None }
            }
        }

        /// A job's kind with its parameters.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum JobParams { $($variant($module::Params)),+ }

        impl JobParams {
            pub fn kind(&self) -> JobKind {
                match self { $(JobParams::$variant(_) => JobKind::$variant),+ }
            }

            /// A job of `kind` with its default parameters.
            pub fn default_for(kind: JobKind) -> Self {
                match kind { $(JobKind::$variant => JobParams::$variant(Default::default())),+ }
            }

            /// A job of `kind` with the parameters `value` (a JSON object;
            /// `null` or `{}` gives the defaults where the kind has them).
            pub fn from_json(kind: JobKind, value: serde_json::Value) -> serde_json::Result<Self> {
                let value = match value {
                    serde_json::Value::Null => serde_json::Value::Object(Default::default()),
                    value => value,
                };
                match kind { $(JobKind::$variant => serde_json::from_value(value).map(JobParams::$variant)),+ }
            }

            /// The parameters as the wire carries them.
            pub fn to_json(&self) -> serde_json::Value {
                match self { $(JobParams::$variant(p) => wire::to_json(p)),+ }
            }
        }

        /// What a job of each kind produced.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum JobOutput { $($variant($module::Output)),+ }

        impl JobOutput {
            pub fn kind(&self) -> JobKind {
                match self { $(JobOutput::$variant(_) => JobKind::$variant),+ }
            }

            /// A job of `kind` with the parameters `value` (a JSON object;
            /// `null` or `{}` gives the defaults where the kind has them).
            pub fn from_json(kind: JobKind, value: serde_json::Value) -> serde_json::Result<Self> {
                let value = match value {
                    serde_json::Value::Null => serde_json::Value::Object(Default::default()),
                    value => value,
                };
                match kind { $(JobKind::$variant => serde_json::from_value(value).map(JobOutput::$variant)),+ }
            }

            /// The output as a JSON object, as it travels and is stored.
            pub fn to_json(&self) -> serde_json::Value {
                match self { $(JobOutput::$variant(o) => wire::to_json(o)),+ }
            }
        }
    };
}

job_kinds! {
    CapacitySync => "capacity_sync", capacity_sync;
    Probe => "probe", probe;
    TableSizes => "table_sizes", table_sizes;
    Aggregate => "aggregate", aggregate;
    DataSync => "data_sync", data_sync;
}

impl JobParams {
    /// These parameters with what they leave to "today" fixed to `today`
    /// (the configured zone's day the batch is started for), so every job
    /// of a batch, a spread one's included, and a retry of it days later
    /// do the same work: an `aggregate` without `date` counts from `today`.
    pub fn settled(mut self, today: chrono::NaiveDate) -> Self {
        if let JobParams::Aggregate(p) = &mut self {
            p.date.get_or_insert(today);
        }
        self
    }
}

impl JobParams {
    /// Whether a batch of these parameters overlaps a running batch of the
    /// same kind whose parameters are `running` (as stored; `None`: the
    /// kind's defaults), so that a schedule waits for it. Batches of one
    /// kind overlap, except data syncs of different definitions, which
    /// touch different tables.
    pub fn overlaps(&self, running: Option<&serde_json::Value>) -> bool {
        match self {
            JobParams::DataSync(p) => {
                let other = running.and_then(|v| v.get("definition"));
                other.and_then(serde_json::Value::as_str) == Some(p.definition.as_str())
            }
            _ => true,
        }
    }
}

impl fmt::Display for JobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A registered instance, named by id or by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstanceRef {
    Id(InstanceId),
    Name(InstanceName),
}

impl fmt::Display for InstanceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InstanceRef::Id(id) => write!(f, "instance id {id}"),
            InstanceRef::Name(name) => write!(f, "instance `{name}`"),
        }
    }
}

/// What a job runs on. Every kind known today runs on one instance; kinds
/// that run on something else (a sync definition) add a variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Instance(InstanceRef),
}

impl Target {
    pub fn instance_id(&self) -> Option<InstanceId> {
        match self {
            Target::Instance(InstanceRef::Id(id)) => Some(*id),
            Target::Instance(InstanceRef::Name(_)) => None,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Instance(instance) => instance.fmt(f),
        }
    }
}

/// What a worker needs to reach an instance, carried in the job so the
/// worker need not read the store for it: a copy of the instance's row as
/// the dispatcher saw it, never a secret (the password stays a reference,
/// resolved by the worker). Absent, the worker reads the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceDetails {
    pub name: InstanceName,
    pub engine: DbType,
    pub host: String,
    pub port: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    pub username: String,
    /// Where the worker finds the password.
    pub auth: PasswordRef,
    /// TLS mode (canonical names) and certificate file paths; absent in
    /// jobs from before TLS settings existed, which connect as `prefer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSettings>,
    /// The instance's `cluster` label: the fleet's cap of concurrent jobs
    /// (`job.max_per_host`) counts per cluster when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
}

/// One unit of work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobMessage {
    pub schema: String,
    pub job_id: JobId,
    /// Absent when another system enqueues a single job: it becomes its own
    /// batch of one, keyed by the job id.
    pub batch_id: Option<BatchId>,
    pub target: Target,
    /// The target instance's settings, when the producer sent them.
    pub details: Option<InstanceDetails>,
    pub params: JobParams,
    /// The instant by which a worker must start the job (its batch's
    /// deadline); a job no worker started by then fails (class `timeout`).
    /// A started job has its own budget, counted from its start.
    pub deadline: DateTime<Utc>,
    pub requested_by: Option<String>,
    pub enqueued_at: DateTime<Utc>,
    /// Which run of the job this message asks for: 1 for the first, more
    /// when a retry policy parked it again after a failure
    /// ([`crate::retry`]). Broker redeliveries do not change it.
    pub attempt: u32,
}

impl JobMessage {
    /// A job of `params`' kind on the instance `instance`, enqueued now.
    pub fn new(
        job_id: JobId,
        batch_id: Option<BatchId>,
        target: Target,
        params: JobParams,
        deadline: DateTime<Utc>,
        requested_by: Option<String>,
    ) -> Self {
        Self {
            schema: JOB_SCHEMA.to_string(),
            job_id,
            batch_id,
            target,
            details: None,
            params,
            deadline,
            requested_by,
            enqueued_at: Utc::now(),
            attempt: 1,
        }
    }

    pub fn kind(&self) -> JobKind {
        self.params.kind()
    }

    /// The batch this job counts toward.
    pub fn effective_batch_id(&self) -> BatchId {
        self.batch_id.unwrap_or(BatchId(self.job_id.0))
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        wire::decode_job(bytes)
    }

    pub fn encode(&self) -> Vec<u8> {
        wire::encode_job(self)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests;
