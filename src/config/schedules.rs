//! `schedules:`: batches `dbfleet serve` starts by itself.
//!
//! ```yaml
//! schedules:
//!   - name: nightly-capacity
//!     kind: capacity_sync
//!     cron: "0 2 * * *"                  # 5 fields, or 6 with seconds first
//!     selector: "env=prod"               # only the active instances matching
//!     spread: 30m                        # publish the jobs over a window
//!     grace: 1h                          # a run missed by less still runs, once
//!     maintenance: ["sat,sun 22:00-06:00"]   # no run starts inside
//!   - name: weekly-tables
//!     kind: table_sizes
//!     cron: "@weekly"
//!     params: { top: 50 }                # the kind's parameters
//! ```
//!
//! Times are in the configuration's `timezone`. Each problem names its key,
//! like every other section.
//!
//! With no schedule of kind `table_sizes`, one is added:
//! [`DEFAULT_TABLE_SIZES`], Sundays at 03:00 with the kind's default
//! parameters, so an installation files table sizes without having to
//! know the kind exists; `capacity.table_sizes_schedule: false` leaves it
//! out.

use std::time::Duration;

use serde_yaml::Value;

use super::section::Section;
use crate::labels::Selector;
use crate::message::{JobKind, JobParams};
use crate::schedule::{Timing, Window, DEFAULT_GRACE};

/// The longest a schedule's jobs may be spread over: a week, as
/// `batch start --spread`.
const MAX_SPREAD: Duration = Duration::from_secs(7 * 24 * 3600);

/// The name of the schedule added when none of kind `table_sizes` is
/// declared.
pub const DEFAULT_TABLE_SIZES: &str = "table-sizes-weekly";

/// When it runs: Sundays at 03:00, a quiet hour in most zones.
const DEFAULT_TABLE_SIZES_CRON: &str = "0 3 * * sun";

/// A schedule declared in the configuration.
#[derive(Debug, Clone)]
pub struct DeclaredSchedule {
    /// Unique among the schedules; 1 to 128 of `A-Z a-z 0-9 . _ -`.
    pub name: String,
    /// The kind of its batches' jobs, and their parameters.
    pub params: JobParams,
    pub timing: Timing,
    /// Only the active instances whose labels match; every active one
    /// without.
    pub selector: Option<Selector>,
    /// Publish each batch's jobs over this window.
    pub spread: Option<Duration>,
}

impl DeclaredSchedule {
    pub fn kind(&self) -> JobKind {
        self.params.kind()
    }
}

/// The declared schedules, and the default `table_sizes` one when
/// `default_table_sizes` and none of the kind is declared.
pub(super) fn schedules(
    root: &mut Section<'_>,
    tz: chrono_tz::Tz,
    default_table_sizes: bool,
) -> Vec<DeclaredSchedule> {
    let built = root.list("schedules", "schedule", |s, _| schedule(s, tz));
    let mut seen = std::collections::BTreeSet::new();
    let mut schedules = Vec::new();
    let mut table_sizes_declared = false;
    for (index, (name, kind, schedule)) in built.into_iter().enumerate() {
        table_sizes_declared |= kind == Some(JobKind::TableSizes);
        if !name.is_empty() && !seen.insert(name.clone()) {
            let key = format!("schedules[{index}].name");
            root.error(&key, &format!("`{name}` is declared twice"));
            continue;
        }
        if default_table_sizes && name == DEFAULT_TABLE_SIZES && kind != Some(JobKind::TableSizes) {
            let key = format!("schedules[{index}].name");
            let problem = format!(
                "`{name}` is the name of the default `table_sizes` schedule; rename this one, \
                 or set `capacity.table_sizes_schedule: false`"
            );
            root.error(&key, &problem);
        }
        schedules.extend(schedule);
    }
    if default_table_sizes && !table_sizes_declared {
        schedules.extend(weekly_table_sizes(tz));
    }
    schedules
}

/// [`DEFAULT_TABLE_SIZES`]: every active instance, the kind's default
/// parameters, the default grace, no window.
fn weekly_table_sizes(tz: chrono_tz::Tz) -> Option<DeclaredSchedule> {
    // A fixed, valid pattern: `new` fails only on a bad one.
    let timing = Timing::new(DEFAULT_TABLE_SIZES_CRON, tz, DEFAULT_GRACE, Vec::new()).ok()?;
    Some(DeclaredSchedule {
        name: DEFAULT_TABLE_SIZES.to_string(),
        params: JobParams::default_for(JobKind::TableSizes),
        timing,
        selector: None,
        spread: None,
    })
}

