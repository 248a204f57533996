//! A definition's `tables:`: each a table by `name` or the source tables a
//! `pattern` matches, with its key and cursor columns.

use serde_yaml::Value;

use super::super::section::{kind, Section};
use crate::sync::{SyncMode, TableSpec};

/// A table by `name`, or the tables a `pattern` matches.
pub(super) fn table(t: &mut Section<'_>) -> Option<TableSpec> {
    let pattern = t.map.contains_key("pattern");
    let name = match pattern {
        true if t.map.contains_key("name") => {
            t.error("pattern", "give `name` or `pattern`, not both");
            String::new()
        }
        true => t.required_string("pattern"),
        false => t.required_string("name"),
    };
    if !pattern && name.contains(['*', '?']) {
        t.error(
            "name",
            "`*` and `?` make a pattern: declare it as `pattern:`",
        );
    }
    let target = t.non_empty_string("target");
    if pattern && target.is_some() {
        t.error(
            "target",
            "the tables of a pattern keep their names: drop `target`",
        );
    }
    let key = columns(t, "key");
    let cursor = columns(t, "cursor");
    (!name.is_empty()).then_some(TableSpec {
        name,
        target,
        key,
        cursor,
    })
}

/// A list of column names (or one name as a string).
fn columns(t: &mut Section<'_>, key: &'static str) -> Vec<String> {
    let items = match t.take(key) {
        None => return Vec::new(),
        Some(Value::String(one)) => vec![Value::String(one)],
        Some(Value::Sequence(items)) => items,
        Some(other) => {
            let problem = format!("expected a list of column names, found {}", kind(&other));
            t.error(key, &problem);
            return Vec::new();
        }
    };
    let mut names = Vec::new();
    for item in items {
        match item {
            Value::String(name) if !name.is_empty() && !names.contains(&name) => names.push(name),
            Value::String(name) if !name.is_empty() => {
                t.error(key, &format!("column `{name}` is listed twice"))
            }
            other => {
                let problem = format!("expected a column name, found {}", kind(&other));
                t.error(key, &problem);
            }
        }
    }
    names
}

/// At least one table, none twice, and a cursor on every table of an
/// incremental definition.
pub(super) fn checked_tables(
    s: &mut Section<'_>,
    tables: Vec<Option<TableSpec>>,
    mode: Option<SyncMode>,
) -> Option<Vec<TableSpec>> {
    if tables.is_empty() {
        s.error("tables", "name at least one table");
        return None;
    }
    let mut specs: Vec<TableSpec> = Vec::new();
    let mut fine = true;
    for (index, table) in tables.into_iter().enumerate() {
        let Some(table) = table else {
            fine = false;
            continue;
        };
        let key = format!("tables[{index}]");
        if specs.iter().any(|t| t.target_name() == table.target_name()) {
            let problem = format!("target table `{}` is written twice", table.target_name());
            s.error(&key, &problem);
            fine = false;
        } else if mode == Some(SyncMode::Incremental) && table.cursor.is_empty() {
            let problem = "an incremental sync needs `cursor:` (a column the database \
                           stamps on every insert and update, such as updated_at)";
            s.error(&format!("{key}.cursor"), problem);
            fine = false;
        }
        specs.push(table);
    }
    fine.then_some(specs)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use crate::config::load_from_str;
    use crate::config::test_support::{problems, SOURCE};

    const DEFINITION: &str = "syncs:\n\
        \x20 - name: o\n    source: { instance: p, database: s }\n\
        \x20   targets: [ { instance: b, database: s } ]\n";

    #[test]
    fn a_pattern_is_declared_apart_from_names() {
        let yaml = format!(
            "{DEFINITION}    tables: [ {{ name: orders }}, {{ pattern: \"audit_*\", key: id }} ]\n"
        );
        let settings = load_from_str(SOURCE, &yaml, Vec::new()).unwrap();
        let tables = &settings.syncs[0].tables;
        assert!(!tables[0].is_pattern());
        assert!(tables[1].is_pattern() && tables[1].matches("audit_1"));
        assert_eq!(tables[1].key, ["id"]);
    }

    #[test]
    fn a_pattern_where_a_name_belongs_is_reported() {
        let yaml = format!(
            "{DEFINITION}    tables:\n\
             \x20     - {{ name: \"a*\" }}\n\
             \x20     - {{ pattern: \"b*\", target: c }}\n\
             \x20     - {{ name: d, pattern: \"d*\" }}\n"
        );
        let found = problems(&yaml);
        for expected in [
            "syncs[0].tables[0].name: `*` and `?` make a pattern",
            "syncs[0].tables[1].target: the tables of a pattern keep their names",
            "syncs[0].tables[2].pattern: give `name` or `pattern`, not both",
        ] {
            assert!(
                found.iter().any(|p| p.starts_with(expected)),
                "{expected} not in {found:#?}"
            );
        }
    }
}
