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
//!   - name: monthly-rollup
//!     kind: table_sizes
//!     cron: "@weekly"
//!     params: { top: 50 }                # the kind's parameters
//! ```
//!
//! Times are in the configuration's `timezone`. Each problem names its key,
//! like every other section.

use std::time::Duration;

use serde_yaml::Value;

use super::section::Section;
use crate::labels::Selector;
use crate::message::{JobKind, JobParams};
use crate::schedule::{Timing, Window, DEFAULT_GRACE};

/// The longest a schedule's jobs may be spread over: a week, as
/// `batch start --spread`.
const MAX_SPREAD: Duration = Duration::from_secs(7 * 24 * 3600);

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

pub(super) fn schedules(root: &mut Section<'_>, tz: chrono_tz::Tz) -> Vec<DeclaredSchedule> {
    let built = root.list("schedules", "schedule", |s, _| schedule(s, tz));
    let mut seen = std::collections::BTreeSet::new();
    let mut schedules = Vec::new();
    for (index, schedule) in built.into_iter().enumerate() {
        let Some(schedule) = schedule else { continue };
        if !seen.insert(schedule.name.clone()) {
            let key = format!("schedules[{index}].name");
            let problem = format!("`{}` is declared twice", schedule.name);
            root.error(&key, &problem);
            continue;
        }
        schedules.push(schedule);
    }
    schedules
}

fn schedule(s: &mut Section<'_>, tz: chrono_tz::Tz) -> Option<DeclaredSchedule> {
    let name = s.required_string("name");
    if !name.is_empty() && !valid_name(&name) {
        s.error("name", "use 1 to 128 of A-Z a-z 0-9 . _ -");
    }
    let params = params(s);
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
    Some(DeclaredSchedule {
        name: valid_name(&name).then_some(name)?,
        params: params?,
        timing: timing?,
        selector,
        spread,
    })
}

/// `kind` (required) and `params` (checked against it).
fn params(s: &mut Section<'_>) -> Option<JobParams> {
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
            return None;
        }
    };
    JobParams::from_json(kind?, value)
        .map_err(|e| s.error("params", &format!("for kind `{raw}`: {e}")))
        .ok()
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

fn valid_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}
