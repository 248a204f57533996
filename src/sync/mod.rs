//! Data sync definitions: what a `data_sync` job keeps in step, as the
//! configuration declares it and the control store keeps it.
//!
//! A definition copies tables of one source database (an instance and a
//! database) into one or more targets (each a backup instance and
//! database). A `data_sync` job runs one definition on one target
//! instance, each of the definition's targets there, up to `max_parallel`
//! tables at once; backups on different instances sync in parallel across
//! the fleet, as far as the definition's `source_connections` let them.
//!
//! This module does no IO: the SQL is in `adapters::sync`, the run in
//! `jobs::data_sync`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::domain::InstanceName;
use crate::retry::RetryPolicy;

/// The largest `batch_size`: rows per page read and per statement
/// written. A statement's placeholders are further capped per table by
/// the drivers' limit of 65,535 binds.
pub const MAX_BATCH_SIZE: u32 = 50_000;
/// Rows per page when the definition does not say.
pub const DEFAULT_BATCH_SIZE: u32 = 5_000;
/// How far back the first incremental run of a table reaches, when it has
/// a time cursor: five years.
pub const DEFAULT_INITIAL_DAYS: u32 = 1_825;
/// How long a row must be old before the cursor passes it: a transaction
/// that stamped a row earlier but commits later is still seen.
pub const DEFAULT_SETTLE: Duration = Duration::from_secs(60);

/// A definition, keyed by its name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncDefinition {
    /// 1 to 128 of `A-Z a-z 0-9 . _ -`.
    pub name: String,
    pub source: Endpoint,
    pub targets: Vec<Endpoint>,
    pub mode: SyncMode,
    /// Remove from the target the rows the source no longer has (a full
    /// run compares keys; an incremental run reconciles keys).
    #[serde(default)]
    pub mirror: bool,
    pub tables: Vec<TableSpec>,
    pub batch_size: u32,
    pub initial_days: u32,
    /// How long a row must be old, in seconds of the source's clock,
    /// before an incremental cursor passes it.
    pub settle_seconds: u64,
    /// Compare source and target by chunk checksums after each run.
    #[serde(default)]
    pub verify: bool,
    pub enabled: bool,
    /// How often `dbfleet serve` runs it, by mode; none: only on demand.
    #[serde(default)]
    pub every: Cadences,
    #[serde(flatten)]
    pub limits: Limits,
    /// When a failed run runs again (a definition stored before retries
    /// existed has the default policy).
    #[serde(default)]
    pub retry: RetryPolicy,
}

/// Rows a table's run may leave out when the target refuses them: none
/// unless the definition says so, since a row left out is past the
/// checkpoint and stays missing until a full run or a repair.
pub const DEFAULT_MAX_REJECTED_ROWS: u64 = 0;
/// The widest window of an incremental catch-up, in hours of the first
/// cursor column.
pub const DEFAULT_MAX_GAP_HOURS: u32 = 24;
/// Tables one job runs at once when the definition does not say: one,
/// as before the key existed.
pub const DEFAULT_MAX_PARALLEL: u32 = 1;
/// Sessions a definition's jobs read its source with at once, all
/// together, unless it says (or its `max_parallel` is higher): the
/// connection pool of the sync tools it replaces.
pub const DEFAULT_SOURCE_CONNECTIONS: u32 = 5;
/// How long a table waits for its target table's lock, held by another
/// sync, before it fails.
pub const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(600);

/// How much a definition may load its source, and how many refused rows
/// it tolerates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Rows the target may refuse (for their values) before the table's
    /// run fails; 0: the first fails it.
    #[serde(default = "max_rejected_rows")]
    pub max_rejected_rows: u64,
    /// Rows read from the source per second, at most, on average over the
    /// run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows_per_second: Option<u32>,
    /// The statement timeout of both sessions, in seconds, instead of the
    /// job's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statement_timeout_seconds: Option<u64>,
    /// An incremental run reads at most this many hours of the first
    /// (time) cursor column per statement.
    #[serde(default = "max_gap_hours")]
    pub max_gap_hours: u32,
    /// Tables one job runs at once, each on a source and a target session
    /// of its own.
    #[serde(default = "max_parallel")]
    pub max_parallel: u32,
    /// Sessions all the definition's jobs read the source with at once,
    /// fleet-wide; `None`: [`DEFAULT_SOURCE_CONNECTIONS`], or
    /// `max_parallel` when higher.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_connections: Option<u32>,
    /// How long a table waits, in seconds, for its target table's lock
    /// while another sync holds it.
    #[serde(default = "lock_wait_seconds")]
    pub lock_wait_seconds: u64,
}

fn max_rejected_rows() -> u64 {
    DEFAULT_MAX_REJECTED_ROWS
}

fn max_gap_hours() -> u32 {
    DEFAULT_MAX_GAP_HOURS
}

fn max_parallel() -> u32 {
    DEFAULT_MAX_PARALLEL
}

fn lock_wait_seconds() -> u64 {
    DEFAULT_LOCK_WAIT.as_secs()
}

impl Limits {
    /// The source sessions the definition's jobs share. Bounded by
    /// default, so the load on the source does not grow with the number
    /// of targets, yet wide enough that a few backups sync side by side.
    pub fn source_connections(&self) -> u32 {
        let default = DEFAULT_SOURCE_CONNECTIONS.max(self.max_parallel);
        self.source_connections.unwrap_or(default).max(1)
    }

    /// Tables one job runs at once: a table beyond the source's sessions
    /// could only wait for one.
    pub fn parallel(&self) -> u32 {
        self.max_parallel.min(self.source_connections()).max(1)
    }

