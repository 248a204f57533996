//! `table_sizes`: the size of each table of one instance's databases,
//! filed as the day's snapshot, bounded so a database of 100,000 tables
//! costs what one of `top` tables does, and an instance of 1,000
//! databases what `instance_top` tables do.

use serde::{Deserialize, Serialize};

/// Tables stored exactly per database when `top` is not given.
pub const DEFAULT_TOP: u32 = 50;

/// Tables stored exactly across all the databases of an instance when
/// `instance_top` is not given: an instance of many databases files at
/// most this many rows besides one `rest` row per database.
pub const DEFAULT_INSTANCE_TOP: u32 = 500;

/// Seconds the job may spend on an instance's databases when `budget` is
/// not given; the databases left when it runs out are skipped.
pub const DEFAULT_BUDGET_SECONDS: u32 = 120;

/// Most skipped databases an output names.
pub const MAX_NAMED: usize = 100;

/// Which databases, how many tables each, how long.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Params {
    /// Only this database; every active one when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// Largest tables stored one by one per database; the others are
    /// folded into one `rest` row. [`DEFAULT_TOP`] when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top: Option<u32>,
    /// Largest tables stored one by one across every database read, at
    /// most `top` of each; the others are folded into their database's
    /// `rest` row. [`DEFAULT_INSTANCE_TOP`] when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_top: Option<u32>,
    /// Seconds for the whole instance ([`DEFAULT_BUDGET_SECONDS`] when
    /// absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_seconds: Option<u32>,
}

impl Params {
    pub fn top(&self) -> usize {
        usize::try_from(self.top.unwrap_or(DEFAULT_TOP).max(1)).unwrap_or(usize::MAX)
    }

    pub fn instance_top(&self) -> usize {
        let top = self.instance_top.unwrap_or(DEFAULT_INSTANCE_TOP).max(1);
        usize::try_from(top).unwrap_or(usize::MAX)
    }

    pub fn budget(&self) -> std::time::Duration {
        let seconds = self.budget_seconds.unwrap_or(DEFAULT_BUDGET_SECONDS).max(1);
        std::time::Duration::from_secs(u64::from(seconds))
    }
}

/// A database whose tables were not read this run: its last snapshot
/// stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedDatabase {
    pub database: String,
    /// What went wrong (a lock or statement timeout, a refused connection,
    /// the budget spent).
    pub reason: String,
}

/// What one run produced.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Output {
    /// Databases whose tables were read and filed.
    pub databases: u32,
    /// Tables filed one by one.
    pub tables: u32,
    /// Tables folded into their database's `rest` row.
    pub folded: u32,
    /// Sum of every table read, MiB (rounded up).
    pub total_size_mb: i64,
    /// Databases not read this run; the count is exact.
    #[serde(default)]
    pub skipped: u32,
    /// The first [`MAX_NAMED`] of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped_databases: Vec<SkippedDatabase>,
}
