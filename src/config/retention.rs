//! `retention:`: how long each history is kept, applied by `dbfleet migrate
//! --maintain` (see `store::Retention`).
//!
//! ```yaml
//! retention:
//!   daily_stats: 400d        # daily database and instance sizes
//!   table_snapshots: 90d
//!   batches: 90d             # ended batches and their jobs
//!   dead_letters: 30d
//!   alert_records: 90d       # notifications sent, alerts resolved, batch alerts
//!   sync_history: 180d       # data sync runs
//!   partitions_ahead: 3      # months of partitions made ahead (PostgreSQL)
//! ```
//!
//! Nothing is deleted unless its key is set: an upgrade never starts
//! deleting history on its own. Aggregates are never deleted by retention.

use std::time::Duration;

use serde_yaml::Value;

use super::section::{kind, Section};

/// How many days of each history are kept; `None`: all of it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionSettings {
    /// Daily database and instance sizes, and the day's unmeasured databases.
    pub daily_stats: Option<u32>,
    pub table_snapshots: Option<u32>,
    /// Ended batches and their jobs.
    pub batches: Option<u32>,
    pub dead_letters: Option<u32>,
    /// Alert notifications sent, and alerts resolved (or of a batch, which
    /// never resolve) that long ago; a standing condition's firing alert
    /// is kept.
    pub alert_records: Option<u32>,
    /// Data sync runs (`sync_runs`).
    pub sync_history: Option<u32>,
    /// Months of partitions made ahead of today (PostgreSQL).
    pub months_ahead: u32,
}

const DAY: u64 = 24 * 3600;

pub(super) fn retention(s: &mut Section<'_>) -> RetentionSettings {
    RetentionSettings {
        daily_stats: days(s, "daily_stats"),
        table_snapshots: days(s, "table_snapshots"),
        batches: days(s, "batches"),
        dead_letters: days(s, "dead_letters"),
        alert_records: days(s, "alert_records"),
        sync_history: days(s, "sync_history"),
        months_ahead: s.int_in("partitions_ahead", 1..=24, 3),
    }
}

/// A whole number of days, at least one (`400d`, `13w`); absent: keep all.
fn days(s: &mut Section<'_>, key: &'static str) -> Option<u32> {
    const EXPECTED: &str = "expected a number of days such as `400d` or `13w`";
    let problem = match s.take(key)? {
        Value::String(text) => match humantime::parse_duration(&text) {
            Ok(d) if d.as_secs() % DAY == 0 && d >= Duration::from_secs(DAY) => {
                return u32::try_from(d.as_secs() / DAY).ok();
            }
            Ok(_) => format!("{EXPECTED}: whole days, at least one"),
            Err(e) => format!("{EXPECTED}: {e}"),
        },
        Value::Number(n) => {
            format!("{EXPECTED}, found the bare number {n} (add a unit, e.g. `{n}d`)")
        }
        other => format!("{EXPECTED}, found {}", kind(&other)),
    };
    s.error(key, &problem);
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use crate::config::load_from_str;
    use crate::config::test_support::{errors, SOURCE};

    #[test]
    fn retention_is_kept_for_ever_unless_set() {
        let settings = load_from_str(SOURCE, "", Vec::new()).unwrap();
        assert_eq!(settings.retention.daily_stats, None);
        assert_eq!(settings.retention.months_ahead, 3);
        let yaml = "retention:\n  daily_stats: 400d\n  batches: 13w\n  dead_letters: 1day\n";
        let settings = load_from_str(SOURCE, yaml, Vec::new()).unwrap();
        let r = settings.retention;
        assert_eq!(
            (r.daily_stats, r.batches, r.dead_letters),
            (Some(400), Some(91), Some(1))
        );
    }

    #[test]
    fn bad_retentions_say_what_is_expected() {
        let yaml = "retention:\n  daily_stats: 12h\n  batches: 90\n  dead_letters: soon\n  partitions_ahead: 0\n";
        let found: Vec<String> = errors(yaml, Vec::new())
            .iter()
            .map(|e| format!("{}: {}", e.key, e.problem))
            .collect();
        for expected in [
            "retention.daily_stats: expected a number of days such as `400d` or `13w`: whole days",
            "retention.batches: expected a number of days such as `400d` or `13w`, found the bare number 90",
            "retention.dead_letters: expected a number of days",
            "retention.partitions_ahead:",
        ] {
            assert!(found.iter().any(|p| p.contains(expected)), "{expected} in {found:#?}");
        }
    }
}
