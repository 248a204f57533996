//! What `information_schema.TABLES` adds to a schema's size: the tables the
//! InnoDB tablespace files do not hold.
//!
//! Those are tables of other engines that keep data in local files
//! (MyISAM, Aria, Archive, CSV, …), and InnoDB tables in the system
//! tablespace (`ibdata1`, from `innodb_file_per_table=OFF`), whose space no
//! per-schema file shows. Each is sized from its `DATA_LENGTH +
//! INDEX_LENGTH`. This deliberately improves on the reference's
//! InnoDB-only rule (`whalefall-capacity-spec.md` §1.6.1: "excludes the
//! shared system tablespace … and all non-InnoDB engines"), which stores a
//! 16 MB MyISAM schema as 0 MiB.
//!
//! The hot path stays bounded. Reading `DATA_LENGTH` opens a table (slow on
//! MariaDB, and it waits on metadata locks), so it is read only for the
//! tables that need it, named one by one: `(TABLE_SCHEMA, TABLE_NAME) IN
//! (…)` opens just those (measured on MariaDB 10.11: `Opened_tables` grows
//! by the tables named, not by the schema's). Which tables need it comes
//! from what needs no table opened: engines from the table definitions, and
//! the system-tablespace tables from the InnoDB dictionary
//! (`INNODB_SYS_TABLES`, `INNODB_TABLES` on MySQL 8; `SPACE = 0`).
//!
//! `information_schema.TABLES` lists only tables the account holds a
//! privilege on. Without one on every table (`SHOW VIEW` is the least), a
//! schema whose tables it cannot all see is reported hidden rather than
//! sized short: some of its InnoDB tables are missing from the list, or it
//! lists no table although the account sees every database (and so may
//! see schemas it holds nothing on).

use std::collections::{BTreeMap, BTreeSet};

use super::columns::{size_at, text_at};
use super::error::map_error;
use super::{decode_filename, Flavor, MysqlConnection};
use crate::adapters::Error;

/// Engines whose tables keep no data of their own in local files: in
/// memory, virtual, remote, or (`MRG_MyISAM`) a view of other tables,
/// which are counted themselves.
const NOT_ON_DISK: [&str; 9] = [
    "MEMORY",
    "PERFORMANCE_SCHEMA",
    "BLACKHOLE",
    "SEQUENCE",
    "FEDERATED",
    "MRG_MYISAM",
    "SPIDER",
    "CONNECT",
    "S3",
];

/// Names bound per statement, well below the servers' placeholder limit.
const CHUNK: usize = 500;

/// The part of each schema's size read from `information_schema.TABLES`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct TablesPart {
    /// Bytes by schema, for every schema with at least one table sized here.
    pub bytes: BTreeMap<String, i64>,
    /// Schemas whose tables the account cannot all see.
    pub hidden: BTreeSet<String>,
}

/// Tables by schema.
type Tables = BTreeMap<String, BTreeSet<String>>;

impl MysqlConnection {
    /// The tables part of each of `schemas`; `sees_every_table` is whether
    /// the account holds a privilege on every table.
    pub(super) async fn table_bytes(
        &mut self,
        schemas: &[String],
        sees_every_table: bool,
    ) -> Result<TablesPart, Error> {
        let wanted: BTreeSet<&str> = schemas.iter().map(String::as_str).collect();
        let (visible, engines) = self.visible_tables(schemas).await?;
        let dictionary = self.innodb_dictionary(!sees_every_table).await?;
        let in_system: Tables = dictionary.iter().filter(|(_, _, space)| *space == 0).fold(
            Tables::new(),
            |mut t, (schema, table, _)| {
                t.entry(schema.clone()).or_default().insert(table.clone());
                t
            },
        );
        let pairs = to_measure(&engines, &in_system, &visible);
        let mut part = TablesPart {
            bytes: self.lengths(&pairs).await?,
            hidden: BTreeSet::new(),
        };
        if !sees_every_table {
            let innodb = dictionary
                .iter()
                .filter(|(s, _, _)| wanted.contains(s.as_str()));
            let innodb = innodb.fold(Tables::new(), |mut t, (schema, table, _)| {
                t.entry(schema.clone()).or_default().insert(table.clone());
                t
            });
            let sees_all = self.account().await?.sees_every_database();
            part.hidden = hidden_schemas(schemas, &visible, &innodb, sees_all);
        }
        Ok(part)
    }

