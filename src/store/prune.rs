//! What an import checks and does beyond its own rows: the named
//! credentials they reference must exist, and with `--prune` the instances
//! the file no longer names are disabled (never removed), signed. Both run
//! in the import's transaction.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::db::{args, Tx};
use super::import::{ImportRow, NAMES};
use super::{Error, Result};
use crate::domain::{CredentialName, InstanceName};

/// Disable the active, unmanaged instances the rows do not name; their
/// names, sorted.
pub(super) async fn prune(
    tx: &mut Tx,
    rows: &[ImportRow],
    by: &str,
    now: DateTime<Utc>,
) -> Result<Vec<InstanceName>> {
    let names: Value = rows
        .iter()
        .map(|r| json!({ "name": r.instance.name.as_str() }))
        .collect();
    let sql = format!(
        "UPDATE instances SET is_active = FALSE, disabled_by = $2, disabled_at = $3, \
             updated_at = $3 \
         WHERE deleted_at IS NULL AND is_active AND NOT managed \
             AND name NOT IN (SELECT t.name FROM {}) \
         RETURNING name",
        tx.dialect().rows(1, &NAMES)
    );
    let mut pruned = Vec::new();
    for row in tx.fetch_all(&sql, args![names, by, now]).await? {
        let name: String = row.get("name")?;
        let name = InstanceName::parse(&name)
            .map_err(|e| Error::Conflict(format!("corrupt instance row: {e}")))?;
        pruned.push(name);
    }
    pruned.sort();
    Ok(pruned)
}

/// The named credentials the rows reference that do not exist, sorted.
pub(super) async fn unknown_credentials(
    tx: &mut Tx,
    rows: &[ImportRow],
) -> Result<Vec<CredentialName>> {
    let named: HashSet<&CredentialName> = rows
        .iter()
        .filter_map(|r| r.instance.credential.as_ref())
        .collect();
    if named.is_empty() {
        return Ok(Vec::new());
    }
    let names: Value = named
        .iter()
        .map(|n| json!({ "name": n.as_str() }))
        .collect();
    let sql = format!(
        "SELECT t.name FROM {} WHERE t.name NOT IN \
             (SELECT name FROM credentials WHERE name IS NOT NULL)",
        tx.dialect().rows(1, &NAMES)
    );
    let missing: HashSet<String> = tx
        .fetch_all(&sql, args![names])
        .await?
        .iter()
        .map(|row| row.get::<String>("name"))
        .collect::<Result<_>>()?;
    let mut unknown: Vec<CredentialName> = named
        .into_iter()
        .filter(|n| missing.contains(n.as_str()))
        .cloned()
        .collect();
    unknown.sort();
    Ok(unknown)
}
