//! Who changes the control store's schema, and what everyone else checks.
//!
//! Only the schema's owner migrates: `dbfleet migrate` (and `dbfleet run`
//! for its own embedded store). Every other process reads which migrations
//! were applied and goes on when the schema is at least the version it was
//! built for: migrations only add (expand, then contract in a later
//! release), so a newer schema serves an older program during a rolling
//! upgrade. A store role with data rights only (no DDL) runs everything but
//! `dbfleet migrate`; it needs `SELECT` on `_sqlx_migrations` to be checked.

use super::{Error, Result, Store};
use crate::store::db::args;

/// The migration table sqlx keeps.
const MIGRATIONS_TABLE: &str = "_sqlx_migrations";

/// Where a store's schema stands against this build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    /// No migration was ever applied.
    Missing,
    /// A migration started and failed part-way.
    Dirty { version: i64 },
    /// Applied up to `at`; this build needs `needs` (and `at` may be newer).
    At { at: i64, needs: i64 },
}

/// What [`Store::migrate`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migrated {
    /// The version before, `None` for a store that had no schema.
    pub from: Option<i64>,
    pub to: i64,
}

impl Store {
    /// Where the schema stands against this build.
    pub async fn schema(&self) -> Result<Schema> {
        let present = self
            .db
            .fetch_one(self.db.dialect().table_exists(), args![MIGRATIONS_TABLE])
            .await?;
        if present.int("present")? == 0 {
            return Ok(Schema::Missing);
        }
        let sql = format!("SELECT version, success FROM {MIGRATIONS_TABLE} ORDER BY version");
        let mut at = None;
        for row in self.db.fetch_all(&sql, args![]).await? {
            let version = row.int("version")?;
            if !row.get::<bool>("success")? {
                return Ok(Schema::Dirty { version });
            }
            at = Some(version);
        }
        let needs = self.db.latest_migration();
        Ok(at.map_or(Schema::Missing, |at| Schema::At { at, needs }))
    }

    /// Fail unless the schema serves this build: present, clean, and at or
    /// above the version it needs.
    pub async fn check_schema(&self) -> Result<()> {
        match self.schema().await? {
            Schema::Missing => Err(Error::SchemaMissing),
            Schema::Dirty { version } => Err(Error::SchemaDirty { version }),
            Schema::At { at, needs } if at < needs => Err(Error::SchemaBehind { at, needs }),
            Schema::At { .. } => Ok(()),
        }
    }

    /// Bring the schema up to date; safe to run from several processes.
    pub async fn migrate(&self) -> Result<Migrated> {
        let from = match self.schema().await? {
            Schema::At { at, .. } => Some(at),
            Schema::Missing | Schema::Dirty { .. } => None,
        };
        self.db.migrate().await?;
        let to = match self.schema().await? {
            Schema::At { at, .. } => at,
            Schema::Missing => 0,
            Schema::Dirty { version } => return Err(Error::SchemaDirty { version }),
        };
        Ok(Migrated { from, to })
    }
}
