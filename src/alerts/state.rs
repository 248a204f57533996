//! Observations against the stored states: which transitions to record.
//! Pure, so what "once" means is decided here and tested by hand.
//!
//! - A subject that starts firing (no state, or `resolved`) fires.
//! - A firing subject that no longer fires, or is no longer observed at
//!   all (its instance removed, its database gone from the window),
//!   resolves.
//! - A standing condition (firing and still firing, or resolved and still
//!   not firing) changes nothing, so nothing more is sent.
//! - A batch's alert fires once and never resolves: a batch has ended.
//! - A silenced (rule, subject) still changes state; it only sends nothing.

use std::collections::BTreeMap;

use serde_json::Value;

use super::rules::Observation;
use crate::config::AlertRule;
use crate::store::{AlertState, StoredAlert};

/// A transition to record.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub subject: String,
    /// The state seen; `None`: the subject has none yet.
    pub from: Option<AlertState>,
    pub to: AlertState,
    pub summary: String,
    pub details: Value,
    pub silenced: bool,
}

/// The transitions of `rule`, given what it observed and the states
/// stored (of any rule; only `rule`'s are looked at). `silenced` says
/// whether a subject of the rule is silenced now.
pub fn plan(
    rule: &AlertRule,
    observed: &[Observation],
    stored: &[StoredAlert],
    silenced: impl Fn(&str) -> bool,
) -> Vec<Change> {
    let current: BTreeMap<&str, AlertState> = stored
        .iter()
        .filter(|s| s.rule == rule.name)
        .map(|s| (s.subject.as_str(), s.state))
        .collect();
    let one_shot = rule.fires_once();
    let mut changes = Vec::new();
    for o in observed {
        let from = current.get(o.subject.as_str()).copied();
        let to = match (o.firing, from) {
            (true, None) => AlertState::Firing,
            (true, Some(AlertState::Resolved)) if !one_shot => AlertState::Firing,
            (false, Some(AlertState::Firing)) if !one_shot => AlertState::Resolved,
            _ => continue,
        };
        changes.push(Change {
            subject: o.subject.clone(),
            from,
            to,
            summary: o.summary.clone(),
            details: o.details.clone(),
            silenced: silenced(&o.subject),
        });
    }
    if !one_shot {
        changes.extend(vanished(&current, observed, &silenced));
    }
    changes
}

/// Firing subjects that were not observed at all: resolved.
fn vanished(
    current: &BTreeMap<&str, AlertState>,
    observed: &[Observation],
    silenced: &impl Fn(&str) -> bool,
) -> Vec<Change> {
    current
        .iter()
        .filter(|(_, state)| **state == AlertState::Firing)
        .filter(|(subject, _)| !observed.iter().any(|o| o.subject == **subject))
        .map(|(subject, _)| Change {
            subject: (*subject).to_string(),
            from: Some(AlertState::Firing),
            to: AlertState::Resolved,
            summary: format!("{subject} is no longer seen"),
            details: serde_json::json!({}),
            silenced: silenced(subject),
        })
        .collect()
}
