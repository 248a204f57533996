//! Whether an existing target table can take the source's rows: every
//! source column, the sync's key as its primary key, and no other unique
//! index two rows of different keys could collide on.
//!
//! Pages are upserted on the key. MySQL's `ON DUPLICATE KEY UPDATE` fires
//! on any unique index, and would update whichever row holds the repeated
//! value: two source rows silently merged into one. PostgreSQL's `ON
//! CONFLICT (key)` raises on another index instead, so the row would be
//! refused, not corrupted; it is refused up front all the same. A source
//! whose own unique column moves between two rows (one row changes it,
//! another takes the old value) is copied page by page, not as one
//! snapshot, so the backup can meet both values at once: rows would be
//! refused now and then, with a duplicate-key error far from its cause,
//! where this check names the index and what to do.

use crate::adapters::sync::{Column, TableShape, UniqueIndex};
use crate::domain::DbType;

use super::TableJob;

/// The target's column for each source column, and a primary key that is
/// the sync's key: upserts on any other would duplicate rows (MySQL) or
/// fail (PostgreSQL). A target only read (a verification without repair)
/// may have other unique indexes.
pub(super) fn matching(
    job: &TableJob<'_>,
    table: &str,
    engine: DbType,
    source: &TableShape,
    target: &TableShape,
) -> Result<Vec<Column>, String> {
    let missing: Vec<&str> = source
        .columns
        .iter()
        .filter(|c| target.column(&c.name).is_none())
        .map(|c| c.name.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "the target table {table} in {} lacks the source's columns {}",
            job.target_label,
            missing.join(", ")
        ));
    }
    same_key(job, table, source, target)?;
    if !job.verify_only || job.repair {
        if let Some(index) = target.unique_besides_key().first() {
            return Err(other_unique(job, table, engine, target, index));
        }
    }
    Ok(source
        .columns
        .iter()
        .filter_map(|c| target.column(&c.name).cloned())
        .collect())
}

fn same_key(
    job: &TableJob<'_>,
    table: &str,
    source: &TableShape,
    target: &TableShape,
) -> Result<(), String> {
    let mut wanted = source.key.clone();
    let mut has = target.key.clone();
    wanted.sort();
    has.sort();
    if wanted == has {
        return Ok(());
    }
    Err(format!(
        "the target table {table} in {} has primary key ({}), not the sync's key ({})",
        job.target_label,
        target.key.join(", "),
        source.key.join(", ")
    ))
}

/// The refusal of a target with another unique index: what it would do to
/// the rows on this engine, and the two ways out.
fn other_unique(
    job: &TableJob<'_>,
    table: &str,
    engine: DbType,
    target: &TableShape,
    index: &UniqueIndex,
) -> String {
    let harm = match engine {
        DbType::Mysql => {
            "MySQL's upsert on the key (ON DUPLICATE KEY UPDATE) would update whichever row \
             already holds a value it repeats, merging two source rows into one"
        }
        DbType::Postgresql => {
            "a row repeating its values under another key would be refused (ON CONFLICT on the \
             key does not cover it), and the backup would lack it"
        }
    };
    format!(
        "the target table {table} in {} has the unique index {} ({}) besides its primary key \
         ({}): {harm}; drop that index on the backup, or make it the backup's primary key and \
         name its columns as the table's `key:`",
        job.target_label,
        index.name,
        index.columns.join(", "),
        target.key.join(", ")
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::adapters::sync::ColumnKind;
    use crate::sync::{SyncMode, TableSpec};

    fn shape(unique: &[(&str, &[&str])]) -> TableShape {
        let column = |name: &str| Column {
            name: name.to_string(),
            kind: ColumnKind::Int,
            nullable: false,
            declared: "bigint".to_string(),
            native_order: true,
            collatable: false,
        };
        TableShape {
            columns: vec![column("id"), column("email")],
            key: vec!["id".to_string()],
            unique: unique
                .iter()
                .map(|(name, columns)| UniqueIndex {
                    name: name.to_string(),
                    columns: columns.iter().map(|c| c.to_string()).collect(),
                })
                .collect(),
        }
    }

    fn job(spec: &TableSpec, verify_only: bool, repair: bool) -> TableJob<'_> {
        TableJob {
            definition: "d",
            spec,
            target_label: "backup/db".to_string(),
            mode: SyncMode::Full,
            mirror: false,
            batch_size: 10,
            initial_days: 1,
            settle: Duration::ZERO,
            verify: false,
            verify_only,
            repair,
            max_rejected_rows: 0,
            rows_per_second: None,
            max_gap: None,
            lock_wait: Duration::ZERO,
            source_slots: None,
        }
    }

    #[test]
    fn another_unique_index_is_refused_unless_only_read() {
        let spec = TableSpec {
            name: "users".to_string(),
            target: None,
            key: Vec::new(),
            cursor: Vec::new(),
        };
        let source = shape(&[]);
        let check = |target: &TableShape, verify_only, repair, engine| {
            matching(
                &job(&spec, verify_only, repair),
                "users",
                engine,
                &source,
                target,
            )
        };
        let other = shape(&[("users_email", &["email"])]);
        for engine in [DbType::Mysql, DbType::Postgresql] {
            let error = check(&other, false, false, engine).unwrap_err();
            for part in [
                "users",
                "backup/db",
                "users_email (email)",
                "drop that index",
            ] {
                assert!(error.contains(part), "{engine}: {part}: {error}");
            }
            assert!(check(&other, true, true, engine).is_err(), "{engine}");
            assert!(check(&other, true, false, engine).is_ok(), "{engine}");
        }
        let error = check(&other, false, false, DbType::Mysql).unwrap_err();
        assert!(error.contains("merging two source rows"), "{error}");
        // An index holding the whole key cannot collide on another row.
        let wider = shape(&[("users_id_email", &["email", "id"])]);
        assert_eq!(check(&wider, false, false, DbType::Mysql).unwrap().len(), 2);
    }
}
