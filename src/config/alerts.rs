//! `alerts:`: the rules the control plane evaluates, where it sends what
//! they find, and what is silenced.
//!
//! ```yaml
//! alerts:
//!   evaluate_every: 60s
//!   channels:
//!     - { name: ops-hook, webhook: "http://hooks.internal/dbfleet", secret_env: ALERT_HMAC }
//!     - name: dba-mail
//!       smtp: { host: 127.0.0.1, port: 25, from: dbfleet@x, to: [dba@x], tls: none }
//!   rules:
//!     - { name: batch-failed, when: batch_failed, channels: [ops-hook] }
//!     - { name: stale, when: not_collected, days: 2, selector: "tier=1", channels: [dba-mail] }
//!     - { name: growth, when: growth, over: 7d, percent: 20, mib: 10240, channels: [ops-hook] }
//!     - { name: full-soon, when: days_until_full, below: 14, channels: [ops-hook, dba-mail] }
//!     - { name: backups, when: sync_failed, selector: "role=backup", channels: [ops-hook] }
//!   silences:
//!     - { rule: growth, subject: "pay-prod/ledger", until: "2026-12-31T00:00:00Z" }
//! ```
//!
//! Names are unique; a rule or a silence naming what does not exist is an
//! error on its key. Secrets (the webhook's signing key, the SMTP password)
//! are references to a variable or a file, never values. The channels are
//! read by `alert_channels.rs`.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};

pub use super::alert_channels::{AlertChannel, ChannelKind, Smtp, SmtpTls, Webhook};
use super::section::Section;
use crate::labels::Selector;

/// The `alerts:` section; no rules means no alert evaluator.
#[derive(Debug, Clone, Default)]
pub struct AlertSettings {
    /// How often `serve` evaluates the rules (default 60s, at least 1s).
    pub evaluate_every: Duration,
    pub channels: Vec<AlertChannel>,
    pub rules: Vec<AlertRule>,
    pub silences: Vec<Silence>,
}

/// One rule: a condition, the instances it looks at, where it sends.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRule {
    pub name: String,
    pub when: Condition,
    /// Only instances whose labels match; every instance when `None`.
    pub selector: Option<Selector>,
    /// Channel names, each one of `alerts.channels`.
    pub channels: Vec<String>,
}

impl AlertRule {
    /// Each subject fires once and never resolves (a batch has ended).
    pub fn fires_once(&self) -> bool {
        matches!(self.when, Condition::BatchFailed { .. })
    }
}

/// What a rule fires on.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// A batch ended with one of these statuses (one alert per batch).
    BatchFailed { statuses: Vec<BatchEnd> },
    /// An active instance's newest daily size is more than `days` old.
    NotCollected { days: u32 },
    /// A database grew over the last `over_days` by at least `percent` of
    /// its first size, or by at least `mib` (either threshold given).
    Growth {
        over_days: u32,
        percent: Option<u32>,
        mib: Option<u64>,
    },
    /// An instance's forecast reaches its ceiling in fewer than `below` days.
    DaysUntilFull { below: u32 },
    /// The latest run of a data sync table into a target failed, or its
    /// verification found chunks that differ (one alert per definition,
    /// target and table; it resolves when a later run is clean).
    SyncFailed,
}

/// How a batch ended, of those that can alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchEnd {
    Failed,
    PartialSuccess,
}

impl BatchEnd {
    pub fn as_str(self) -> &'static str {
        match self {
            BatchEnd::Failed => "failed",
            BatchEnd::PartialSuccess => "partial_success",
        }
    }
}

/// A (rule, subject) that records its state but sends nothing until `until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Silence {
    pub rule: String,
    pub subject: String,
    pub until: DateTime<Utc>,
}

impl AlertSettings {
    /// Whether (`rule`, `subject`) is silenced at `now`.
    pub fn is_silenced(&self, rule: &str, subject: &str, now: DateTime<Utc>) -> bool {
        self.silences
            .iter()
            .any(|s| s.rule == rule && s.subject == subject && now < s.until)
    }

    pub fn channel(&self, name: &str) -> Option<&AlertChannel> {
        self.channels.iter().find(|c| c.name == name)
    }
}

pub(super) fn alerts(s: &mut Section<'_>) -> AlertSettings {
    let evaluate_every = s.duration(
        "evaluate_every",
        Duration::from_secs(60),
        Duration::from_secs(1),
    );
    let channels = s.list("channels", "channel", super::alert_channels::channel);
    unique(s, "channels", &channels, |c| &c.name);
    let channels: Vec<AlertChannel> = channels.into_iter().flatten().collect();
    let known: HashSet<String> = channels.iter().map(|c| c.name.clone()).collect();
    let rules = s.list("rules", "rule", |s, _| rule(s, &known));
    unique(s, "rules", &rules, |r| &r.name);
    let rules: Vec<AlertRule> = rules.into_iter().flatten().collect();
    let names: HashSet<String> = rules.iter().map(|r| r.name.clone()).collect();
    let silences = s
        .list("silences", "silence", |s, _| silence(s, &names))
        .into_iter()
        .flatten()
        .collect();
    AlertSettings {
        evaluate_every,
        channels,
        rules,
        silences,
    }
}

/// Report each name given twice in the list `key` (items that were not
/// valid are `None`, so indices are the file's).
fn unique<T>(s: &mut Section<'_>, key: &str, items: &[Option<T>], name: fn(&T) -> &String) {
    let mut seen = HashSet::new();
    for (index, item) in items.iter().enumerate() {
        let Some(name) = item.as_ref().map(name) else {
            continue;
        };
        if !seen.insert(name) {
            let problem = format!("`{name}` is already the name of an earlier one");
            s.error(&format!("{key}[{index}].name"), &problem);
        }
    }
}

