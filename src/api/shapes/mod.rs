//! The documented shapes of the answers whose JSON the library writes:
//! batches and jobs (`store::Batch`, `store::JobRow`, `fleet::BatchReport`,
//! as `dbfleet batch show --json` prints them) and capacity reads (the
//! store's rows of sizes and totals, in `capacity.rs`).
//!
//! These types only describe; nothing builds them. Keeping the OpenAPI
//! derive off the store's types keeps the store free of the API's concerns,
//! and drift cannot go unnoticed: schemathesis checks every answer of a
//! running server against these shapes (`dispatcher/tests/python.rs`). A
//! kind's counters and output are further top-level fields (e.g.
//! `total_records`), so the shapes leave other properties open.

#![allow(dead_code)] // Read by the OpenAPI derive only.

mod capacity;

pub use capacity::*;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

/// The kinds of job, by wire name.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    CapacitySync,
    Probe,
    TableSizes,
    Aggregate,
    DataSync,
}

/// What a batch may be.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BatchStatus {
    Running,
    Success,
    PartialSuccess,
    Failed,
    Cancelled,
}

/// A batch and its counters.
#[derive(Serialize, ToSchema)]
pub struct Batch {
    #[schema(value_type = uuid::Uuid)]
    id: String,
    kind: String,
    status: BatchStatus,
    total: i64,
    pending: i64,
    succeeded: i64,
    failed: i64,
    /// Jobs that ended with warnings.
    warned: i64,
    requested_by: Option<String>,
    /// The label selector that chose the instances; absent when none did.
    selector: Option<String>,
    created_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
}

/// Why a job failed.
#[derive(Serialize, ToSchema)]
pub struct JobError {
    /// `connect`, `auth`, `query`, `permission`, `timeout`, `unsupported`,
    /// `config` or `internal`.
    class: String,
    message: String,
}

/// One job of a batch.
#[derive(Serialize, ToSchema)]
pub struct Job {
    #[schema(value_type = uuid::Uuid)]
    job_id: String,
    /// The instance's name, or the job's target when it is not registered.
    instance: String,
    instance_id: Option<i64>,
    kind: String,
    /// `pending`, `running`, `succeeded`, `failed` or `cancelled`.
    status: String,
    error: Option<JobError>,
    /// Absent when there are none.
    #[schema(value_type = Option<Vec<Object>>)]
    warnings: Option<Vec<serde_json::Value>>,
    attempt: i64,
    worker: Option<String>,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
}

/// A batch with its jobs: `dbfleet batch show --json`.
#[derive(Serialize, ToSchema)]
pub struct BatchReport {
    #[serde(flatten)]
    batch: Batch,
    jobs: Vec<Job>,
    /// Instances that are one server under several records; absent when
    /// there are none.
    shared_servers: Option<Vec<SharedServer>>,
    /// Pending jobs by the network zone they wait in; absent when none.
    #[schema(value_type = Option<std::collections::BTreeMap<String, i64>>)]
    waiting_by_zone: Option<serde_json::Value>,
}

#[derive(Serialize, ToSchema)]
pub struct SharedServer {
    server_identity: String,
    instances: Vec<String>,
}

/// A page of batches, newest first.
#[derive(Serialize, ToSchema)]
pub struct BatchPage {
    items: Vec<Batch>,
    /// The `cursor` of the next page; `null` on the last one.
    next_cursor: Option<String>,
}

/// What a cancel did.
#[derive(Serialize, ToSchema)]
pub struct Cancelled {
    batch: Batch,
    /// Jobs no worker had started, now `cancelled`.
    cancelled_jobs: i64,
}

/// A job enqueued on its own, and its batch of one.
#[derive(Serialize, ToSchema)]
pub struct Enqueued {
    job: Option<Job>,
    batch: Batch,
}

#[cfg(test)]
mod tests {
    use crate::message::JobKind;

    /// A kind added to the program but not here would be refused by
    /// clients that trust the document.
    #[test]
    fn every_kind_is_documented() {
        let schema = serde_json::to_value(<super::Kind as utoipa::PartialSchema>::schema())
            .unwrap_or_default();
        let documented: Vec<&str> = schema["enum"]
            .as_array()
            .map(|names| names.iter().filter_map(|n| n.as_str()).collect())
            .unwrap_or_default();
        let known: Vec<&str> = JobKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(documented, known);
    }
}
