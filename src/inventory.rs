//! The inventory diff: what changed in an instance's list of databases since
//! the last run.
//!
//! Pure: it takes the stored records and the listed databases and returns a
//! plan that the store applies in one transaction. Names compare exactly and
//! case-sensitively (two databases may differ only by case on PostgreSQL and
//! on case-sensitive MySQL file systems). Rows are never hard-deleted: a
//! database that disappears is deactivated and may come back (reactivated).
//!
//! Visibility is not existence: when the listing is not the whole catalogue
//! (a MySQL account without `SHOW DATABASES`), a tracked database missing
//! from it is kept (`unseen`), not deactivated, and the plan says the
//! inventory is partial.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};

use crate::adapters::Listing;
use crate::domain::DbType;
use crate::filters::DatabaseFilters;
use crate::message::capacity_sync::InventoryCounts;

/// One stored `instance_databases` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryRecord {
    pub database_name: String,
    pub is_active: bool,
    pub first_seen_date: NaiveDate,
    pub last_seen_date: NaiveDate,
    pub deleted_at: Option<DateTime<Utc>>,
}

/// What to write, and what is now active.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InventoryPlan {
    pub created: Vec<String>,
    pub refreshed: Vec<String>,
    pub reactivated: Vec<String>,
    pub deactivated: Vec<String>,
    /// Excluded by the filter file, with the reason.
    pub filtered: Vec<(String, String)>,
    /// Every database seen and kept, sorted: the capacity targets.
    pub active: Vec<String>,
    /// Tracked, active, not listed, and kept because the listing is not
    /// the whole catalogue: the account cannot see them. Sorted.
    pub unseen: Vec<String>,
    /// The listing was the whole catalogue, so what it lacks is gone.
    pub complete: bool,
}

impl InventoryPlan {
    pub fn counts(&self) -> InventoryCounts {
        let n = |v: &Vec<String>| u32::try_from(v.len()).unwrap_or(u32::MAX);
        InventoryCounts {
            created: n(&self.created),
            refreshed: n(&self.refreshed),
            reactivated: n(&self.reactivated),
            deactivated: n(&self.deactivated),
            unseen: n(&self.unseen),
            partial: !self.complete,
        }
    }
}

/// Diff the listed databases against the stored records.
///
/// System databases of engines other than MySQL are skipped silently (and so
/// deactivated if they were tracked): a PostgreSQL template or the
/// maintenance database holds nothing of the fleet's. MySQL system databases
/// are kept and left to the filter file, because `mysql` can hold data
/// operators care about, and whether it counts is their call. A tracked
/// database the listing does not name at all is deactivated only when the
/// listing is complete.
pub fn plan(
    engine: DbType,
    existing: &[InventoryRecord],
    listing: &Listing,
    filters: &DatabaseFilters,
) -> InventoryPlan {
    let listed = &listing.databases;
    let stored: BTreeMap<&str, &InventoryRecord> = existing
        .iter()
        .map(|r| (r.database_name.as_str(), r))
        .collect();
    let mut plan = InventoryPlan {
        complete: listing.complete,
        ..InventoryPlan::default()
    };
    let mut seen = BTreeSet::new();
    for item in listed {
        // Names are kept exactly as the server reports them: leading and
        // trailing white space is legal in identifiers on both engines, and
        // trimming would file a database under another's name.
        let name = item.name.as_str();
        if name.is_empty() || (item.is_system && engine != DbType::Mysql) {
            continue;
        }
        if let Some(reason) = filters.exclusion(engine.as_str(), name) {
            plan.filtered.push((name.to_string(), reason));
            continue;
        }
        if !seen.insert(name.to_string()) {
            continue; // listed twice: count it once
        }
        match stored.get(name) {
            Some(record) if record.is_active => plan.refreshed.push(name.to_string()),
            Some(_) => plan.reactivated.push(name.to_string()),
            None => plan.created.push(name.to_string()),
        }
    }
    (plan.unseen, plan.deactivated) = missing(existing, listing, &seen);
    plan.active = seen.into_iter().collect();
    plan
}

