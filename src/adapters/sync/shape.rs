//! A table's shape as a sync sees it: its columns, each with the kind of
//! value it holds whatever the engine, and the key; and the fingerprint a
//! checkpoint keeps, so that a source that changed shape is noticed before
//! a run writes anything.

use serde::Serialize;

/// The kind of value a column holds, on either engine. A type with no
/// closer kind (PostgreSQL enums, `inet`, intervals; MySQL `bit`, `set`) is
/// `Text`: it travels as the engine's own text form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum ColumnKind {
    /// Up to 64-bit signed (MySQL unsigned up to `int`).
    Int,
    /// `precision` 0: PostgreSQL `numeric` without a declared precision.
    /// MySQL `bigint unsigned` is `Decimal { precision: 20, scale: 0 }`.
    Decimal {
        precision: u32,
        scale: u32,
    },
    Float,
    /// PostgreSQL `boolean`, MySQL `tinyint(1)`.
    Bool,
    Text,
    Bytes,
    Date,
    Time,
    /// Without time zone (MySQL `datetime`).
    Timestamp,
    /// An instant: PostgreSQL `timestamptz`, MySQL `timestamp` (read and
    /// written in UTC).
    TimestampTz,
    Json,
    Uuid,
}

impl ColumnKind {
    /// Dates and times: the kinds a clock horizon applies to.
    pub fn is_time(&self) -> bool {
        matches!(
            self,
            ColumnKind::Date | ColumnKind::Timestamp | ColumnKind::TimestampTz
        )
    }
}

/// One column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub kind: ColumnKind,
    pub nullable: bool,
    /// The engine's own type (PostgreSQL `format_type`, MySQL
    /// `COLUMN_TYPE`): what canonical text is cast back to.
    pub declared: String,
    /// Text already compared by code point (PostgreSQL `C`, MySQL
    /// `utf8mb4_bin`), or not text: no collation to force.
    pub native_order: bool,
    /// PostgreSQL: the type takes a collation (text, varchar, char).
    pub collatable: bool,
}

/// A table's columns (in the table's order), key and other unique
/// indexes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableShape {
    pub columns: Vec<Column>,
    /// The primary key's columns, in key order; empty when there is none.
    pub key: Vec<String>,
    /// The unique indexes besides the primary key: a target's upsert on the
    /// key meets them too. Not part of the fingerprint, which is the
    /// source's columns.
    pub unique: Vec<UniqueIndex>,
}

/// A unique index (or constraint) other than the primary key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UniqueIndex {
    pub name: String,
    /// Its key columns in index order; an expression as its SQL text.
    pub columns: Vec<String>,
}

#[derive(Serialize)]
struct Fingerprint<'a> {
    columns: Vec<(&'a str, &'a ColumnKind, bool)>,
    key: &'a [String],
}

impl TableShape {
    /// Names, kinds, nullability and key, as JSON: stable across runs and
    /// readable in an error.
    pub fn fingerprint(&self) -> String {
        let print = Fingerprint {
            columns: self
                .columns
                .iter()
                .map(|c| (c.name.as_str(), &c.kind, c.nullable))
                .collect(),
            key: &self.key,
        };
        serde_json::to_string(&print).unwrap_or_default()
    }

    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    pub fn position(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// The unique indexes two rows of different keys can collide on. One
    /// that holds every key column cannot: rows equal on it are equal on
    /// the key, so an upsert on the key meets the same row there.
    pub fn unique_besides_key(&self) -> Vec<&UniqueIndex> {
        self.unique
            .iter()
            .filter(|u| !self.key.iter().all(|k| u.columns.contains(k)))
            .collect()
    }
}

/// What differs between two fingerprints, in words: the columns only one
/// of them has (by name, kind and nullability), and the key.
pub fn fingerprint_change(before: &str, now: &str) -> String {
    fn parse(text: &str) -> (Vec<String>, String) {
        let value: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
        let columns = value["columns"]
            .as_array()
            .map(|a| a.iter().map(|c| c.to_string()).collect())
            .unwrap_or_default();
        (columns, value["key"].to_string())
    }
    let (old, old_key) = parse(before);
    let (new, new_key) = parse(now);
    let mut parts = Vec::new();
    let gone: Vec<&String> = old.iter().filter(|c| !new.contains(c)).collect();
    let added: Vec<&String> = new.iter().filter(|c| !old.contains(c)).collect();
    if !gone.is_empty() {
        parts.push(format!("was {}", join(&gone)));
    }
    if !added.is_empty() {
        parts.push(format!("now {}", join(&added)));
    }
    if old_key != new_key {
        parts.push(format!("key was {old_key}, now {new_key}"));
    }
    if parts.is_empty() {
        "the column order changed".to_string()
    } else {
        parts.join("; ")
    }
}

fn join(items: &[&String]) -> String {
    items
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn shape(columns: &[(&str, ColumnKind)]) -> TableShape {
        TableShape {
            columns: columns
                .iter()
                .map(|(n, k)| Column {
                    name: n.to_string(),
                    kind: k.clone(),
                    nullable: false,
                    declared: String::new(),
                    native_order: true,
                    collatable: false,
                })
                .collect(),
            key: vec!["id".to_string()],
            unique: Vec::new(),
        }
    }

    #[test]
    fn only_unique_indexes_without_the_whole_key_collide() {
        fn check(columns: &[&str], collides: bool) {
            let mut s = shape(&[("id", ColumnKind::Int), ("email", ColumnKind::Text)]);
            s.key.push("tenant".to_string());
            s.unique.push(UniqueIndex {
                name: "u".to_string(),
                columns: columns.iter().map(|c| c.to_string()).collect(),
            });
            assert_eq!(!s.unique_besides_key().is_empty(), collides, "{columns:?}");
        }
        check(&["email"], true);
        check(&["id"], true);
        check(&["email", "tenant"], true);
        check(&["tenant", "id"], false);
        check(&["email", "id", "tenant"], false);
        check(&["lower((email)::text)"], true);
    }

    #[test]
    fn fingerprint_is_stable_and_says_what_changed() {
        let a = shape(&[("id", ColumnKind::Int), ("name", ColumnKind::Text)]);
        let b = shape(&[
            ("id", ColumnKind::Int),
            ("name", ColumnKind::Text),
            (
                "extra",
                ColumnKind::Decimal {
                    precision: 12,
                    scale: 2,
                },
            ),
        ]);
        assert_eq!(a.fingerprint(), a.clone().fingerprint());
        assert_ne!(a.fingerprint(), b.fingerprint());
        let change = fingerprint_change(&a.fingerprint(), &b.fingerprint());
        assert!(change.starts_with("now [\"extra\""), "{change}");
        assert!(!change.contains("was"), "{change}");
    }
}
