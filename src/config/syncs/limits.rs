//! The keys that bound a definition's load on its source, the refused
//! rows it tolerates, and how it shares its tables' locks
//! (`crate::sync::Limits`).
//!
//! ```yaml
//!     max_parallel: 4            # tables one job runs at once
//!     source_connections: 2      # sessions on the source, all jobs together
//!     lock_wait: 10m             # wait for a target table another sync holds
//! ```

use std::time::Duration;

use super::super::section::Section;
use crate::sync::{
    Limits, DEFAULT_LOCK_WAIT, DEFAULT_MAX_GAP_HOURS, DEFAULT_MAX_PARALLEL,
    DEFAULT_MAX_REJECTED_ROWS,
};

/// Ten years: a window no catch-up needs more of.
const MAX_GAP_HOURS: u32 = 87_600;
/// Each table runs on two sessions of its own: 32 tables are 64 sessions.
const MAX_PARALLEL: u32 = 32;
/// A job tries every slot in turn while it waits for one: a few dozen
/// statements at most per try.
const MAX_SOURCE_CONNECTIONS: u32 = 64;
/// A day: longer than any sync a table could be waiting behind.
const MAX_LOCK_WAIT: Duration = Duration::from_secs(86_400);

pub(in crate::config) fn limits(s: &mut Section<'_>) -> Limits {
    let max_rejected_rows = s.int_in(
        "max_rejected_rows",
        0..=u64::from(u32::MAX),
        DEFAULT_MAX_REJECTED_ROWS,
    );
    let rows_per_second = s
        .map
        .contains_key("rows_per_second")
        .then(|| s.int_in("rows_per_second", 1..=100_000_000_u32, 0))
        .filter(|&n| n > 0);
    let statement_timeout_seconds = s
        .map
        .contains_key("statement_timeout")
        .then(|| {
            let least = Duration::from_secs(1);
            s.duration("statement_timeout", Duration::ZERO, least)
        })
        .map(|d| d.as_secs())
        .filter(|&n| n > 0);
    let max_gap_hours = s.int_in("max_gap_hours", 1..=MAX_GAP_HOURS, DEFAULT_MAX_GAP_HOURS);
    let max_parallel = s.int_in("max_parallel", 1..=MAX_PARALLEL, DEFAULT_MAX_PARALLEL);
    let source_connections = s.optional_int_in("source_connections", 1..=MAX_SOURCE_CONNECTIONS);
    Limits {
        max_rejected_rows,
        rows_per_second,
        statement_timeout_seconds,
        max_gap_hours,
        max_parallel,
        source_connections,
        lock_wait_seconds: lock_wait(s).as_secs(),
    }
}

/// `lock_wait`: whole seconds up to a day; `0s` fails at once, as a sync
/// did before it waited.
fn lock_wait(s: &mut Section<'_>) -> Duration {
    let wait = s.duration("lock_wait", DEFAULT_LOCK_WAIT, Duration::ZERO);
    if wait > MAX_LOCK_WAIT {
        let most = humantime::format_duration(MAX_LOCK_WAIT);
        s.error("lock_wait", &format!("must be at most {most}"));
        return DEFAULT_LOCK_WAIT;
    }
    wait
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use crate::config::load_from_str;
    use crate::config::test_support::{problems, SOURCE};
    use crate::sync::Limits;

    const DEFINITION: &str = "syncs:\n\
        \x20 - name: o\n    source: { instance: p, database: s }\n\
        \x20   targets: [ { instance: b, database: s } ]\n\
        \x20   tables: [ { name: t } ]\n";

    fn limits(extra: &str) -> Limits {
        let yaml = format!("{DEFINITION}{extra}");
        let settings = load_from_str(SOURCE, &yaml, Vec::new()).unwrap();
        settings.syncs[0].limits.clone()
    }

    #[test]
    fn limits_default_and_load() {
        assert_eq!(limits(""), Limits::default());
        assert_eq!(Limits::default().max_rejected_rows, 0);
        assert_eq!(Limits::default().max_gap_hours, 24);
        let defaults = Limits::default();
        assert_eq!(
            (defaults.max_parallel, defaults.lock_wait_seconds),
            (1, 600)
        );
        assert_eq!((defaults.source_connections(), defaults.parallel()), (5, 1));
        let set = limits(
            "    max_rejected_rows: 20\n    rows_per_second: 500\n\
             \x20   statement_timeout: 2m\n    max_gap_hours: 6\n\
             \x20   max_parallel: 4\n    source_connections: 2\n    lock_wait: 90s\n",
        );
        assert_eq!(
            set,
            Limits {
                max_rejected_rows: 20,
                rows_per_second: Some(500),
                statement_timeout_seconds: Some(120),
                max_gap_hours: 6,
                max_parallel: 4,
                source_connections: Some(2),
                lock_wait_seconds: 90,
            }
        );
        // A job runs no more tables than the source has sessions for.
        assert_eq!((set.source_connections(), set.parallel()), (2, 2));
        let wide = limits("    max_parallel: 3\n    lock_wait: 0s\n");
        assert_eq!((wide.source_connections(), wide.parallel()), (5, 3));
        let wider = limits("    max_parallel: 8\n");
        assert_eq!((wider.source_connections(), wider.parallel()), (8, 8));
        assert_eq!(wide.lock_wait_seconds, 0);
    }

    #[test]
    fn a_definition_stored_before_the_parallel_keys_loads_with_their_defaults() {
        let stored = serde_json::json!({
            "max_rejected_rows": 0,
            "max_gap_hours": 24,
        });
        let limits: Limits = serde_json::from_value(stored).unwrap();
        assert_eq!(limits, Limits::default());
    }

    #[test]
    fn bad_limits_are_reported_on_their_keys() {
        let yaml = format!(
            "{DEFINITION}    max_rejected_rows: -1\n    rows_per_second: 0\n\
             \x20   statement_timeout: soon\n    max_gap_hours: 0\n\
             \x20   max_parallel: 33\n    source_connections: 0\n    lock_wait: 2d\n"
        );
        let found = problems(&yaml);
        for key in [
            "max_rejected_rows",
            "rows_per_second",
            "statement_timeout",
            "max_gap_hours",
            "max_parallel",
            "source_connections",
            "lock_wait",
        ] {
            let expected = format!("syncs[0].{key}:");
            assert!(
                found.iter().any(|p| p.starts_with(&expected)),
                "{expected} not in {found:#?}"
            );
        }
    }
}
