//! The documented shapes of the answers whose JSON the library writes:
//! batches and jobs (`store::Batch`, `store::JobRow`, `fleet::BatchReport`,
//! as `dbfleet batch show --json` prints them) and capacity reads (the
//! store's rows of sizes and totals).
//!
//! These types only describe; nothing builds them. Keeping the OpenAPI
//! derive off the store's types keeps the store free of the API's concerns,
//! and drift cannot go unnoticed: schemathesis checks every answer of a
//! running server against these shapes (`dispatcher/tests/python.rs`). A
//! kind's counters and output are further top-level fields (e.g.
//! `total_records`), so the shapes leave other properties open.

#![allow(dead_code)] // Read by the OpenAPI derive only.

use chrono::{DateTime, NaiveDate, Utc};
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

/// One database of an instance's inventory.
#[derive(Serialize, ToSchema)]
pub struct InventoryDatabase {
    name: String,
    active: bool,
    first_seen: NaiveDate,
    last_seen: NaiveDate,
}

/// An instance's inventory, active and inactive databases.
#[derive(Serialize, ToSchema)]
pub struct Inventory {
    instance: String,
    items: Vec<InventoryDatabase>,
}

/// One day's total of an instance.
#[derive(Serialize, ToSchema)]
pub struct InstanceDay {
    total_size_mb: i64,
    database_count: i32,
    /// Some database of the day has no size: the total counts what was
    /// measured.
    partial: bool,
    unmeasured_count: i32,
    collected_date: NaiveDate,
}

/// An instance's daily totals, oldest first.
#[derive(Serialize, ToSchema)]
pub struct InstanceSizes {
    instance: String,
    from: NaiveDate,
    to: NaiveDate,
    items: Vec<InstanceDay>,
}

/// One day's size of a database.
#[derive(Serialize, ToSchema)]
pub struct DatabaseDay {
    database_name: String,
    size_mb: i64,
    data_size_mb: Option<i64>,
    /// How it was measured (`tablespace`, `tables`, `pg_database_size`, …).
    method: Option<String>,
    collected_date: NaiveDate,
}

/// A database's daily sizes, oldest first.
#[derive(Serialize, ToSchema)]
pub struct DatabaseSizes {
    instance: String,
    database: String,
    from: NaiveDate,
    to: NaiveDate,
    items: Vec<DatabaseDay>,
}

/// The latest size of one database of the fleet.
#[derive(Serialize, ToSchema)]
pub struct LatestSize {
    instance_id: i64,
    instance: String,
    engine: String,
    database_name: String,
    size_mb: i64,
    collected_date: NaiveDate,
}

/// A page of the fleet's databases, largest first.
#[derive(Serialize, ToSchema)]
pub struct LatestSizes {
    items: Vec<LatestSize>,
    /// The `cursor` of the next page; `null` on the last one.
    next_cursor: Option<String>,
}

/// The fleet's totals of one day and engine.
#[derive(Serialize, ToSchema)]
pub struct FleetDay {
    collected_date: NaiveDate,
    engine: String,
    instances: i64,
    databases: i64,
    total_size_mb: i64,
    /// Instances whose total of the day is partial.
    partial_instances: i64,
}

/// The fleet's totals by day and engine, oldest first.
#[derive(Serialize, ToSchema)]
pub struct FleetSummary {
    from: NaiveDate,
    to: NaiveDate,
    items: Vec<FleetDay>,
}

/// An instance's latest table sizes on or before `date`.
#[derive(Serialize, ToSchema)]
pub struct TableSizes {
    instance: String,
    date: NaiveDate,
    items: Vec<TableSize>,
}

/// One table of a database's snapshot, or the row folding the rest.
#[derive(Serialize, ToSchema)]
pub struct TableSize {
    database: String,
    collected_date: NaiveDate,
    /// Empty for the rest row.
    table_name: String,
    is_rest: bool,
    /// 1, or how many tables the rest row folds.
    tables: i64,
    total_bytes: i64,
    data_bytes: i64,
    index_bytes: i64,
    row_estimate: Option<i64>,
    /// `exact` (PostgreSQL's file sizes) or `estimate` (the engine's statistics).
    method: String,
    collected_at: DateTime<Utc>,
}

/// An instance's period aggregates.
#[derive(Serialize, ToSchema)]
pub struct Aggregates {
    instance: String,
    items: Vec<Aggregate>,
}

/// A kind of calendar period (weeks are ISO weeks).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    Daily,
    Weekly,
    Monthly,
    Quarterly,
    Yearly,
}

/// How a period compares with the previous one: beyond ±5 % is growing
/// or shrinking; unknown when the previous period has no data.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Trend {
    Growing,
    Shrinking,
    Stable,
    Unknown,
}

/// One period's figures of a database, or of the instance (no `database`).
/// Sizes in MiB; averages over the days with data, rounded half away from
/// zero.
#[derive(Serialize, ToSchema)]
pub struct Aggregate {
    /// Absent (null) for the instance's own aggregate.
    database: Option<String>,
    period_type: Period,
    period_start: NaiveDate,
    period_end: NaiveDate,
    avg_size_mb: i64,
    max_size_mb: i64,
    min_size_mb: i64,
    /// Days with data in the period.
    sample_count: i64,
    first_date: NaiveDate,
    last_date: NaiveDate,
    /// Change of the average against the previous calendar period; null
    /// when that period has no data.
    size_change_mb: Option<i64>,
    /// The same in percent, to hundredths; null also when the previous
    /// average was 0.
    size_change_percent: Option<f64>,
    /// MiB per day from the first to the last day with data; null with one day.
    growth_rate_mb_per_day: Option<f64>,
    trend: Trend,
    calculated_at: DateTime<Utc>,
}

/// Forecasts, soonest to fill first.
#[derive(Serialize, ToSchema)]
pub struct Forecasts {
    date: NaiveDate,
    items: Vec<Forecast>,
}

/// Days until an instance's total (or one database) reaches its ceiling.
#[derive(Serialize, ToSchema)]
pub struct Forecast {
    instance: String,
    /// Absent for the instance's total.
    database: Option<String>,
    engine: String,
    ceiling_mb: Option<i64>,
    /// `theil-sen`.
    fit: String,
    current_mb: Option<i64>,
    growth_mb_per_day: Option<f64>,
    /// Unknown (absent or null) without enough history, a ceiling, or growth.
    days_left: Option<i64>,
    /// Why `days_left` is unknown.
    reason: Option<String>,
    samples: i64,
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
