//! The pure part of alerting, on hand-built facts: what each rule
//! observes, and which transitions follow from what is stored.

#![allow(clippy::unwrap_used)]

use chrono::{NaiveDate, TimeZone, Utc};

use super::*;
use crate::config::{AlertRule, BatchEnd, Condition};
use crate::labels::{Labels, Selector};
use crate::store::{AlertState, StoredAlert};

fn rule(name: &str, when: Condition) -> AlertRule {
    AlertRule {
        name: name.to_string(),
        when,
        selector: None,
        channels: vec!["hook".to_string()],
    }
}

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, d).unwrap()
}

fn instance(name: &str, tier: &str, last: Option<u32>) -> InstanceFact {
    InstanceFact {
        name: name.to_string(),
        labels: Labels::new([("tier", tier)]).unwrap(),
        last_collected: last.map(day),
        ..InstanceFact::default()
    }
}

fn stored(rule: &str, subject: &str, state: AlertState) -> StoredAlert {
    StoredAlert {
        rule: rule.to_string(),
        subject: subject.to_string(),
        state,
        since: Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap(),
        summary: String::new(),
        details: serde_json::Value::Null,
        to_send: false,
        last_sent_at: None,
    }
}

fn batch(id: &str, status: &str) -> EndedBatch {
    EndedBatch {
        id: id.to_string(),
        kind: "capacity_sync".to_string(),
        status: status.to_string(),
        total: 4,
        succeeded: 1,
        failed: 3,
        finished_at: None,
    }
}

/// (subject, from, to, silenced) of each change.
type Row = (String, Option<AlertState>, AlertState, bool);

fn check(rule: &AlertRule, facts: &Facts, stored: &[StoredAlert], expected: &[Row]) {
    let observed = observe(rule, facts);
    let found: Vec<Row> = plan(rule, &observed, stored, |s| s == "muted")
        .into_iter()
        .map(|c| (c.subject, c.from, c.to, c.silenced))
        .collect();
    assert_eq!(found, expected);
}

fn row(subject: &str, from: Option<AlertState>, to: AlertState, silenced: bool) -> Row {
    (subject.to_string(), from, to, silenced)
}

use AlertState::{Firing, Resolved};

#[test]
fn a_stale_instance_fires_once_and_resolves_once() {
    let stale = rule("stale", Condition::NotCollected { days: 2 });
    let mut facts = Facts {
        today: day(10),
        instances: vec![instance("a", "1", Some(5)), instance("b", "1", Some(9))],
        ..Facts::default()
    };
    check(&stale, &facts, &[], &[row("a", None, Firing, false)]);
    // Still stale: standing, nothing to record.
    let firing = [stored("stale", "a", Firing)];
    check(&stale, &facts, &firing, &[]);
    facts.instances[0].last_collected = Some(day(10));
    check(
        &stale,
        &facts,
        &firing,
        &[row("a", Some(Firing), Resolved, false)],
    );
    // Resolved and still fine: nothing; stale again: fires again.
    let resolved = [stored("stale", "a", Resolved)];
    check(&stale, &facts, &resolved, &[]);
    facts.instances[0].last_collected = Some(day(1));
    check(
        &stale,
        &facts,
        &resolved,
        &[row("a", Some(Resolved), Firing, false)],
    );
}

#[test]
fn never_collected_fires_and_a_selector_narrows() {
    let mut stale = rule("stale", Condition::NotCollected { days: 2 });
    stale.selector = Some(Selector::parse("tier=1").unwrap());
    let facts = Facts {
        today: day(10),
        instances: vec![instance("new", "1", None), instance("other", "2", None)],
        ..Facts::default()
    };
    check(&stale, &facts, &[], &[row("new", None, Firing, false)]);
    let observed = observe(&stale, &facts);
    assert!(observed[0].summary.contains("never been collected"));
}

#[test]
fn a_firing_subject_no_longer_seen_resolves() {
    let stale = rule("stale", Condition::NotCollected { days: 2 });
    let facts = Facts {
        today: day(10),
        ..Facts::default()
    };
    let states = [
        stored("stale", "gone", Firing),
        stored("other", "x", Firing),
    ];
    check(
        &stale,
        &facts,
        &states,
        &[row("gone", Some(Firing), Resolved, false)],
    );
}

#[test]
fn a_silenced_subject_changes_state_but_is_marked_silenced() {
    let stale = rule("stale", Condition::NotCollected { days: 2 });
    let facts = Facts {
        today: day(10),
        instances: vec![instance("muted", "1", None), instance("loud", "1", None)],
        ..Facts::default()
    };
    check(
        &stale,
        &facts,
        &[],
        &[
            row("muted", None, Firing, true),
            row("loud", None, Firing, false),
        ],
    );
}

