//! The inventory: which databases each instance has, since when, and which
//! are gone.
//!
//! Contract: rows are never deleted. [`Inventory::apply`] writes one
//! [`InventoryPlan`] atomically, and is safe against a concurrent run of the
//! same instance: a name created twice is folded into one row, and
//! `last_seen_date` never moves backwards. Each list of the plan is written
//! with one statement, its names passed as one JSON parameter. Databases the
//! plan keeps without having seen them (`unseen`: the account could not
//! see the whole catalogue) are not touched.
//!
//! Deactivating a database also marks its figures of the same day (its
//! size, or its gap) `is_deleted`, in the same transaction: a database
//! measured in the morning and dropped by the evening run no longer counts
//! for that day, so the day's rows and its total keep agreeing (see
//! `stats.rs`).

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{json, Value};

use super::db::{args, Db, Row, Tx};
use super::dialect::{Column, Dialect, Kind};
use super::statement::Statement;
use super::Result;
use crate::domain::InstanceId;
use crate::inventory::{InventoryPlan, InventoryRecord};

/// The inventory of a store ([`super::Store::inventory`]).
pub struct Inventory<'a> {
    pub(super) db: &'a Db,
}

/// The bulk rows of a list of database names.
const NAMES: [Column; 1] = [Column {
    name: "name",
    kind: Kind::Text,
}];

fn names<'a>(names: impl IntoIterator<Item = &'a String>) -> Value {
    names
        .into_iter()
        .map(|name| json!({ "name": name }))
        .collect()
}

impl Inventory<'_> {
    /// Every database ever seen on `instance`, by name.
    pub async fn records(&self, instance: InstanceId) -> Result<Vec<InventoryRecord>> {
        let rows = self.db.fetch_all(RECORDS, args![instance]).await?;
        rows.iter().map(record_from_row).collect()
    }

    /// Apply an inventory diff atomically.
    pub async fn apply(
        &self,
        instance: InstanceId,
        plan: &InventoryPlan,
        today: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut tx = self.db.write().await?;
        apply(&mut tx, instance, plan, today, now).await?;
        tx.commit().await
    }
}

pub(super) const RECORDS: &str =
    "SELECT database_name, is_active, first_seen_date, last_seen_date, \
     deleted_at FROM instance_databases WHERE instance_id = $1 ORDER BY database_name";

/// [`Inventory::records`] inside a transaction of the caller's.
pub(super) async fn records(tx: &mut Tx, instance: InstanceId) -> Result<Vec<InventoryRecord>> {
    let rows = tx.fetch_all(RECORDS, args![instance]).await?;
    rows.iter().map(record_from_row).collect()
}

/// [`Inventory::apply`] inside a write transaction of the caller's.
pub(super) async fn apply(
    tx: &mut Tx,
    instance: InstanceId,
    plan: &InventoryPlan,
    today: NaiveDate,
    now: DateTime<Utc>,
) -> Result<()> {
    for write in writes(tx.dialect(), instance, plan, (today, now)) {
        tx.run(write).await?;
    }
    Ok(())
}

/// The statements of [`apply`], in order; a list of the plan that is empty
/// costs no statement. Each list touches names of its own; only a
/// deactivation reaches beyond the inventory (its figures of the day).
pub(super) fn writes(
    dialect: Dialect,
    instance: InstanceId,
    plan: &InventoryPlan,
    (today, now): (NaiveDate, DateTime<Utc>),
) -> Vec<Statement> {
    let rows = dialect.rows(2, &NAMES);
    let mut writes = Vec::new();
    if !plan.created.is_empty() {
        writes.push(create(&rows, instance, &plan.created, (today, now)));
    }
    if !(plan.refreshed.is_empty() && plan.reactivated.is_empty()) {
        let sql = format!(
            "UPDATE instance_databases SET is_active = TRUE, deleted_at = NULL, \
                 updated_at = $4, \
                 last_seen_date = CASE WHEN last_seen_date > $3 THEN last_seen_date ELSE $3 END \
             WHERE instance_id = $1 AND database_name IN (SELECT t.name FROM {rows})"
        );
        let seen = names(plan.refreshed.iter().chain(&plan.reactivated));
        writes.push(Statement {
            sql,
            args: args![instance, seen, today, now],
        });
    }
    if !plan.deactivated.is_empty() {
        writes.extend(deactivate(
            dialect,
            instance,
            &plan.deactivated,
            (today, now),
        ));
    }
    writes
}

/// Insert `created`. A concurrent run may have inserted the same name: it
/// is folded in. `WHERE true` keeps SQLite from reading ON CONFLICT as a
/// join clause.
fn create(
    rows: &str,
    instance: InstanceId,
    created: &[String],
    (today, now): (NaiveDate, DateTime<Utc>),
) -> Statement {
    let sql = format!(
        "INSERT INTO instance_databases (instance_id, database_name, is_active, \
             first_seen_date, last_seen_date, created_at, updated_at) \
         SELECT $1, t.name, TRUE, $3, $3, $4, $4 FROM {rows} WHERE true \
         ON CONFLICT (instance_id, database_name) DO UPDATE SET is_active = TRUE, \
             deleted_at = NULL, updated_at = $4, last_seen_date = CASE \
                 WHEN instance_databases.last_seen_date > excluded.last_seen_date \
                 THEN instance_databases.last_seen_date ELSE excluded.last_seen_date END"
    );
    let args = args![instance, names(created), today, now];
    Statement { sql, args }
}

/// Mark `gone` inactive, and its figures of `today` no longer counting.
fn deactivate(
    dialect: Dialect,
    instance: InstanceId,
    gone: &[String],
    (today, now): (NaiveDate, DateTime<Utc>),
) -> Vec<Statement> {
    let rows = dialect.rows(2, &NAMES);
    let sql = format!(
        "UPDATE instance_databases SET is_active = FALSE, deleted_at = $3, updated_at = $3 \
         WHERE instance_id = $1 AND database_name IN (SELECT t.name FROM {rows}) AND is_active"
    );
    let mut writes = vec![Statement {
        sql,
        args: args![instance, names(gone), now],
    }];
    // The day's size and gap of each of `gone` no longer count for `today`
    // (see the module docs).
    for table in ["database_size_stats", "unmeasured_databases"] {
        let sql = format!(
            "UPDATE {table} SET is_deleted = TRUE, deleted_at = $4, updated_at = $4 \
             WHERE instance_id = $1 AND collected_date = $3 AND NOT is_deleted \
               AND database_name IN (SELECT t.name FROM {rows})"
        );
        let args = args![instance, names(gone), today, now];
        writes.push(Statement { sql, args });
    }
    writes
}

pub(super) fn record_from_row(row: &Row) -> Result<InventoryRecord> {
    Ok(InventoryRecord {
        database_name: row.get("database_name")?,
        is_active: row.get("is_active")?,
        first_seen_date: row.get("first_seen_date")?,
        last_seen_date: row.get("last_seen_date")?,
        deleted_at: row.get("deleted_at")?,
    })
}
