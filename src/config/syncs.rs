//! `syncs:`: data sync definitions, declared like instances and
//! reconciled into the control store.
//!
//! ```yaml
//! syncs:
//!   - name: orders-backup
//!     source: { instance: primary-pg, database: shop }
//!     targets:
//!       - { instance: backup-pg, database: shop_copy }
//!       - { instance: backup-my, database: shop_copy }
//!     mode: incremental          # or full
//!     mirror: true               # remove rows the source no longer has
//!     tables:
//!       - { name: orders, key: [id], cursor: [updated_at] }
//!       - { name: customers }    # key: the primary key
//!       - { pattern: "audit_*" } # every source table it matches (* and ?)
//!     batch_size: 5000           # rows per page and per statement
//!     initial_days: 1825         # reach of a first incremental run
//!     settle: 1m                 # how old a row must be to be passed
//!     verify: true               # checksum chunks after each run
//!     enabled: true
//!     max_rejected_rows: 100     # rows the target may refuse
//!     rows_per_second: 20000     # pace of the reads on the source
//!     statement_timeout: 10m     # both sessions, instead of the job's
//!     max_gap_hours: 24          # widest window of a catch-up read
//!     retry_times: 3             # a failed run runs again, up to 3 times,
//!     retry_delay: 5s            #   after 5s, 10s, 20s (with jitter)
//!     retry_backoff: exponential #   or linear: 5s, 10s, 15s
//!     incremental_every: 15m     # run by `dbfleet serve` (schedule
//!     verify_every: 1d           #   `sync.orders-backup.incremental`, …)
//! ```
//!
//! Whether the instances exist is checked when the definitions are
//! reconciled, against the registry; here only their shape is.

mod limits;
mod retry;
mod tables;

use std::collections::BTreeSet;
use std::time::Duration;

use chrono_tz::Tz;

use super::schedules::valid_name;
use super::section::Section;
use super::DeclaredSchedule;
use crate::domain::InstanceName;
use crate::message::data_sync::Params;
use crate::message::JobParams;
use crate::schedule::{Timing, DEFAULT_GRACE};
use crate::sync::{
    cron_every, Cadences, Endpoint, SyncDefinition, SyncMode, DEFAULT_BATCH_SIZE,
    DEFAULT_INITIAL_DAYS, DEFAULT_SETTLE, MAX_BATCH_SIZE,
};

pub(super) fn syncs(root: &mut Section<'_>) -> Vec<SyncDefinition> {
    let built = root.list("syncs", "sync", |s, _| sync(s));
    let mut seen = BTreeSet::new();
    let mut syncs = Vec::new();
    for (index, (name, sync)) in built.into_iter().enumerate() {
        if !name.is_empty() && !seen.insert(name.clone()) {
            let key = format!("syncs[{index}].name");
            root.error(&key, &format!("`{name}` is declared twice"));
            continue;
        }
        syncs.extend(sync);
    }
    syncs
}

/// The definition's name (empty when missing), and the definition when
/// valid.
fn sync(s: &mut Section<'_>) -> (String, Option<SyncDefinition>) {
    let name = s.required_string("name");
    let valid = valid_name(&name) && name.len() <= 100;
    if !name.is_empty() && !valid {
        s.error("name", "use 1 to 100 of A-Z a-z 0-9 . _ -");
    }
    let source = s.section("source", endpoint);
    let targets = targets(s, source.as_ref());
    let mode = mode(s);
    let tables = s.list("tables", "table", |t, _| tables::table(t));
    let tables = tables::checked_tables(s, tables, mode);
    let mirror = s.bool_or("mirror", false);
    let batch_size = s.int_in("batch_size", 1..=MAX_BATCH_SIZE, DEFAULT_BATCH_SIZE);
    let initial_days = s.int_in("initial_days", 1..=36_500, DEFAULT_INITIAL_DAYS);
    let settle = s.duration("settle", DEFAULT_SETTLE, Duration::ZERO);
    let verify = s.bool_or("verify", false);
    let enabled = s.bool_or("enabled", true);
    let limits = limits::limits(s);
    let retry = retry::retry(s);
    let every = Cadences {
        incremental: every(s, "incremental_every"),
        full: every(s, "full_every"),
        verify: every(s, "verify_every"),
    };
    let definition = match (valid, source, mode, tables) {
        (true, Some(source), Some(mode), Some(tables)) if !targets.is_empty() => {
            Some(SyncDefinition {
                name: name.clone(),
                source,
                targets,
                mode,
                mirror,
                tables,
                batch_size,
                initial_days,
                settle_seconds: settle.as_secs(),
                verify,
                enabled,
                every,
                limits,
                retry,
            })
        }
        _ => None,
    };
    (name, definition)
}

