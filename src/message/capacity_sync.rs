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
    /// Databases kept without being seen: the account cannot see the whole
    /// catalogue, so not seeing one does not mean it was dropped.
    #[serde(default)]
    pub unseen: u32,
    /// The account could not see the whole catalogue: nothing was
    /// deactivated, and databases it cannot see may be missing.
    #[serde(default)]
    pub partial: bool,
}

/// Most unmeasured databases an output names (the count is always exact;
/// the store keeps every one).
pub const MAX_NAMED: usize = 100;

/// A database that was not measured, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnmeasuredDatabase {
    pub database: String,
    /// `permission`, `dropped`, `not_visible` or `error`.
    pub reason: String,
    /// What happened, and the grant that fixes it when there is one.
    pub detail: String,
}

/// What one capacity sync produced.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Output {
    /// Databases whose size was collected.
    pub databases: u32,
    /// `database_size_stats` rows written.
    pub records: u32,
    /// Sum of the collected sizes, MiB.
    pub total_size_mb: i64,
    pub inventory: InventoryCounts,
    /// Databases of the instance that could not be measured this run; the
    /// day is then partial.
    #[serde(default)]
    pub unmeasured: u32,
    /// The first [`MAX_NAMED`] of them, by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unmeasured_databases: Vec<UnmeasuredDatabase>,
    /// When the inventory is partial, the grant that would make it whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory_grant: Option<String>,
    /// Equal for two instances on the same server (see the probe's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_identity: Option<String>,
}