    /// The base tables of `schemas` the account sees, and the engine of
    /// each: read from the table definitions, no table opened.
    async fn visible_tables(
        &mut self,
        schemas: &[String],
    ) -> Result<(Tables, BTreeMap<(String, String), String>), Error> {
        let mut visible = Tables::new();
        let mut engines = BTreeMap::new();
        for chunk in schemas.chunks(CHUNK) {
            let sql = format!(
                "SELECT TABLE_SCHEMA, TABLE_NAME, ENGINE FROM information_schema.TABLES \
                 WHERE TABLE_SCHEMA IN ({}) AND TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED')",
                placeholders(chunk.len(), "?")
            );
            let mut query = sqlx::query(&sql);
            for schema in chunk {
                query = query.bind(schema);
            }
            let rows = query.fetch_all(&mut self.conn).await.map_err(map_error)?;
            for row in &rows {
                let (Some(schema), Some(table)) = (text_at(row, 0), text_at(row, 1)) else {
                    continue;
                };
                if let Some(engine) = text_at(row, 2) {
                    engines.insert((schema.clone(), table.clone()), engine);
                }
                visible.entry(schema).or_default().insert(table);
            }
        }
        Ok((visible, engines))
    }

    /// InnoDB's tables as `(schema, table, space)`, names decoded: all of
    /// them, or (`all` false) only those in the system tablespace.
    async fn innodb_dictionary(&mut self, all: bool) -> Result<Vec<(String, String, i64)>, Error> {
        let view = match self.flavor {
            Flavor::Mysql8 => "INNODB_TABLES",
            Flavor::MariaDb | Flavor::MysqlLegacy => "INNODB_SYS_TABLES",
        };
        let filter = if all { "" } else { " WHERE SPACE = 0" };
        let sql = format!("SELECT NAME, SPACE FROM information_schema.{view}{filter}");
        let rows = sqlx::query(&sql)
            .fetch_all(&mut self.conn)
            .await
            .map_err(map_error)?;
        Ok(rows
            .iter()
            .filter_map(|row| {
                let (schema, table) = dictionary_name(&text_at(row, 0)?)?;
                Some((schema, table, size_at(row, 1)?))
            })
            .collect())
    }

    /// `DATA_LENGTH + INDEX_LENGTH` of each of `pairs`, summed by schema;
    /// each schema named gets an entry, even at 0 bytes.
    async fn lengths(
        &mut self,
        pairs: &[(String, String)],
    ) -> Result<BTreeMap<String, i64>, Error> {
        let mut bytes = BTreeMap::new();
        for chunk in pairs.chunks(CHUNK) {
            let sql = format!(
                "SELECT TABLE_SCHEMA, DATA_LENGTH, INDEX_LENGTH FROM information_schema.TABLES \
                 WHERE (TABLE_SCHEMA, TABLE_NAME) IN ({})",
                placeholders(chunk.len(), "(?, ?)")
            );
            let mut query = sqlx::query(&sql);
            for (schema, table) in chunk {
                query = query.bind(schema).bind(table);
            }
            let rows = query.fetch_all(&mut self.conn).await.map_err(map_error)?;
            for row in &rows {
                let Some(schema) = text_at(row, 0) else {
                    continue;
                };
                let length = [size_at(row, 1), size_at(row, 2)]
                    .into_iter()
                    .map(|n| n.unwrap_or(0).max(0))
                    .fold(0_i64, i64::saturating_add);
                let total: &mut i64 = bytes.entry(schema).or_insert(0);
                *total = total.saturating_add(length);
            }
        }
        Ok(bytes)
    }
}

/// `n` copies of `one`, comma-separated.
fn placeholders(n: usize, one: &str) -> String {
    vec![one; n].join(", ")
}

/// The visible tables that need their lengths read: those of an engine
/// with data on disk other than InnoDB, and InnoDB ones in the system
/// tablespace. Sorted, so statements are the same from run to run.
fn to_measure(
    engines: &BTreeMap<(String, String), String>,
    in_system: &Tables,
    visible: &Tables,
) -> Vec<(String, String)> {
    let mut pairs: BTreeSet<(String, String)> = engines
        .iter()
        .filter(|(_, engine)| outside_tablespaces(engine))
        .map(|(key, _)| key.clone())
        .collect();
    for (schema, tables) in in_system {
        let seen = visible.get(schema);
        for table in tables
            .iter()
            .filter(|t| seen.is_some_and(|v| v.contains(*t)))
        {
            pairs.insert((schema.clone(), table.clone()));
        }
    }
    pairs.into_iter().collect()
}

/// Whether a table of `engine` keeps data in local files of its own that
/// the InnoDB tablespace view does not show.
fn outside_tablespaces(engine: &str) -> bool {
    !engine.eq_ignore_ascii_case("InnoDB")
        && !NOT_ON_DISK.iter().any(|e| e.eq_ignore_ascii_case(engine))
}

/// A dictionary name (`db/table`, `db/table#P#p0`, filename-encoded) as
/// `(schema, table)`; `None` for InnoDB's own tables (no `/`), an ALTER's
/// intermediate `#sql…` table and full-text index tables (`FTS_…`), which
/// `information_schema.TABLES` never lists. A literal `#` in a name is
/// encoded (`@0023`), so a raw `#` starts a partition suffix.
fn dictionary_name(raw: &str) -> Option<(String, String)> {
    let (schema, table) = raw.split_once('/')?;
    let table = table.split('#').next().unwrap_or_default();
    if schema.is_empty() || table.is_empty() || is_fulltext_table(table) {
        return None;
    }
    Some((decode_filename(schema), decode_filename(table)))
}

