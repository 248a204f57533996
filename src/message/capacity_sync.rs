//! `capacity_sync`: the inventory and the size of every database of one
//! instance, filed as the day's history.
//!
//! It takes no parameters beyond its target instance, so its jobs carry no
//! `params` on the wire, exactly as v1 producers write them.

use serde::{Deserialize, Serialize};

/// No parameters: the instance is the job's target.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Params {}

/// Inventory diff counts of one run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryCounts {
    pub created: u32,
    pub refreshed: u32,
    pub reactivated: u32,
    pub deactivated: u32,
}

/// What one capacity sync produced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Output {
    /// Databases whose size was collected.
    pub databases: u32,
    /// `database_size_stats` rows written.
    pub records: u32,
    /// Sum of the collected sizes, MiB.
    pub total_size_mb: i64,
    pub inventory: InventoryCounts,
}
