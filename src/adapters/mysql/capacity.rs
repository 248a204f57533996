//! The space each MySQL or MariaDB schema really uses: its InnoDB
//! tablespace files, plus its tables those files do not hold (`tables.rs`).
//!
//! Tablespace sizes come from the InnoDB tablespace view rather than
//! `information_schema.TABLES` because summing `DATA_LENGTH` opens every
//! table (slow, and it blocks on metadata locks), while the view reads what
//! the storage engine already knows. Tablespace names are on-disk names, so
//! they carry MySQL's filename encoding and are decoded back to database
//! names before they are matched against the targets.
//!
//! Reading the view needs `PROCESS`. Without it no schema can be sized in a
//! way comparable from day to day, so every target is reported as not
//! measured, naming that grant (the view's own refusal, 1227, is kept:
//! trying the other view's name would only add "unknown table").
//!
//! Each target gets a size or a reason: dropped since it was listed (no
//! longer in `SHOW DATABASES`), or its tables hidden from the account.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use super::columns::{size_at, text_at};
use super::error::{code, map_error};
use super::probe::error_number;
use super::tables::TablesPart;
use super::{decode_filename, show_databases, MysqlConnection};
use crate::adapters::{Capacity, DatabaseSize, Error, SizeMethod, Unmeasured, UnmeasuredReason};

const MIB: i64 = 1024 * 1024;

impl MysqlConnection {
    /// A size or a reason for each of `targets`; see the module docs.
    pub async fn fetch_capacity(&mut self, targets: &[String]) -> Result<Capacity, Error> {
        let collected_at = Utc::now();
        let targets = unique(targets);
        let account = self.account().await?;
        let tablespaces = match self.tablespace_bytes().await {
            Ok(bytes) => bytes,
            Err(Error::Permission(refused)) => {
                let grant = account.grant("PROCESS");
                return Ok(all_denied(&targets, &refused, &grant));
            }
            Err(e) => return Err(e),
        };
        let present: BTreeSet<String> = show_databases(&mut self.conn).await?.into_iter().collect();
        let live: Vec<String> = targets
            .iter()
            .filter(|t| present.contains(*t))
            .cloned()
            .collect();
        let tables = self.table_bytes(&live, account.sees_every_table()).await?;
        let found = Found {
            present: &present,
            tablespaces: &tablespaces,
            tables: &tables,
        };
        Ok(compose(
            &targets,
            &found,
            &account.grant("SHOW VIEW"),
            collected_at,
        ))
    }

    /// Tablespace bytes by schema, from the first view of the flavour that
    /// has rows. The account lacking `PROCESS` is [`Error::Permission`].
    async fn tablespace_bytes(&mut self) -> Result<BTreeMap<String, i64>, Error> {
        let mut answered = false;
        let mut last_error = None;
        for view in self.flavor.tablespace_views() {
            let sql = format!("SELECT NAME, FILE_SIZE FROM information_schema.{view}");
            match sqlx::query(&sql).fetch_all(&mut self.conn).await {
                Ok(rows) => {
                    answered = true;
                    let rows = rows
                        .iter()
                        .filter_map(|row| Some((text_at(row, 0)?, size_at(row, 1))));
                    let bytes = aggregate_tablespaces(rows);
                    if !bytes.is_empty() {
                        return Ok(bytes);
                    }
                    tracing::debug!(view, "tablespace view returned no rows");
                }
                Err(e) if error_number(&e) == Some(code::UNKNOWN_TABLE) => {
                    tracing::debug!(view, error = %e, "no such tablespace view");
                    last_error = Some(map_error(e));
                }
                Err(e) => return Err(map_error(e)),
            }
        }
        match (answered, last_error) {
            (false, Some(e)) => Err(e),
            _ => Ok(BTreeMap::new()),
        }
    }
}

/// What the server says about the targets.
struct Found<'a> {
    /// What `SHOW DATABASES` lists now.
    present: &'a BTreeSet<String>,
    tablespaces: &'a BTreeMap<String, i64>,
    tables: &'a TablesPart,
}

fn unique(targets: &[String]) -> Vec<String> {
    let mut seen = BTreeSet::new();
    targets
        .iter()
        .filter(|t| seen.insert(t.as_str()))
        .cloned()
        .collect()
}