    pub fn lock_wait(&self) -> Duration {
        Duration::from_secs(self.lock_wait_seconds)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_rejected_rows: DEFAULT_MAX_REJECTED_ROWS,
            rows_per_second: None,
            statement_timeout_seconds: None,
            max_gap_hours: DEFAULT_MAX_GAP_HOURS,
            max_parallel: DEFAULT_MAX_PARALLEL,
            source_connections: None,
            lock_wait_seconds: DEFAULT_LOCK_WAIT.as_secs(),
        }
    }
}

/// The periods of a definition's runs, in seconds, each dividing a minute,
/// an hour or a day so that it is a cron schedule in the configured zone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cadences {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incremental: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full: Option<u64>,
    /// A consistency pass: compare only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<u64>,
}

/// The cron pattern (with seconds) of a run every `seconds`, when the
/// period divides a minute, an hour or a day; `None` otherwise.
pub fn cron_every(seconds: u64) -> Option<String> {
    let divides = |unit: u64, n: u64| n > 0 && unit % n == 0;
    match seconds {
        86_400 => Some("0 0 0 * * *".to_string()),
        s if s % 3_600 == 0 && divides(24, s / 3_600) => Some(format!("0 0 */{} * * *", s / 3_600)),
        s if s % 60 == 0 && divides(60, s / 60) => Some(format!("0 */{} * * * *", s / 60)),
        s if divides(60, s) => Some(format!("*/{s} * * * * *")),
        _ => None,
    }
}

impl SyncDefinition {
    /// The targets on the instance `instance`.
    pub fn settle(&self) -> Duration {
        Duration::from_secs(self.settle_seconds)
    }

    pub fn targets_on(&self, instance: &InstanceName) -> impl Iterator<Item = &Endpoint> {
        let instance = instance.clone();
        self.targets.iter().filter(move |t| t.instance == instance)
    }
}

/// A database on a registered instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub instance: InstanceName,
    pub database: String,
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.instance, self.database)
    }
}

/// How a run reads the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncMode {
    /// Every row, in key order, upserted on the key.
    Full,
    /// The rows past the table's checkpoint, by `(cursor…, key…)`.
    Incremental,
}

impl SyncMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SyncMode::Full => "full",
            SyncMode::Incremental => "incremental",
        }
    }
}

/// One table of a definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableSpec {
    /// The source table (in the source database; on PostgreSQL, an
    /// optional `schema.` prefix, `public` otherwise).
    pub name: String,
    /// The target table's name; the source's when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The columns that identify a row; the primary key when empty.
    #[serde(default)]
    pub key: Vec<String>,
    /// The columns an incremental run orders by, before the key (a
    /// database-stamped `updated_at`).
    #[serde(default)]
    pub cursor: Vec<String>,
}

impl TableSpec {
    pub fn target_name(&self) -> &str {
        self.target.as_deref().unwrap_or(&self.name)
    }

    /// Whether `name` is a pattern of the source's tables (`*` any run of
    /// characters, `?` exactly one; declared as `pattern:`): each table it
    /// matches is synced under its own name, with this key and cursor.
    /// The configuration refuses `*` and `?` in a plain `name`.
    pub fn is_pattern(&self) -> bool {
        self.name.contains(['*', '?'])
    }

    /// Whether the pattern matches `table` (a name without its schema),
    /// case-sensitively as the catalogues name it.
    pub fn matches(&self, table: &str) -> bool {
        let pattern = self.name.rsplit('.').next().unwrap_or(&self.name);
        glob(pattern, table)
    }

    /// The schema a `pattern` spec names (`archive.audit_*`), if any.
    pub fn schema(&self) -> Option<&str> {
        self.name.rsplit_once('.').map(|(schema, _)| schema)
    }
}

/// `*` matches any run of characters (even none), `?` exactly one; the
/// rest matches itself. Iterative, with one backtrack point: linear in
/// practice, never exponential.
fn glob(pattern: &str, text: &str) -> bool {
    let (t, p): (Vec<char>, Vec<char>) = (text.chars().collect(), pattern.chars().collect());
    let (mut ti, mut pi) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '?' || c == t[ti] => (ti, pi) = (ti + 1, pi + 1),
            _ => match star {
                Some((sp, st)) => {
                    (pi, ti) = (sp + 1, st + 1);
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(pattern: &str) -> TableSpec {
        TableSpec {
            name: pattern.to_string(),
            target: None,
            key: Vec::new(),
            cursor: Vec::new(),
        }
    }

    #[test]
    fn patterns_match_whole_names() {
        let audit = spec("audit_*");
        assert!(audit.is_pattern() && !spec("audit").is_pattern());
        assert!(audit.matches("audit_2024"));
        assert!(audit.matches("audit_"));
        assert!(!audit.matches("xaudit_2024"));
        assert!(!audit.matches("Audit_2024"));
        let one = spec("t?_log");
        assert!(one.matches("t1_log"));
        assert!(!one.matches("t12_log"));
        assert!(!one.matches("t_log"));
        let inner = spec("*_2024_*");
        assert!(inner.matches("orders_2024_01"));
        assert!(!inner.matches("orders_2023_01"));
        assert!(spec("*").matches("anything"));
        assert!(spec("a*b*c").matches("aXbYbZc"));
        assert!(!spec("a*b*c").matches("aXbYbZ"));
        // The schema is the catalogue's to choose, not the pattern's.
        let archived = spec("archive.log_*");
        assert_eq!(archived.schema(), Some("archive"));
        assert!(archived.matches("log_1"));
        assert_eq!(audit.schema(), None);
    }
}
