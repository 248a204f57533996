//! Data sync definitions and their run history.
//!
//! Contract: the definitions are the configuration's, reconciled here by
//! name ([`Syncs::reconcile`]): a declared definition is written as it is
//! declared, one no longer declared is kept (its history still names it)
//! but marked undeclared, and the operator's switch (`enabled_override`)
//! is never touched by reconciliation. A run's history row is keyed by
//! (job, target, table), written `running` when the table starts and
//! rewritten when it ends, so a redelivered job overwrites its own rows.
//! Checkpoints are not kept here but in each target database, in the
//! transaction of the rows they cover.

use chrono::{DateTime, Utc};

use super::db::{args, Db, Row};
use super::{Error, Result};
use crate::sync::SyncDefinition;

/// A definition as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StoredSync {
    #[serde(flatten)]
    pub definition: SyncDefinition,
    /// Still in the configuration.
    pub declared: bool,
    /// The operator's switch, when set: it wins over `enabled`.
    pub enabled_override: Option<bool>,
    pub changed_by: Option<String>,
}

impl StoredSync {
    /// Whether runs of it may start.
    pub fn is_enabled(&self) -> bool {
        self.declared && self.enabled_override.unwrap_or(self.definition.enabled)
    }
}

/// What a reconciliation changed, by definition name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reconciled {
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub unchanged: Vec<String>,
    /// In the store but no longer in the configuration.
    pub undeclared: Vec<String>,
}

/// The data sync side of a store ([`super::Store::syncs`]).
pub struct Syncs<'a> {
    pub(super) db: &'a Db,
}

impl Syncs<'_> {
    /// Make the stored definitions those of `declared`, keeping operators'
    /// overrides.
    pub async fn reconcile(
        &self,
        declared: &[SyncDefinition],
        now: DateTime<Utc>,
    ) -> Result<Reconciled> {
        let stored = self.list().await?;
        let mut done = Reconciled::default();
        for definition in declared {
            let json = encode(definition)?;
            let before = stored.iter().find(|s| s.definition.name == definition.name);
            let list = match before {
                None => &mut done.created,
                Some(s) if s.declared && &s.definition == definition => {
                    done.unchanged.push(definition.name.clone());
                    continue;
                }
                Some(_) => &mut done.updated,
            };
            self.db
                .execute(
                    "INSERT INTO sync_definitions (name, definition, declared, updated_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO UPDATE SET \
                     definition = excluded.definition, declared = excluded.declared, \
                     updated_at = excluded.updated_at",
                    args![&definition.name, json, true, now],
                )
                .await?;
            list.push(definition.name.clone());
        }
        for gone in stored.iter().filter(|s| s.declared) {
            let name = &gone.definition.name;
            if declared.iter().all(|d| &d.name != name) {
                self.db
                    .execute(
                        "UPDATE sync_definitions SET declared = $2, updated_at = $3 \
                         WHERE name = $1",
                        args![name, false, now],
                    )
                    .await?;
                done.undeclared.push(name.clone());
            }
        }
        Ok(done)
    }

    /// Every definition, by name.
    pub async fn list(&self) -> Result<Vec<StoredSync>> {
        let rows = self
            .db
            .fetch_all(&format!("{SELECT} ORDER BY name"), args![])
            .await?;
        rows.iter().map(from_row).collect()
    }

    pub async fn get(&self, name: &str) -> Result<Option<StoredSync>> {
        let row = self
            .db
            .fetch_optional(&format!("{SELECT} WHERE name = $1"), args![name])
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Set (or with `None` clear) the operator's switch; whether the
    /// definition exists.
    pub async fn set_enabled(
        &self,
        name: &str,
        enabled: Option<bool>,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let changed = self
            .db
            .execute(
                "UPDATE sync_definitions SET enabled_override = $2, changed_by = $3, \
                 updated_at = $4 WHERE name = $1",
                args![name, enabled, by, now],
            )
            .await?;
        Ok(changed > 0)
    }
}

const SELECT: &str =
    "SELECT definition, declared, enabled_override, changed_by FROM sync_definitions";

fn encode(definition: &SyncDefinition) -> Result<String> {
    serde_json::to_string(definition)
        .map_err(|e| Error::Conflict(format!("cannot encode a sync definition: {e}")))
}

fn from_row(row: &Row) -> Result<StoredSync> {
    let text: String = row.get("definition")?;
    let definition = serde_json::from_str(&text)
        .map_err(|e| Error::Conflict(format!("corrupt sync definition: {e}")))?;
    Ok(StoredSync {
        definition,
        declared: row.get("declared")?,
        enabled_override: row.get("enabled_override")?,
        changed_by: row.get("changed_by")?,
    })
}