/// Every target not measured for lack of `PROCESS`.
fn all_denied(targets: &[String], refused: &str, grant: &str) -> Capacity {
    let detail = format!(
        "the account lacks PROCESS, which reading InnoDB tablespace sizes needs \
         ({refused}): {grant}"
    );
    Capacity {
        sizes: Vec::new(),
        unmeasured: targets
            .iter()
            .map(|name| Unmeasured {
                name: name.clone(),
                reason: UnmeasuredReason::Permission,
                detail: detail.clone(),
                grant: Some(grant.to_string()),
            })
            .collect(),
    }
}

/// A size or a reason for each target. `show_view` is the grant that lets
/// the account see every table.
fn compose(
    targets: &[String],
    found: &Found<'_>,
    show_view: &str,
    collected_at: DateTime<Utc>,
) -> Capacity {
    let mut capacity = Capacity::default();
    for name in targets {
        if !found.present.contains(name) {
            capacity.unmeasured.push(Unmeasured {
                name: name.clone(),
                reason: UnmeasuredReason::Dropped,
                detail: format!("database `{name}` no longer exists"),
                grant: None,
            });
        } else if found.tables.hidden.contains(name) {
            capacity.unmeasured.push(Unmeasured {
                name: name.clone(),
                reason: UnmeasuredReason::Permission,
                detail: format!(
                    "the account cannot see every table of `{name}` in \
                     information_schema.TABLES, so its tables outside InnoDB cannot be \
                     sized: {show_view}"
                ),
                grant: Some(show_view.to_string()),
            });
        } else {
            capacity.sizes.push(size_of(name, found, collected_at));
        }
    }
    capacity
}

fn size_of(name: &str, found: &Found<'_>, collected_at: DateTime<Utc>) -> DatabaseSize {
    let tablespace = found.tablespaces.get(name);
    let tables = found.tables.bytes.get(name);
    let method = match (tablespace, tables) {
        (Some(_), Some(_)) => SizeMethod::TablespaceAndTables,
        (None, Some(_)) => SizeMethod::Tables,
        (_, None) => SizeMethod::Tablespace,
    };
    let bytes = tablespace
        .copied()
        .unwrap_or(0)
        .saturating_add(tables.copied().unwrap_or(0));
    let size_mb = bytes_to_mib(bytes);
    DatabaseSize {
        name: name.to_string(),
        size_mb,
        data_size_mb: Some(size_mb),
        log_size_mb: None,
        method,
        collected_at,
    }
}

/// Sums tablespace file sizes per database. The database is the part of the
/// tablespace name before the first `/` (`db/table`, `db/table#P#p0`); names
/// without a `/` (system, undo, general tablespaces) stand for themselves
/// and never match a user database. Rows without a usable size are skipped.
fn aggregate_tablespaces(
    rows: impl IntoIterator<Item = (String, Option<i64>)>,
) -> BTreeMap<String, i64> {
    let mut bytes_by_db = BTreeMap::new();
    for (name, size) in rows {
        let Some(size) = size else { continue };
        // On-disk names escape white space (`@0020`), so raw white space
        // here is noise, not part of a name.
        let schema = name.split('/').next().unwrap_or_default().trim();
        if schema.is_empty() {
            continue;
        }
        let total: &mut i64 = bytes_by_db.entry(decode_filename(schema)).or_insert(0);
        *total = total.saturating_add(size.max(0));
    }
    bytes_by_db
}