/// The tracked active databases that are not kept this run, split into
/// those kept anyway because the account cannot see them (`unseen`: not
/// listed, by a listing that is not the whole catalogue) and those to
/// deactivate.
fn missing(
    existing: &[InventoryRecord],
    listing: &Listing,
    kept: &BTreeSet<String>,
) -> (Vec<String>, Vec<String>) {
    let named: BTreeSet<&str> = listing.databases.iter().map(|i| i.name.as_str()).collect();
    existing
        .iter()
        .filter(|r| r.is_active && !kept.contains(&r.database_name))
        .map(|r| r.database_name.clone())
        .partition(|name| !listing.complete && !named.contains(name.as_str()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::adapters::DatabaseItem;

    fn record(name: &str, active: bool) -> InventoryRecord {
        let day = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        InventoryRecord {
            database_name: name.to_string(),
            is_active: active,
            first_seen_date: day,
            last_seen_date: day,
            deleted_at: (!active).then(Utc::now),
        }
    }

    fn item(name: &str, is_system: bool) -> DatabaseItem {
        DatabaseItem {
            name: name.to_string(),
            is_system,
        }
    }

    /// A complete listing of `items`.
    fn all(items: &[DatabaseItem]) -> Listing {
        Listing {
            databases: items.to_vec(),
            complete: true,
            grant: None,
        }
    }

    fn filters() -> DatabaseFilters {
        let yaml = "database_filters:\n  mysql:\n    exclude_databases: [mysql]\n    exclude_patterns: ['tmp_%']\n";
        DatabaseFilters::from_yaml_str("test", yaml).unwrap()
    }

    #[test]
    fn diff_counts_each_kind() {
        let existing = [
            record("kept", true),
            record("back", false),
            record("gone", true),
            record("old", false),
        ];
        let listed = [
            item("kept", false),
            item("back", false),
            item("new", false),
            item("tmp_x", false),
            item("", false),
        ];
        let plan = plan(DbType::Postgresql, &existing, &all(&listed), &filters());
        assert_eq!(plan.created, ["new", "tmp_x"]);
        assert_eq!(plan.refreshed, ["kept"]);
        assert_eq!(plan.reactivated, ["back"]);
        assert_eq!(plan.deactivated, ["gone"]);
        assert!(plan.filtered.is_empty(), "postgresql has no rules here");
        assert_eq!(plan.active, ["back", "kept", "new", "tmp_x"]);
    }

    #[test]
    fn system_databases_follow_the_engine_rule() {
        let listed = [item("postgres", true), item("app", false)];
        let pg = plan(
            DbType::Postgresql,
            &[record("postgres", true)],
            &all(&listed),
            &filters(),
        );
        assert_eq!(pg.active, ["app"]);
        assert_eq!(
            pg.deactivated,
            ["postgres"],
            "a skipped system db is deactivated"
        );

        let listed = [item("mysql", true), item("sys", true), item("tmp_1", false)];
        let my = plan(DbType::Mysql, &[], &all(&listed), &filters());
        assert_eq!(my.active, ["sys"], "mysql system dbs reach the filter");
        let reasons: Vec<_> = my
            .filtered
            .iter()
            .map(|(n, r)| (n.as_str(), r.as_str()))
            .collect();
        assert_eq!(
            reasons,
            [
                ("mysql", "exclude_database"),
                ("tmp_1", "exclude_pattern:tmp_%")
            ]
        );
    }

    #[test]
    fn names_are_kept_exactly_including_white_space() {
        let listed = [
            item(" app", false),
            item("app", false),
            item("app\u{a0}", false),
        ];
        let plan = plan(DbType::Postgresql, &[], &all(&listed), &filters());
        assert_eq!(plan.created, [" app", "app", "app\u{a0}"]);
    }

    #[test]
    fn names_compare_case_sensitively() {
        let plan = plan(
            DbType::Postgresql,
            &[record("App", true)],
            &all(&[item("app", false)]),
            &filters(),
        );
        assert_eq!(plan.created, ["app"]);
        assert_eq!(plan.deactivated, ["App"]);
    }

    #[test]
    fn a_partial_listing_deactivates_nothing_it_does_not_name() {
        // In name order, as the store returns them.
        let existing = [
            record("hidden", true),
            record("maybe_gone", true),
            record("kept", true),
            record("old", false),
            record("tmp_x", true),
        ];
        let listed = [
            item("kept", false),
            item("tmp_x", false),
            item("new", false),
        ];
        let partial = Listing {
            databases: listed.to_vec(),
            complete: false,
            grant: Some("GRANT SHOW DATABASES ON *.* TO 'm'@'%';".to_string()),
        };
        let got = plan(DbType::Mysql, &existing, &partial, &filters());
        assert_eq!(got.active, ["kept", "new"]);
        assert_eq!(got.unseen, ["hidden", "maybe_gone"]);
        assert_eq!(
            got.deactivated,
            ["tmp_x"],
            "listed, then excluded by the filter"
        );
        let counts = got.counts();
        assert_eq!((counts.unseen, counts.partial), (2, true));

        let whole = plan(DbType::Mysql, &existing, &all(&listed), &filters());
        assert!(whole.unseen.is_empty());
        assert_eq!(whole.deactivated, ["hidden", "maybe_gone", "tmp_x"]);
        assert!(!whole.counts().partial);
    }
}
