//! The keys that bound a definition's load on its source and the refused
//! rows it tolerates (`crate::sync::Limits`).

use std::time::Duration;

use super::super::section::Section;
use crate::sync::{Limits, DEFAULT_MAX_GAP_HOURS, DEFAULT_MAX_REJECTED_ROWS};

/// Ten years: a window no catch-up needs more of.
const MAX_GAP_HOURS: u32 = 87_600;

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
    Limits {
        max_rejected_rows,
        rows_per_second,
        statement_timeout_seconds,
        max_gap_hours,
    }
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
        let set = limits(
            "    max_rejected_rows: 20\n    rows_per_second: 500\n\
             \x20   statement_timeout: 2m\n    max_gap_hours: 6\n",
        );
        assert_eq!(
            set,
            Limits {
                max_rejected_rows: 20,
                rows_per_second: Some(500),
                statement_timeout_seconds: Some(120),
                max_gap_hours: 6,
            }
        );
    }

    #[test]
    fn bad_limits_are_reported_on_their_keys() {
        let yaml = format!(
            "{DEFINITION}    max_rejected_rows: -1\n    rows_per_second: 0\n\
             \x20   statement_timeout: soon\n    max_gap_hours: 0\n"
        );
        let found = problems(&yaml);
        for key in [
            "max_rejected_rows",
            "rows_per_second",
            "statement_timeout",
            "max_gap_hours",
        ] {
            let expected = format!("syncs[0].{key}:");
            assert!(
                found.iter().any(|p| p.starts_with(&expected)),
                "{expected} not in {found:#?}"
            );
        }
    }
}