/// A period that [`cron_every`] can run, in seconds.
fn every(s: &mut Section<'_>, key: &'static str) -> Option<u64> {
    if !s.map.contains_key(key) {
        return None;
    }
    let period = s
        .duration(key, Duration::ZERO, Duration::from_secs(1))
        .as_secs();
    if cron_every(period).is_none() && s.is_valid(key) {
        let problem = "use a period that divides a minute, an hour or a day \
                       (30s, 5m, 15m, 1h, 6h, 1d)";
        s.error(key, problem);
        return None;
    }
    s.is_valid(key).then_some(period)
}

/// The schedules of the definitions' cadences, named
/// `sync.<definition>.<incremental|full|verify>`.
pub(super) fn cadence_schedules(syncs: &[SyncDefinition], tz: Tz) -> Vec<DeclaredSchedule> {
    let mut schedules = Vec::new();
    for def in syncs {
        let runs = [
            (
                "incremental",
                def.every.incremental,
                Some(SyncMode::Incremental),
                false,
            ),
            ("full", def.every.full, Some(SyncMode::Full), false),
            ("verify", def.every.verify, None, true),
        ];
        for (what, period, mode, verify_only) in runs {
            let Some(cron) = period.and_then(cron_every) else {
                continue;
            };
            let grace = DEFAULT_GRACE.min(Duration::from_secs(period.unwrap_or(1)));
            let Ok(timing) = Timing::new(&cron, tz, grace, Vec::new()) else {
                continue;
            };
            let params = Params {
                definition: def.name.clone(),
                mode,
                verify_only,
                ..Params::default()
            };
            schedules.push(DeclaredSchedule {
                name: format!("sync.{}.{what}", def.name),
                params: JobParams::DataSync(params),
                timing,
                selector: None,
                spread: None,
            });
        }
    }
    schedules
}

/// `{ instance, database }`, both required.
fn endpoint(s: &mut Section<'_>) -> Option<Endpoint> {
    let instance = s.required_string("instance");
    let database = s.required_string("database");
    let instance = (!instance.is_empty())
        .then(|| InstanceName::parse(&instance))?
        .map_err(|e| s.error("instance", &e.to_string()))
        .ok()?;
    (!database.is_empty()).then_some(Endpoint { instance, database })
}

/// `targets`: at least one, none the source, none twice.
fn targets(s: &mut Section<'_>, source: Option<&Endpoint>) -> Vec<Endpoint> {
    let present = s.map.contains_key("targets");
    let built = s.list("targets", "target", |t, _| endpoint(t));
    if !present {
        s.error("targets", "required key is missing");
    }
    let mut targets: Vec<Endpoint> = Vec::new();
    for (index, target) in built.into_iter().enumerate() {
        let Some(target) = target else { continue };
        let key = format!("targets[{index}]");
        if source == Some(&target) {
            s.error(&key, &format!("`{target}` is the source itself"));
        } else if targets.contains(&target) {
            s.error(&key, &format!("`{target}` is listed twice"));
        } else {
            targets.push(target);
        }
    }
    if present && targets.is_empty() && s.is_valid("targets") {
        s.error("targets", "name at least one target");
    }
    targets
}

