//! `data_sync`: keep the backups of one sync definition in step with its
//! source. The job's instance is a target (backup) instance; the job syncs
//! every target of the definition on that instance (or the one named), each
//! table of the definition in turn.

use serde::{Deserialize, Serialize};

use crate::sync::SyncMode;

/// Which definition, which of its targets on the job's instance, and how.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Params {
    /// The sync definition's name.
    pub definition: String,
    /// Only the target database of this name on the job's instance; every
    /// target of the definition there when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// The definition's own mode when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<SyncMode>,
    /// Compare source and target by chunk checksums after the run; the
    /// definition's `verify` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<bool>,
    /// Only compare (and, with `repair`, re-copy the chunks that differ):
    /// no sync.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub verify_only: bool,
    /// With `verify_only`: re-copy the chunks that differ.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub repair: bool,
}

/// What one job did, table by table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Output {
    pub definition: String,
    pub tables: Vec<TableRun>,
}

impl Output {
    fn sum(&self, f: impl Fn(&TableRun) -> u64) -> u64 {
        self.tables.iter().map(f).sum()
    }

    pub fn rows_read(&self) -> u64 {
        self.sum(|t| t.rows_read)
    }

    pub fn rows_applied(&self) -> u64 {
        self.sum(|t| t.rows_applied)
    }

    pub fn rows_deleted(&self) -> u64 {
        self.sum(|t| t.rows_deleted)
    }

    pub fn tables_failed(&self) -> u64 {
        self.sum(|t| u64::from(t.status == RunStatus::Failed))
    }

    /// Chunks whose verification found the target different from the
    /// source (different, missing or extra rows).
    pub fn chunks_differing(&self) -> u64 {
        self.sum(|t| t.verification.as_ref().map_or(0, Verification::differing))
    }
}

/// One table synced into one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableRun {
    /// The source table.
    pub table: String,
    /// `instance/database` of the target.
    pub target: String,
    pub mode: SyncMode,
    pub status: RunStatus,
    pub rows_read: u64,
    pub rows_applied: u64,
    pub rows_deleted: u64,
    /// Where the table's checkpoint stands after the run, as the target
    /// keeps it (`cursor…, key…` in canonical text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<Vec<Option<String>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<Verification>,
    /// Why the table failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Rows the target refused for their values, not applied.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub rows_rejected: u64,
    /// The first of them (at most [`REJECTED_KEPT`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rejected: Vec<Rejected>,
    /// It failed on what only its configuration can change (a key or a
    /// column missing, a target table that does not fit, a source that
    /// changed shape): running it again would fail the same way. Kept by
    /// the worker, not sent.
    #[serde(skip)]
    pub permanent: bool,
}

/// How many refused rows a table's run lists: enough to see the pattern,
/// few enough for a result message.
pub const REJECTED_KEPT: usize = 20;

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A row the target refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejected {
    /// The row's key, canonical text.
    pub key: Vec<Option<String>>,
    /// The target database's message.
    pub reason: String,
}

impl TableRun {
    /// `N rows rejected, e.g. key [..]: reason`, when any were.
    pub fn rejections(&self) -> Option<String> {
        let first = self.rejected.first()?;
        let key: Vec<&str> = first
            .key
            .iter()
            .map(|v| v.as_deref().unwrap_or("NULL"))
            .collect();
        Some(format!(
            "{} rows rejected, e.g. key [{}]: {}",
            self.rows_rejected,
            key.join(", "),
            first.reason
        ))
    }
}

/// A table's run status, in the words of batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Success,
    Failed,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Success => "success",
            RunStatus::Failed => "failed",
        }
    }
}

/// Chunk by chunk (key ranges), source against target: row count and the
/// exact sum of 60-bit row hashes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    pub chunks: u64,
    pub matched: u64,
    /// Both sides have rows in the chunk, but not the same.
    pub different: u64,
    /// The target has no row of the chunk.
    pub missing: u64,
    /// The source has no row of the chunk.
    pub extra: u64,
    /// Chunks re-copied (`repair`).
    #[serde(default)]
    pub repaired: u64,
}

impl Verification {
    pub fn differing(&self) -> u64 {
        self.different + self.missing + self.extra
    }
}
