//! The shapes of the capacity reads: inventories, daily sizes and totals,
//! the fleet's largest and fastest-growing databases, table sizes,
//! period aggregates and forecasts.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;

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

/// How one database changed over a window.
#[derive(Serialize, ToSchema)]
pub struct Growth {
    instance: String,
    engine: String,
    database_name: String,
    /// The first day in the window with a size.
    from_date: NaiveDate,
    from_mb: i64,
    /// The last day in the window with a size.
    to_date: NaiveDate,
    to_mb: i64,
    change_mb: i64,
    /// The change in percent of the first size, to hundredths; null when
    /// that was 0.
    change_percent: Option<f64>,
}

/// The fastest-growing databases over a window, largest change first.
#[derive(Serialize, ToSchema)]
pub struct GrowthList {
    from: NaiveDate,
    to: NaiveDate,
    items: Vec<Growth>,
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

/// One of the fleet's largest tables, with its instance.
#[derive(Serialize, ToSchema)]
pub struct FleetTable {
    instance: String,
    engine: String,
    #[serde(flatten)]
    table: TableSize,
}

/// The fleet's largest tables from each database's latest snapshot on or
/// before `date`, largest first (rest rows are not tables, and left out).
#[derive(Serialize, ToSchema)]
pub struct FleetTables {
    date: NaiveDate,
    items: Vec<FleetTable>,
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