/// A name: letters, digits, `-`, `_` and `.`, at most 63 characters.
pub(super) fn name(s: &mut Section<'_>) -> Option<String> {
    let name = s.required_string("name");
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if name.is_empty() {
        return None;
    }
    if name.len() > 63 || !name.chars().all(allowed) {
        s.error("name", "must be 1 to 63 characters of A-Z a-z 0-9 - _ .");
        return None;
    }
    Some(name)
}

fn rule(s: &mut Section<'_>, channels: &HashSet<String>) -> Option<AlertRule> {
    let name = name(s);
    let when = condition(s);
    let selector = s.non_empty_string("selector").and_then(|raw| {
        Selector::parse(&raw)
            .map_err(|e| s.error("selector", &e.to_string()))
            .ok()
    });
    if selector.is_some() && matches!(when, Some(Condition::BatchFailed { .. })) {
        s.error(
            "selector",
            "a `batch_failed` rule looks at batches, not instances",
        );
    }
    let names = strings(s, "channels");
    if names.is_empty() && s.is_valid("channels") {
        s.error("channels", "required: the channels this rule sends to");
    }
    for (index, channel) in names.iter().enumerate() {
        if !channels.contains(channel) {
            let problem = format!("no channel is named `{channel}` under `alerts.channels`");
            s.error(&format!("channels[{index}]"), &problem);
        }
    }
    Some(AlertRule {
        name: name?,
        when: when?,
        selector,
        channels: names,
    })
}

fn condition(s: &mut Section<'_>) -> Option<Condition> {
    let when = s.required_string("when");
    Some(match when.as_str() {
        "" => return None,
        "batch_failed" => Condition::BatchFailed {
            statuses: statuses(s),
        },
        "not_collected" => Condition::NotCollected {
            days: s.int_in("days", 1..=3650, 2),
        },
        "growth" => growth(s)?,
        "days_until_full" => Condition::DaysUntilFull {
            below: s.int_in("below", 1..=3650, 14),
        },
        "sync_failed" => Condition::SyncFailed,
        other => {
            let problem = format!(
                "expected `batch_failed`, `not_collected`, `growth`, `days_until_full` or \
                 `sync_failed`, found `{other}`"
            );
            s.error("when", &problem);
            return None;
        }
    })
}

fn statuses(s: &mut Section<'_>) -> Vec<BatchEnd> {
    let present = s.map.contains_key("statuses");
    let mut ends = Vec::new();
    for (index, raw) in strings(s, "statuses").iter().enumerate() {
        match raw.as_str() {
            "failed" => ends.push(BatchEnd::Failed),
            "partial_success" => ends.push(BatchEnd::PartialSuccess),
            other => {
                let problem = format!("expected `failed` or `partial_success`, found `{other}`");
                s.error(&format!("statuses[{index}]"), &problem);
            }
        }
    }
    if !present {
        ends = vec![BatchEnd::Failed, BatchEnd::PartialSuccess];
    }
    ends
}

fn growth(s: &mut Section<'_>) -> Option<Condition> {
    let day = Duration::from_secs(86_400);
    let over = s.duration("over", Duration::from_secs(7 * 86_400), day);
    if over.as_secs() % 86_400 != 0 {
        s.error("over", "must be a whole number of days, such as `7d`");
    }
    let percent = s.optional_int_in("percent", 1..=100_000u32);
    let mib = s.optional_int_in("mib", 1..=u64::from(u32::MAX));
    if percent.is_none() && mib.is_none() && s.is_valid("percent") && s.is_valid("mib") {
        s.error("percent", "give `percent`, `mib` or both");
        return None;
    }
    Some(Condition::Growth {
        over_days: u32::try_from(over.as_secs() / 86_400).unwrap_or(u32::MAX),
        percent,
        mib,
    })
}

fn silence(s: &mut Section<'_>, rules: &HashSet<String>) -> Option<Silence> {
    let rule = s.required_string("rule");
    if !rule.is_empty() && !rules.contains(&rule) {
        s.error("rule", &format!("no rule is named `{rule}`"));
    }
    let subject = s.required_string("subject");
    let raw = s.required_string("until");
    let until = DateTime::parse_from_rfc3339(&raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            if !raw.is_empty() {
                let problem =
                    format!("expected a time such as `2026-12-31T00:00:00Z`, found `{raw}`");
                s.error("until", &problem);
            }
        })
        .ok()?;
    (!rule.is_empty() && !subject.is_empty()).then_some(Silence {
        rule,
        subject,
        until,
    })
}

/// A list of non-empty strings; problems on `key[index]`.
pub(super) fn strings(s: &mut Section<'_>, key: &'static str) -> Vec<String> {
    let items = match s.take(key) {
        None => return Vec::new(),
        Some(serde_yaml::Value::Sequence(items)) => items,
        Some(other) => {
            let problem = format!(
                "expected a list of names, found {}",
                super::section::kind(&other)
            );
            s.error(key, &problem);
            return Vec::new();
        }
    };
    let mut found = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        match item {
            serde_yaml::Value::String(text) if !text.is_empty() => found.push(text),
            other => {
                let problem = format!(
                    "expected a non-empty string, found {}",
                    super::section::kind(&other)
                );
                s.error(&format!("{key}[{index}]"), &problem);
            }
        }
    }
    found
}
