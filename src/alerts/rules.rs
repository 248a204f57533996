//! Each rule over the facts: one [`Observation`] per subject it looks at,
//! firing or not. Pure: no store, no clock but the facts' own `today`.
//!
//! Subjects: a batch's id (`batch_failed`), an instance's name
//! (`not_collected`, `days_until_full`), `instance/database` (`growth`),
//! `definition:instance/database:table` (`sync_failed`, its selector on
//! the target instance).
//! A rule's selector narrows the instances; a batch alert has none.

use serde_json::{json, Value};

use super::facts::{Facts, GrowthFact, InstanceFact, SyncFact};
use crate::config::{AlertRule, BatchEnd, Condition};

/// What a rule says of one subject now.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub subject: String,
    pub firing: bool,
    pub summary: String,
    pub details: Value,
}

/// What `rule` says of each subject in `facts`.
pub fn observe(rule: &AlertRule, facts: &Facts) -> Vec<Observation> {
    match &rule.when {
        Condition::BatchFailed { statuses } => batches(statuses, facts),
        Condition::NotCollected { days } => chosen(rule, facts)
            .map(|i| not_collected(i, *days, facts))
            .collect(),
        Condition::Growth {
            over_days,
            percent,
            mib,
        } => facts
            .growth
            .get(over_days)
            .into_iter()
            .flatten()
            .filter(|g| selected(rule, facts.instance(&g.instance)))
            .map(|g| growth(g, *over_days, *percent, *mib))
            .collect(),
        Condition::DaysUntilFull { below } => chosen(rule, facts)
            .map(|i| days_until_full(i, *below))
            .collect(),
        Condition::SyncFailed => facts
            .syncs
            .iter()
            .filter(|s| selected(rule, facts.instance(s.instance())))
            .map(sync_failed)
            .collect(),
    }
}

fn chosen<'f>(rule: &'f AlertRule, facts: &'f Facts) -> impl Iterator<Item = &'f InstanceFact> {
    facts.instances.iter().filter(|i| selected(rule, Some(i)))
}

/// Whether `rule` looks at `instance` (an instance not active, or not
/// known, is looked at only by a rule without a selector).
fn selected(rule: &AlertRule, instance: Option<&InstanceFact>) -> bool {
    match (&rule.selector, instance) {
        (None, _) => true,
        (Some(selector), Some(i)) => selector.matches(&i.labels),
        (Some(_), None) => false,
    }
}

fn batches(statuses: &[BatchEnd], facts: &Facts) -> Vec<Observation> {
    facts
        .batches
        .iter()
        .filter(|b| statuses.iter().any(|s| s.as_str() == b.status))
        .map(|b| Observation {
            subject: b.id.clone(),
            firing: true,
            summary: format!(
                "batch {} ({}) ended {}: {} of {} jobs failed",
                b.id, b.kind, b.status, b.failed, b.total
            ),
            details: json!(b),
        })
        .collect()
}

fn not_collected(i: &InstanceFact, days: u32, facts: &Facts) -> Observation {
    let age = i.last_collected.map(|day| (facts.today - day).num_days());
    let firing = age.is_none_or(|age| age > i64::from(days));
    let summary = match (i.last_collected, age) {
        (Some(day), Some(age)) if firing => {
            format!("{} was last collected on {day}, {age} days ago", i.name)
        }
        (Some(day), _) => format!("{} was collected on {day}", i.name),
        _ => format!("{} has never been collected", i.name),
    };
    Observation {
        subject: i.name.clone(),
        firing,
        summary,
        details: json!({
            "instance": i.name,
            "last_collected": i.last_collected,
            "days": days,
        }),
    }
}

fn growth(g: &GrowthFact, days: u32, percent: Option<u32>, mib: Option<u64>) -> Observation {
    let by_percent = percent
        .zip(g.change_percent)
        .is_some_and(|(limit, p)| p >= f64::from(limit));
    let by_mib = mib.is_some_and(|limit| u64::try_from(g.change_mb).is_ok_and(|c| c >= limit));
    let percent_text = g
        .change_percent
        .map(|p| format!(" ({p}%)"))
        .unwrap_or_default();
    Observation {
        subject: format!("{}/{}", g.instance, g.database),
        firing: by_percent || by_mib,
        summary: format!(
            "{}/{} grew {} MiB{percent_text} in {days} days, from {} to {} MiB",
            g.instance, g.database, g.change_mb, g.from_mb, g.to_mb
        ),
        details: json!({
            "instance": g.instance,
            "database": g.database,
            "over_days": days,
            "from_mb": g.from_mb,
            "to_mb": g.to_mb,
            "change_mb": g.change_mb,
            "change_percent": g.change_percent,
        }),
    }
}

/// Subject `definition:instance/database:table`.
fn sync_failed(s: &SyncFact) -> Observation {
    let differing = s.chunks_differing.unwrap_or(0);
    let failed = s.status == "failed";
    // A run that succeeded with an error left rows the target refused out.
    let rejected = !failed && s.error.is_some();
    let summary = match (&s.error, failed, differing) {
        (Some(error), true, _) => format!(
            "sync {} of {} into {} failed: {error}",
            s.definition, s.table, s.target
        ),
        (None, true, _) => format!(
            "sync {} of {} into {} failed",
            s.definition, s.table, s.target
        ),
        (_, false, n) if n > 0 => format!(
            "sync {} of {} into {}: verification found {n} chunks that differ",
            s.definition, s.table, s.target
        ),
        (Some(error), false, _) => format!(
            "sync {} of {} into {} left rows out: {error}",
            s.definition, s.table, s.target
        ),
        _ => format!(
            "sync {} of {} into {} is in step",
            s.definition, s.table, s.target
        ),
    };
    Observation {
        subject: format!("{}:{}:{}", s.definition, s.target, s.table),
        firing: failed || differing > 0 || rejected,
        summary,
        details: json!(s),
    }
}

fn days_until_full(i: &InstanceFact, below: u32) -> Observation {
    let firing = i.days_left.is_some_and(|d| d < i64::from(below));
    let summary = match i.days_left {
        Some(days) => format!(
            "{} reaches its ceiling of {} MiB in {days} days",
            i.name,
            i.ceiling_mb.unwrap_or_default()
        ),
        None => format!("{} has no day it fills up", i.name),
    };
    Observation {
        subject: i.name.clone(),
        firing,
        summary,
        details: json!({
            "instance": i.name,
            "days_left": i.days_left,
            "below": below,
            "current_mb": i.current_mb,
            "ceiling_mb": i.ceiling_mb,
        }),
    }
}