/// `FTS_<16 hex digits>_…`: an auxiliary table of a full-text index.
fn is_fulltext_table(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("FTS_") else {
        return false;
    };
    let bytes = rest.as_bytes();
    bytes.len() > 17 && bytes[..16].iter().all(u8::is_ascii_hexdigit) && bytes[16] == b'_'
}

/// The schemas the account cannot see every table of: an InnoDB table of
/// theirs is missing from what it sees, or it sees no table of theirs while
/// it sees every database (so nothing says it holds anything on them).
fn hidden_schemas(
    schemas: &[String],
    visible: &Tables,
    innodb: &Tables,
    sees_every_database: bool,
) -> BTreeSet<String> {
    let none = BTreeSet::new();
    schemas
        .iter()
        .filter(|schema| {
            let seen = visible.get(*schema).unwrap_or(&none);
            let known = innodb.get(*schema).unwrap_or(&none);
            !known.is_subset(seen) || (seen.is_empty() && sees_every_database)
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables(entries: &[(&str, &[&str])]) -> Tables {
        entries
            .iter()
            .map(|(s, ts)| (s.to_string(), ts.iter().map(|t| t.to_string()).collect()))
            .collect()
    }

    #[test]
    fn dictionary_names() {
        fn check(raw: &str, expected: Option<(&str, &str)>) {
            let got = dictionary_name(raw);
            let got = got.as_ref().map(|(s, t)| (s.as_str(), t.as_str()));
            assert_eq!(got, expected, "{raw}");
        }
        check("shop/orders", Some(("shop", "orders")));
        check("shop/orders#P#p0", Some(("shop", "orders")));
        check("shop/orders#p#p1#sp#s0", Some(("shop", "orders")));
        check("test@002d01/a@0023b", Some(("test-01", "a#b")));
        check("shop/#sql-ib123", None);
        check("shop/FTS_00000000000004d2_CONFIG", None);
        check("shop/FTS_00000000000004d2_00000000000004d5_INDEX_1", None);
        check("shop/FTS_notes", Some(("shop", "FTS_notes")));
        check("SYS_FOREIGN", None);
        check("/t", None);
    }

    #[test]
    fn which_engines_are_sized_from_tables() {
        for engine in ["MyISAM", "Aria", "ARCHIVE", "CSV", "ROCKSDB", "ColumnStore"] {
            assert!(outside_tablespaces(engine), "{engine}");
        }
        for engine in [
            "InnoDB",
            "innodb",
            "MEMORY",
            "SEQUENCE",
            "MRG_MyISAM",
            "FEDERATED",
        ] {
            assert!(!outside_tablespaces(engine), "{engine}");
        }
    }

    #[test]
    fn what_needs_lengths() {
        let engines: BTreeMap<(String, String), String> = [
            ("a", "inno", "InnoDB"),
            ("a", "my", "MyISAM"),
            ("a", "mem", "MEMORY"),
            ("a", "sys", "InnoDB"),
            ("b", "ar", "Aria"),
        ]
        .iter()
        .map(|(s, t, e)| ((s.to_string(), t.to_string()), e.to_string()))
        .collect();
        let visible = tables(&[("a", &["inno", "my", "mem", "sys"]), ("b", &["ar"])]);
        // `c.hidden` is in the system tablespace but not visible: it cannot
        // be sized here (the schema is then reported hidden).
        let in_system = tables(&[("a", &["sys"]), ("c", &["hidden"])]);
        let got = to_measure(&engines, &in_system, &visible);
        let got: Vec<(&str, &str)> = got.iter().map(|(s, t)| (s.as_str(), t.as_str())).collect();
        assert_eq!(got, [("a", "my"), ("a", "sys"), ("b", "ar")]);
    }

    #[test]
    fn hidden_schemas_table() {
        let schemas: Vec<String> = ["granted", "revoked", "empty", "myisam_only"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let visible = tables(&[("granted", &["t", "m"]), ("myisam_only", &["m"])]);
        let innodb = tables(&[("granted", &["t"]), ("revoked", &["t"])]);
        let names = |h: BTreeSet<String>| h.into_iter().collect::<Vec<_>>();
        // Listing only what it holds privileges on: an empty schema is one
        // it holds something on, so it is empty indeed.
        assert_eq!(
            names(hidden_schemas(&schemas, &visible, &innodb, false)),
            ["revoked"]
        );
        // Listing every database: an empty list proves nothing.
        assert_eq!(
            names(hidden_schemas(&schemas, &visible, &innodb, true)),
            ["empty", "revoked"]
        );
    }

    #[test]
    fn placeholders_table() {
        assert_eq!(placeholders(1, "?"), "?");
        assert_eq!(placeholders(3, "?"), "?, ?, ?");
        assert_eq!(placeholders(2, "(?, ?)"), "(?, ?), (?, ?)");
    }
}