/// Whole MiB, rounded up so that a database holding anything at all never
/// shows as empty.
fn bytes_to_mib(bytes: i64) -> i64 {
    if bytes <= 0 {
        return 0;
    }
    let whole = bytes / MIB + i64::from(bytes % MIB != 0);
    whole.max(1)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn bytes_to_mib_table() {
        fn check(bytes: i64, expected: i64) {
            assert_eq!(bytes_to_mib(bytes), expected, "bytes {bytes}");
        }
        check(i64::MIN, 0);
        check(-1, 0);
        check(0, 0);
        check(1, 1);
        check(MIB - 1, 1);
        check(MIB, 1);
        check(MIB + 1, 2);
        check(2 * MIB, 2);
        check(98_304, 1);
        check(10 * MIB + 5, 11);
        check(i64::MAX, i64::MAX / MIB + 1);
    }

    #[test]
    fn aggregate_tablespaces_table() {
        fn check(rows: &[(&str, Option<i64>)], expected: &[(&str, i64)]) {
            let rows = rows.iter().map(|(n, s)| (n.to_string(), *s));
            let got = aggregate_tablespaces(rows);
            let expected: BTreeMap<String, i64> =
                expected.iter().map(|(n, s)| (n.to_string(), *s)).collect();
            assert_eq!(got, expected);
        }
        check(&[], &[]);
        check(
            &[("shop/orders", Some(100)), ("shop/items", Some(50))],
            &[("shop", 150)],
        );
        check(&[("innodb_system", Some(12))], &[("innodb_system", 12)]);
        check(
            &[("test@002d01/t", Some(10)), ("test@002d01/u#P#p0", Some(5))],
            &[("test-01", 15)],
        );
        check(&[("a/b/c", Some(7))], &[("a", 7)]);
        // NULL or unusable sizes drop the row, not the database.
        check(&[("a/x", None), ("a/y", Some(3))], &[("a", 3)]);
        check(&[("a/x", None)], &[]);
        check(&[("a/x", Some(-100)), ("a/y", Some(3))], &[("a", 3)]);
        check(&[("/x", Some(3)), ("  /y", Some(4))], &[]);
        check(
            &[("a/x", Some(i64::MAX)), ("a/y", Some(1))],
            &[("a", i64::MAX)],
        );
        // Two encodings of one name add up under the decoded name.
        check(
            &[("caf@0p/t", Some(1)), ("caf@00e9/u", Some(2))],
            &[("café", 3)],
        );
    }

    fn map(entries: &[(&str, i64)]) -> BTreeMap<String, i64> {
        entries.iter().map(|(n, b)| (n.to_string(), *b)).collect()
    }

    #[test]
    fn each_target_gets_a_size_or_a_reason() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let targets = names(&["inno", "legacy", "mixed", "empty", "hidden", "gone"]);
        let present: BTreeSet<String> = names(&["inno", "legacy", "mixed", "empty", "hidden"])
            .into_iter()
            .collect();
        let tablespaces = map(&[("inno", 3 * MIB), ("mixed", MIB), ("hidden", MIB)]);
        let tables = TablesPart {
            bytes: map(&[("legacy", 16 * MIB + 1), ("mixed", 1)]),
            hidden: ["hidden".to_string()].into(),
        };
        let found = Found {
            present: &present,
            tablespaces: &tablespaces,
            tables: &tables,
        };
        let c = compose(
            &targets,
            &found,
            "GRANT SHOW VIEW ON *.* TO 'm'@'%';",
            Utc::now(),
        );
        let sizes: Vec<_> = c
            .sizes
            .iter()
            .map(|s| (s.name.as_str(), s.size_mb, s.method.as_str()))
            .collect();
        assert_eq!(
            sizes,
            [
                ("inno", 3, "tablespace"),
                ("legacy", 17, "tables"),
                ("mixed", 2, "tablespace+tables"),
                ("empty", 0, "tablespace"),
            ]
        );
        let reasons: Vec<_> = c
            .unmeasured
            .iter()
            .map(|u| (u.name.as_str(), u.reason, u.grant.as_deref()))
            .collect();
        assert_eq!(
            reasons,
            [
                (
                    "hidden",
                    UnmeasuredReason::Permission,
                    Some("GRANT SHOW VIEW ON *.* TO 'm'@'%';")
                ),
                ("gone", UnmeasuredReason::Dropped, None),
            ]
        );
    }

    #[test]
    fn without_process_every_target_names_the_grant() {
        let targets = vec!["a".to_string(), "b".to_string()];
        let c = all_denied(
            &targets,
            "1227 (42000): Access denied",
            "GRANT PROCESS ON *.* TO 'm'@'%';",
        );
        assert!(c.sizes.is_empty());
        assert_eq!(c.unmeasured.len(), 2);
        for u in &c.unmeasured {
            assert_eq!(u.reason, UnmeasuredReason::Permission);
            assert!(
                u.detail.contains("GRANT PROCESS ON *.* TO 'm'@'%';"),
                "{u:?}"
            );
            assert!(u.detail.contains("1227"), "{u:?}");
        }
    }
}