#[test]
fn a_batch_alert_fires_once_and_never_resolves() {
    let statuses = vec![BatchEnd::Failed];
    let failed = rule("failed", Condition::BatchFailed { statuses });
    let facts = Facts {
        batches: vec![batch("b1", "failed"), batch("b2", "partial_success")],
        ..Facts::default()
    };
    check(&failed, &facts, &[], &[row("b1", None, Firing, false)]);
    check(&failed, &facts, &[stored("failed", "b1", Firing)], &[]);
    // Out of the facts (read past it): still nothing, never resolved.
    let later = Facts::default();
    check(&failed, &later, &[stored("failed", "b1", Firing)], &[]);
    let summary = &observe(&failed, &facts)[0].summary;
    assert!(
        summary.contains("ended failed: 3 of 4 jobs failed"),
        "{summary}"
    );
}

#[test]
fn growth_fires_on_either_threshold() {
    let growth = rule(
        "growth",
        Condition::Growth {
            over_days: 7,
            percent: Some(20),
            mib: Some(1000),
        },
    );
    let fact = |db: &str, from_mb: i64, change_mb: i64| GrowthFact {
        instance: "a".to_string(),
        database: db.to_string(),
        from_mb,
        to_mb: from_mb + change_mb,
        change_mb,
        change_percent: Some(change_mb as f64 * 100.0 / from_mb as f64),
    };
    let mut facts = Facts::default();
    facts.growth.insert(
        7,
        vec![
            fact("pct", 100, 30),
            fact("mib", 100_000, 2000),
            fact("calm", 1000, 10),
        ],
    );
    check(
        &growth,
        &facts,
        &[],
        &[
            row("a/pct", None, Firing, false),
            row("a/mib", None, Firing, false),
        ],
    );
}

#[test]
fn days_until_full_fires_below_and_unknown_does_not() {
    let full = rule("full", Condition::DaysUntilFull { below: 14 });
    let with_days = |name: &str, days: Option<i64>| InstanceFact {
        days_left: days,
        ceiling_mb: Some(100),
        ..instance(name, "1", Some(1))
    };
    let facts = Facts {
        instances: vec![
            with_days("soon", Some(3)),
            with_days("late", Some(40)),
            with_days("never", None),
        ],
        ..Facts::default()
    };
    check(&full, &facts, &[], &[row("soon", None, Firing, false)]);
    let firing = [stored("full", "soon", Firing)];
    check(&full, &facts, &firing, &[]);
}

#[test]
fn signatures_are_hex_hmac_sha256_of_the_body() {
    // RFC 4231, test case 2.
    let sig = sign(b"Jefe", b"what do ya want for nothing?");
    assert_eq!(
        sig,
        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
}

fn sync_fact(target: &str, status: &str, differing: Option<i64>) -> SyncFact {
    SyncFact {
        definition: "orders".to_string(),
        target: target.to_string(),
        table: "orders".to_string(),
        status: status.to_string(),
        chunks_differing: differing,
        error: (status == "failed").then(|| "cannot connect: refused".to_string()),
        ended_at: None,
    }
}

#[test]
fn a_failed_or_differing_sync_fires_per_table_and_target_and_resolves_when_clean() {
    let mut backups = rule("backups", Condition::SyncFailed);
    let facts = Facts {
        instances: vec![
            instance("b1", "backup", None),
            instance("b2", "other", None),
        ],
        syncs: vec![
            sync_fact("b1/copy", "failed", None),
            sync_fact("b1/copy2", "success", Some(2)),
            sync_fact("b2/copy", "success", Some(0)),
            sync_fact("b2/copy2", "failed", None),
        ],
        ..Facts::default()
    };
    let observed = observe(&backups, &facts);
    assert_eq!(
        observed[0].summary,
        "sync orders of orders into b1/copy failed: cannot connect: refused"
    );
    assert_eq!(
        observed[1].summary,
        "sync orders of orders into b1/copy2: verification found 2 chunks that differ"
    );
    let was = [stored("backups", "orders:b2/copy:orders", Firing)];
    check(
        &backups,
        &facts,
        &was,
        &[
            row("orders:b1/copy:orders", None, Firing, false),
            row("orders:b1/copy2:orders", None, Firing, false),
            row("orders:b2/copy:orders", Some(Firing), Resolved, false),
            row("orders:b2/copy2:orders", None, Firing, false),
        ],
    );
    // A selector looks at the target instance's labels.
    backups.selector = Some(Selector::parse("tier=backup").unwrap());
    let subjects: Vec<String> = observe(&backups, &facts)
        .into_iter()
        .map(|o| o.subject)
        .collect();
    assert_eq!(
        subjects,
        ["orders:b1/copy:orders", "orders:b1/copy2:orders"]
    );
}
