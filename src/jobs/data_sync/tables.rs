//! A definition's tables as one run syncs them: each `pattern` replaced by
//! the source tables it matches, listed from the source's catalogue when
//! the run starts, so a table created since the last run (this month's
//! `audit_2026_12`) is synced by the next.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};

use super::{timed, Context, Failure};
use crate::adapters::sync::{Role, SyncSession};
use crate::store::Instance;
use crate::sync::{SyncDefinition, TableSpec};

/// dbfleet's own table in a database that is both a target and a source.
const CHECKPOINTS: &str = "dbfleet_sync_checkpoints";

/// A table to sync, or a pattern that gave none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Planned {
    Table(TableSpec),
    /// The pattern matched no table, or the source's tables could not be
    /// listed: the reason, reported as that pattern's failed run.
    Unmatched {
        pattern: String,
        why: String,
    },
}

/// The tables of `specs` in their order (a pattern's by name), each once:
/// a table named explicitly, or matched by an earlier pattern, is not
/// added again.
pub(super) async fn expand(source: &mut SyncSession, specs: &[TableSpec]) -> Vec<Planned> {
    let named = named(specs);
    let mut listed: BTreeMap<Option<&str>, Result<Vec<String>, String>> = BTreeMap::new();
    let mut taken: BTreeSet<String> = BTreeSet::new();
    let mut planned = Vec::with_capacity(specs.len());
    for spec in specs {
        if !spec.is_pattern() {
            planned.push(Planned::Table(spec.clone()));
            continue;
        }
        let schema = spec.schema();
        let tables = match listed.entry(schema) {
            Entry::Occupied(known) => known.into_mut(),
            Entry::Vacant(slot) => {
                slot.insert(source.tables(schema).await.map_err(|e| e.to_string()))
            }
        };
        let found = match tables {
            Ok(tables) => matched(spec, tables, &named, &mut taken),
            Err(why) => {
                planned.push(unmatched(
                    spec,
                    &format!("listing the source's tables failed: {why}"),
                ));
                continue;
            }
        };
        if found.is_empty() {
            planned.push(unmatched(spec, "it matches no table of the source"));
        }
        planned.extend(found.into_iter().map(Planned::Table));
    }
    planned
}

/// The names the tables declared by name take: each one's source and
/// target name, with and without PostgreSQL's default schema, so that no
/// pattern sends a second table to the same target table.
fn named(specs: &[TableSpec]) -> BTreeSet<&str> {
    specs
        .iter()
        .filter(|s| !s.is_pattern())
        .flat_map(|s| [s.name.as_str(), s.target_name()])
        .flat_map(|n| [n, n.strip_prefix("public.").unwrap_or(n)])
        .collect()
}

/// The tables of `tables` that `spec` matches and no other spec took,
/// each as a spec of its own (`schema.table` when the pattern named one).
/// A name with a `.` in it is left out: it would read as `schema.table`.
fn matched(
    spec: &TableSpec,
    tables: &[String],
    named: &BTreeSet<&str>,
    taken: &mut BTreeSet<String>,
) -> Vec<TableSpec> {
    let prefix = spec.schema().map(|s| format!("{s}.")).unwrap_or_default();
    tables
        .iter()
        .filter(|t| t.as_str() != CHECKPOINTS && !t.contains('.') && spec.matches(t))
        .map(|t| format!("{prefix}{t}"))
        .filter(|name| !named.contains(name.as_str()) && taken.insert(name.clone()))
        .map(|name| TableSpec {
            name,
            target: None,
            ..spec.clone()
        })
        .collect()
}

fn unmatched(spec: &TableSpec, why: &str) -> Planned {
    Planned::Unmatched {
        pattern: spec.name.clone(),
        why: format!("pattern {}: {why}", spec.name),
    }
}

/// `def` with its patterns replaced by the tables they match now, and the
/// patterns that gave none with the reason. The source is read only when
/// the definition has a pattern, on a session of its own, closed at once.
pub(super) async fn expanded(
    ctx: &Context<'_>,
    def: &SyncDefinition,
    source: &Instance,
) -> Result<(SyncDefinition, Vec<(String, String)>), Failure> {
    if !def.tables.iter().any(TableSpec::is_pattern) {
        return Ok((def.clone(), Vec::new()));
    }
    let options = timed(ctx.options(source, Some(&def.source.database))?, def);
    let opening = SyncSession::open(source.db_type, &options, Role::Source);
    let planned = match ctx.remote("connect", opening).await {
        Ok(mut session) => {
            let planned = ctx
                .remote("list_tables", expand(&mut session, &def.tables))
                .await;
            session.close().await;
            planned
        }
        Err(e) => unlisted(&def.tables, &e.to_string()),
    };
    let mut tables = Vec::new();
    let mut unmatched = Vec::new();
    for plan in planned {
        match plan {
            Planned::Table(spec) => tables.push(spec),
            Planned::Unmatched { pattern, why } => unmatched.push((pattern, why)),
        }
    }
    let def = SyncDefinition {
        tables,
        ..def.clone()
    };
    Ok((def, unmatched))
}

/// The source could not be reached: every pattern is unmatched for that
/// reason; named tables go on (and fail on their own connect).
fn unlisted(specs: &[TableSpec], why: &str) -> Vec<Planned> {
    specs
        .iter()
        .map(|spec| match spec.is_pattern() {
            true => unmatched(spec, &format!("listing the source's tables failed: {why}")),
            false => Planned::Table(spec.clone()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str) -> TableSpec {
        TableSpec {
            name: name.to_string(),
            target: None,
            key: vec!["id".to_string()],
            cursor: Vec::new(),
        }
    }

    #[test]
    fn each_table_is_taken_once_and_never_the_checkpoints() {
        let listed: Vec<String> = ["a_1", "a_2", "ab", CHECKPOINTS, "b_1", "b.2"]
            .map(str::to_string)
            .into();
        let named = BTreeSet::from(["a_1"]);
        let mut taken = BTreeSet::new();
        let first = matched(&spec("a_*"), &listed, &named, &mut taken);
        let names: Vec<&str> = first.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["a_2"], "a_1 is named on its own");
        assert_eq!(first[0].key, ["id"], "the pattern's key goes with it");
        let all = matched(&spec("*"), &listed, &named, &mut taken);
        let names: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["ab", "b_1"]);
        let schema = matched(&spec("archive.b_?"), &listed, &named, &mut BTreeSet::new());
        assert_eq!(schema[0].name, "archive.b_1");
    }

    #[test]
    fn a_named_table_takes_its_source_and_target_names() {
        let renamed = TableSpec {
            target: Some("orders_archive".to_string()),
            ..spec("public.orders")
        };
        let specs = [renamed, spec("orders*")];
        let taken = named(&specs);
        let listed: Vec<String> = ["orders", "orders_archive", "orders_2"]
            .map(str::to_string)
            .into();
        let found = matched(&specs[1], &listed, &taken, &mut BTreeSet::new());
        let names: Vec<&str> = found.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["orders_2"]);
    }
}