fn mode(s: &mut Section<'_>) -> Option<SyncMode> {
    match s.string_or("mode", "full").as_str() {
        "full" => Some(SyncMode::Full),
        "incremental" => Some(SyncMode::Incremental),
        other => {
            let problem = format!("unknown mode `{other}`; expected full or incremental");
            s.error("mode", &problem);
            None
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use crate::config::load_from_str;
    use crate::config::test_support::{problems, SOURCE};
    use crate::sync::SyncMode;

    #[test]
    fn the_documented_shape_loads_with_its_defaults() {
        let yaml = "syncs:\n\
                    \x20 - name: orders-backup\n\
                    \x20   source: { instance: primary-pg, database: shop }\n\
                    \x20   targets: [ { instance: backup-pg, database: shop_copy }, \
                    { instance: backup-my, database: shop_copy } ]\n\
                    \x20   mode: incremental\n\
                    \x20   tables:\n\
                    \x20     - { name: orders, key: [id], cursor: [updated_at] }\n";
        let settings = load_from_str(SOURCE, yaml, Vec::new()).unwrap();
        let sync = &settings.syncs[0];
        assert_eq!(sync.name, "orders-backup");
        assert_eq!(sync.source.to_string(), "primary-pg/shop");
        let targets: Vec<String> = sync.targets.iter().map(|t| t.to_string()).collect();
        assert_eq!(targets, ["backup-pg/shop_copy", "backup-my/shop_copy"]);
        assert_eq!(sync.mode, SyncMode::Incremental);
        assert_eq!(sync.tables[0].key, ["id"]);
        assert_eq!(sync.tables[0].cursor, ["updated_at"]);
        assert_eq!(
            (sync.batch_size, sync.initial_days, sync.settle_seconds),
            (5_000, 1_825, 60)
        );
        assert!(sync.enabled && !sync.mirror && !sync.verify);
    }

    #[test]
    fn cadences_are_schedules_of_data_sync_jobs() {
        // Only the cadences: no default table-sizes schedule.
        let yaml = "timezone: Europe/Paris\ncapacity: { table_sizes_schedule: false }\n\
                    syncs:\n\
                    \x20 - name: o\n    source: { instance: p, database: s }\n\
                    \x20   targets: [ { instance: b, database: s } ]\n\
                    \x20   tables: [ { name: t, cursor: ts } ]\n\
                    \x20   incremental_every: 15m\n    verify_every: 1d\n";
        let settings = load_from_str(SOURCE, yaml, Vec::new()).unwrap();
        let found: Vec<(String, String, serde_json::Value)> = settings
            .schedules
            .iter()
            .map(|s| {
                (
                    s.name.clone(),
                    s.timing.pattern().to_string(),
                    s.params.to_json(),
                )
            })
            .collect();
        assert_eq!(
            found,
            [
                (
                    "sync.o.incremental".to_string(),
                    "0 */15 * * * *".to_string(),
                    serde_json::json!({"definition": "o", "mode": "incremental"})
                ),
                (
                    "sync.o.verify".to_string(),
                    "0 0 0 * * *".to_string(),
                    serde_json::json!({"definition": "o", "verify_only": true})
                ),
            ]
        );
        let odd = yaml.replace("15m", "7m").replace("1d", "2d");
        let found = problems(&odd);
        for key in ["incremental_every", "verify_every"] {
            let expected = format!("syncs[0].{key}: use a period that divides");
            assert!(found.iter().any(|p| p.starts_with(&expected)), "{found:?}");
        }
    }

    #[test]
    fn every_bad_definition_is_reported_on_its_key() {
        let yaml = "syncs:\n\
                    \x20 - name: a\n    source: { instance: p, database: shop }\n\
                    \x20   targets: [ { instance: p, database: shop }, { instance: b } ]\n\
                    \x20   mode: cdc\n    tables: [ { name: t, key: id } ]\n\
                    \x20   batch_size: 60000\n\
                    \x20 - name: b\n    source: { instance: p, database: shop }\n\
                    \x20   mode: incremental\n\
                    \x20   tables: [ { name: t }, { name: u, target: t, cursor: [ts] } ]\n\
                    \x20 - name: a\n    source: { instance: p, database: s }\n\
                    \x20   targets: [ { instance: b, database: s } ]\n    tables: [ ]\n";
        let found = problems(yaml);
        for expected in [
            "syncs[0].targets[0]: `p/shop` is the source itself",
            "syncs[0].targets[1].database: required key is missing",
            "syncs[0].mode: unknown mode `cdc`; expected full or incremental",
            "syncs[0].batch_size:",
            "syncs[1].targets: required key is missing",
            "syncs[1].tables[0].cursor: an incremental sync needs `cursor:`",
            "syncs[1].tables[1]: target table `t` is written twice",
            "syncs[2].tables: name at least one table",
            "syncs[2].name: `a` is declared twice",
        ] {
            assert!(
                found.iter().any(|p| p.starts_with(expected)),
                "{expected} not in {found:#?}"
            );
        }
    }
}