/// The schedule's name (empty when missing), its kind when known, and the
/// schedule when valid.
fn schedule(
    s: &mut Section<'_>,
    tz: chrono_tz::Tz,
) -> (String, Option<JobKind>, Option<DeclaredSchedule>) {
    let name = s.required_string("name");
    if !name.is_empty() && !valid_name(&name) {
        s.error("name", "use 1 to 128 of A-Z a-z 0-9 . _ -");
    }
    let (kind, params) = params(s);
    let pattern = s.required_string("cron");
    let grace = s.duration("grace", DEFAULT_GRACE, Duration::from_secs(1));
    let windows = windows(s);
    let timing = (!pattern.is_empty())
        .then(|| Timing::new(&pattern, tz, grace, windows))
        .and_then(|t| t.map_err(|e| s.error("cron", &e.to_string())).ok());
    let selector = s.non_empty_string("selector").and_then(|raw| {
        Selector::parse(&raw)
            .map_err(|e| s.error("selector", &e.to_string()))
            .ok()
    });
    let spread = s.map.contains_key("spread").then(|| {
        let spread = s.duration("spread", Duration::ZERO, Duration::from_secs(1));
        if spread > MAX_SPREAD {
            s.error("spread", "must be at most 7 days");
        }
        spread
    });
    let schedule = match (valid_name(&name), params, timing) {
        (true, Some(params), Some(timing)) => Some(DeclaredSchedule {
            name: name.clone(),
            params,
            timing,
            selector,
            spread,
        }),
        _ => None,
    };
    (name, kind, schedule)
}

/// `kind` (required) and `params` (checked against it): the kind when
/// known, the parameters when valid.
fn params(s: &mut Section<'_>) -> (Option<JobKind>, Option<JobParams>) {
    let raw = s.required_string("kind");
    let given = s.take("params");
    let kind = (!raw.is_empty()).then(|| JobKind::parse(&raw)).flatten();
    if kind.is_none() && !raw.is_empty() {
        let known: Vec<&str> = JobKind::ALL.iter().map(|k| k.as_str()).collect();
        let problem = format!("unknown kind `{raw}`; expected one of {}", known.join(", "));
        s.error("kind", &problem);
    }
    let value = match given {
        None => serde_json::Value::Null,
        Some(value @ Value::Mapping(_)) => serde_json::to_value(value).unwrap_or_default(),
        Some(_) => {
            s.error("params", "expected a mapping of the kind's parameters");
            return (kind, None);
        }
    };
    let params = kind.and_then(|kind| {
        JobParams::from_json(kind, value)
            .map_err(|e| s.error("params", &format!("for kind `{raw}`: {e}")))
            .ok()
    });
    (kind, params)
}

fn windows(s: &mut Section<'_>) -> Vec<Window> {
    let items = match s.take("maintenance") {
        None => return Vec::new(),
        Some(Value::Sequence(items)) => items,
        Some(_) => {
            s.error(
                "maintenance",
                "expected a list such as [\"sat,sun 22:00-06:00\"]",
            );
            return Vec::new();
        }
    };
    let mut windows = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let parsed = match item {
            Value::String(text) => Window::parse(text).map_err(|e| e.to_string()),
            _ => Err("expected a window such as \"01:00-03:00\"".to_string()),
        };
        match parsed {
            Ok(window) => windows.push(window),
            Err(problem) => s.error(&format!("maintenance[{index}]"), &problem),
        }
    }
    windows
}

pub(super) fn valid_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use crate::config::load_from_str;
    use crate::config::test_support::{problems, SOURCE};

    #[test]
    fn a_schedule_reads_its_kind_parameters_and_windows() {
        let yaml = "timezone: Europe/Paris\nschedules:\n\
                    \x20 - name: sizes\n    kind: table_sizes\n    cron: '30 3 * * sun'\n\
                    \x20   params: { top: 5 }\n    selector: 'env=prod'\n    spread: 30m\n\
                    \x20   maintenance: ['sat,sun 22:00-06:00']\n";
        let settings = load_from_str(SOURCE, yaml, Vec::new()).unwrap();
        let s = &settings.schedules[0];
        assert_eq!(
            (s.name.as_str(), s.kind().as_str()),
            ("sizes", "table_sizes")
        );
        assert_eq!(s.params.to_json(), serde_json::json!({"top": 5}));
        assert_eq!(s.spread, Some(std::time::Duration::from_secs(1800)));
        assert_eq!(s.timing.pattern(), "30 3 * * sun");
        assert_eq!(s.selector.as_ref().unwrap().to_string(), "env=prod");
    }

    #[test]
    fn every_bad_schedule_is_reported_on_its_key() {
        let yaml = "schedules:\n\
                    \x20 - { name: a, kind: probe, cron: 'every night' }\n\
                    \x20 - { name: b, kind: backup, cron: '0 2 * * *' }\n\
                    \x20 - { name: c, kind: table_sizes, cron: '0 2 * * *', params: { top: -1 } }\n\
                    \x20 - { name: a, kind: probe, cron: '0 3 * * *' }\n\
                    \x20 - { name: 'd e', kind: probe, cron: '0 2 * * *', maintenance: ['someday 01:00-02:00'] }\n\
                    \x20 - { name: f, kind: probe, cron: '0 2 * * *', spread: 8d, grace: 0s }\n\
                    \x20 - { name: g, kind: probe }\n";
        let found = problems(yaml);
        for expected in [
            "schedules[0].cron: not a cron pattern",
            "schedules[1].kind: unknown kind `backup`; expected one of",
            "schedules[2].params: for kind `table_sizes`:",
            "schedules[3].name: `a` is declared twice",
            "schedules[4].name: use 1 to 128 of",
            "schedules[4].maintenance[0]: expected weekdays",
            "schedules[5].spread: must be at most 7 days",
            "schedules[5].grace: must be at least 1s",
            "schedules[6].cron: required key is missing",
        ] {
            assert!(
                found.iter().any(|p| p.contains(expected)),
                "{expected} in {found:#?}"
            );
        }
    }

    #[test]
    fn without_a_table_sizes_schedule_a_weekly_one_runs_unless_turned_off() {
        let names = |yaml: &str| -> Vec<(String, String)> {
            let settings = load_from_str(SOURCE, yaml, Vec::new()).unwrap();
            let s = settings.schedules.iter();
            s.map(|s| (s.name.clone(), s.timing.pattern().to_string()))
                .collect()
        };
        let weekly = || ("table-sizes-weekly".to_string(), "0 3 * * sun".to_string());
        assert_eq!(names(""), [weekly()]);
        let probe = "schedules:\n  - { name: p, kind: probe, cron: '0 2 * * *' }\n";
        let got = names(probe);
        assert_eq!(got, [("p".to_string(), "0 2 * * *".to_string()), weekly()]);
        let own = "schedules:\n  - { name: t, kind: table_sizes, cron: '@daily' }\n";
        assert_eq!(names(own).len(), 1, "a declared one replaces it");
        let off = format!("{probe}capacity:\n  table_sizes_schedule: false\n");
        assert_eq!(names(&off).len(), 1);

        let yaml = "timezone: Asia/Tokyo\n";
        let settings = load_from_str(SOURCE, yaml, Vec::new()).unwrap();
        let s = &settings.schedules[0];
        assert_eq!(s.params.to_json(), serde_json::json!({}));
        assert!(s.selector.is_none() && s.spread.is_none());
        // Sunday 2026-11-29 03:00 in Tokyo is Saturday 18:00 UTC.
        let slot = chrono::DateTime::parse_from_rfc3339("2026-11-28T18:00:00Z")
            .unwrap()
            .to_utc();
        let owed_from = slot - chrono::Duration::days(1);
        let due = s
            .timing
            .due(slot + chrono::Duration::seconds(1), owed_from, None);
        assert_eq!(due, crate::schedule::Due::Fire { slot });
    }

    #[test]
    fn the_default_schedule_is_checked_like_the_rest() {
        let yaml = "capacity:\n  table_sizes_schedule: 'no'\n\
                    schedules:\n  - { name: table-sizes-weekly, kind: probe, cron: '0 2 * * *' }\n";
        let found = problems(yaml);
        for expected in [
            "capacity.table_sizes_schedule: expected `true` or `false`",
            "schedules[0].name: `table-sizes-weekly` is the name of the default",
        ] {
            assert!(
                found.iter().any(|p| p.contains(expected)),
                "{expected} in {found:#?}"
            );
        }
        let off = "capacity:\n  table_sizes_schedule: false\n\
                   schedules:\n  - { name: table-sizes-weekly, kind: probe, cron: '0 2 * * *' }\n";
        assert!(load_from_str(SOURCE, off, Vec::new()).is_ok());
    }
}
