//! MySQL and MariaDB sessions: inventory from `SHOW DATABASES`, sizes from
//! the InnoDB tablespace views.
//!
//! Sizes come from tablespace files rather than `information_schema.TABLES`
//! because summing `DATA_LENGTH` opens every table (slow, and it blocks on
//! metadata locks), while the tablespace views read what the storage engine
//! already knows. Tablespace names are on-disk names, so they carry MySQL's
//! filename encoding and must be decoded back to database names before they
//! can be matched against the inventory.
//!
//! `probe.rs` describes the server and the account for a `probe` job;
//! `columns.rs` reads column values whatever their declared type;
//! `error.rs` maps driver errors to the job error class.

mod columns;
mod error;
mod filename;
mod probe;

pub(crate) use filename::decode_filename;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::Utc;
use secrecy::ExposeSecret;
use sqlx::mysql::MySqlConnectOptions;
use sqlx::{ConnectOptions as _, Connection as _};

use self::columns::{size_at, text_at};
use self::error::map_error;
use super::{ConnectOptions, DatabaseItem, DatabaseSize, Error};

/// Databases MySQL and MariaDB create for themselves.
const SYSTEM_DATABASES: [&str; 4] = ["information_schema", "performance_schema", "mysql", "sys"];

const MIB: i64 = 1024 * 1024;

/// Which server family answered, because the tablespace view was renamed
/// between releases and the statement timeout variable differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavor {
    MariaDb,
    /// MySQL 8.0 and later.
    Mysql8,
    /// MySQL 5.7 and older.
    MysqlLegacy,
}

impl Flavor {
    fn from_version(version: &str) -> Self {
        if version.to_ascii_lowercase().contains("mariadb") {
            return Flavor::MariaDb;
        }
        let major = version
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|m| m.parse::<u32>().ok())
            .unwrap_or(0);
        if major >= 8 {
            Flavor::Mysql8
        } else {
            Flavor::MysqlLegacy
        }
    }

    /// Views to try, most likely first: MySQL 8 renamed
    /// `INNODB_SYS_TABLESPACES` to `INNODB_TABLESPACES`, MariaDB kept the old
    /// name; trying both survives forks that picked either.
    fn tablespace_views(self) -> [&'static str; 2] {
        match self {
            Flavor::Mysql8 => ["INNODB_TABLESPACES", "INNODB_SYS_TABLESPACES"],
            Flavor::MariaDb | Flavor::MysqlLegacy => {
                ["INNODB_SYS_TABLESPACES", "INNODB_TABLESPACES"]
            }
        }
    }
}

/// One read-only session on a MySQL or MariaDB server.
pub struct MysqlConnection {
    conn: sqlx::MySqlConnection,
    flavor: Flavor,
}

impl MysqlConnection {
    pub async fn connect(o: &ConnectOptions) -> Result<Self, Error> {
        let mut options = MySqlConnectOptions::new()
            .host(&o.host)
            .port(o.port)
            .username(&o.username);
        let password = o.password.expose_secret();
        if !password.is_empty() {
            options = options.password(password);
        }
        // Without an explicit database the session needs no privilege on any
        // particular one: an account limited to its own schemas cannot enter
        // `mysql`, yet may still list and size what it can see.
        if let Some(database) = o.database.as_deref() {
            options = options.database(database);
        }

        let mut conn = match tokio::time::timeout(o.connect_timeout, options.connect()).await {
            Ok(result) => result.map_err(map_error)?,
            Err(_) => {
                return Err(Error::Timeout(format!(
                    "connecting to {}:{} took longer than {:?}",
                    o.host, o.port, o.connect_timeout
                )))
            }
        };

        match setup_session(&mut conn, o).await {
            Ok(flavor) => Ok(Self { conn, flavor }),
            Err(e) => {
                let _ = conn.close().await;
                Err(e)
            }
        }
    }

    pub async fn fetch_inventory(&mut self) -> Result<Vec<DatabaseItem>, Error> {
        let names = show_databases(&mut self.conn).await?;
        Ok(names
            .into_iter()
            .map(|name| DatabaseItem {
                is_system: is_system_database(&name),
                name,
            })
            .collect())
    }

    pub async fn fetch_capacity(&mut self, targets: &[String]) -> Result<Vec<DatabaseSize>, Error> {
        let collected_at = Utc::now();
        let mut bytes_by_db = BTreeMap::new();
        let mut last_error = None;
        for view in self.flavor.tablespace_views() {
            match read_tablespaces(&mut self.conn, view).await {
                Ok(rows) => {
                    bytes_by_db = aggregate_tablespaces(rows);
                    if !bytes_by_db.is_empty() {
                        break;
                    }
                    tracing::debug!(view, "tablespace view returned no rows");
                }
                Err(e) => {
                    tracing::warn!(view, error = %e, "cannot read tablespace view");
                    last_error = Some(e);
                }
            }
        }
        if bytes_by_db.is_empty() {
            return match last_error {
                Some(e) => Err(e),
                None => Ok(Vec::new()),
            };
        }

        // A database whose tables are all outside InnoDB (MyISAM, or no
        // tables at all) has no tablespace; it still exists and weighs
        // nothing as far as InnoDB files go, so it is reported as 0 MiB
        // rather than silently missing.
        match show_databases(&mut self.conn).await {
            Ok(names) => {
                for name in names {
                    bytes_by_db.entry(name).or_insert(0);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot list databases for zero-size placeholders");
            }
        }

        let mut seen = BTreeSet::new();
        let mut sizes = Vec::new();
        let mut missing = Vec::new();
        for target in targets {
            if !seen.insert(target.as_str()) {
                continue;
            }
            match bytes_by_db.get(target) {
                Some(&bytes) => {
                    let size_mb = bytes_to_mib(bytes);
                    sizes.push(DatabaseSize {
                        name: target.clone(),
                        size_mb,
                        data_size_mb: Some(size_mb),
                        log_size_mb: None,
                        collected_at,
                    });
                }
                None => missing.push(target.as_str()),
            }
        }
        if !missing.is_empty() {
            tracing::warn!(
                ?missing,
                "requested databases were not reported by the server"
            );
        }
        Ok(sizes)
    }

    pub async fn close(self) {
        let _ = self.conn.close().await;
    }
}

/// Makes the session harmless and bounded, and finds out which server
/// family it talks to.
async fn setup_session(
    conn: &mut sqlx::MySqlConnection,
    o: &ConnectOptions,
) -> Result<Flavor, Error> {
    execute(conn, "SET SESSION TRANSACTION READ ONLY").await?;
    let lock_seconds = o.lock_timeout.as_secs().max(1);
    execute(
        conn,
        &format!("SET SESSION lock_wait_timeout = {lock_seconds}"),
    )
    .await?;

    let row = sqlx::query("SELECT VERSION()")
        .fetch_one(&mut *conn)
        .await
        .map_err(map_error)?;
    let version = text_at(&row, 0).unwrap_or_default();
    let flavor = Flavor::from_version(&version);
    tracing::debug!(%version, ?flavor, "connected to MySQL-family server");

    let statement = match flavor {
        Flavor::MariaDb => format!(
            "SET SESSION max_statement_time = {}",
            mariadb_statement_seconds(o.statement_timeout)
        ),
        Flavor::Mysql8 | Flavor::MysqlLegacy => format!(
            "SET SESSION max_execution_time = {}",
            mysql_statement_millis(o.statement_timeout)
        ),
    };
    execute(conn, &statement).await?;
    Ok(flavor)
}

/// Runs a statement built only from constants and numbers; the text protocol
/// is used because some `SET` forms cannot be prepared on older servers.
async fn execute(conn: &mut sqlx::MySqlConnection, sql: &str) -> Result<(), Error> {
    // `raw_sql` would defeat rustc's `Send` inference for callers that
    // spawn this future; an argument-less `&str` also runs as a text query.
    sqlx::Executor::execute(&mut *conn, sql)
        .await
        .map(|_| ())
        .map_err(map_error)
}

/// `max_statement_time` is in seconds with a fraction; `0` disables it.
fn mariadb_statement_seconds(timeout: Duration) -> String {
    format!("{:.3}", timeout.as_secs_f64())
}

/// `max_execution_time` is in whole milliseconds; a non-zero timeout below
/// one millisecond must not become `0`, which disables the limit.
fn mysql_statement_millis(timeout: Duration) -> u128 {
    let ms = timeout.as_millis();
    if ms == 0 && !timeout.is_zero() {
        1
    } else {
        ms
    }
}

async fn show_databases(conn: &mut sqlx::MySqlConnection) -> Result<Vec<String>, Error> {
    let rows = sqlx::query("SHOW DATABASES")
        .fetch_all(&mut *conn)
        .await
        .map_err(map_error)?;
    Ok(rows
        .iter()
        .filter_map(|row| text_at(row, 0))
        // Exact names: ` x` and `x` are two databases.
        .filter(|name| !name.is_empty())
        .collect())
}

async fn read_tablespaces(
    conn: &mut sqlx::MySqlConnection,
    view: &'static str,
) -> Result<Vec<(String, Option<i64>)>, Error> {
    let sql = format!("SELECT NAME, FILE_SIZE FROM information_schema.{view}");
    let rows = sqlx::query(&sql)
        .fetch_all(&mut *conn)
        .await
        .map_err(map_error)?;
    Ok(rows
        .iter()
        .filter_map(|row| Some((text_at(row, 0)?, size_at(row, 1))))
        .collect())
}

fn is_system_database(name: &str) -> bool {
    SYSTEM_DATABASES.contains(&name)
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

    #[test]
    fn flavor_table() {
        fn check(version: &str, expected: Flavor) {
            assert_eq!(
                Flavor::from_version(version),
                expected,
                "version {version:?}"
            );
        }
        check("10.11.19-MariaDB-0+deb12u1", Flavor::MariaDb);
        check("5.5.5-10.6.12-MariaDB", Flavor::MariaDb);
        check("11.4.2-mariadb-log", Flavor::MariaDb);
        check("8.0.36", Flavor::Mysql8);
        check("8.4.0-commercial", Flavor::Mysql8);
        check("9.1.0", Flavor::Mysql8);
        check("5.7.44-log", Flavor::MysqlLegacy);
        check("", Flavor::MysqlLegacy);
        assert_eq!(
            Flavor::MariaDb.tablespace_views()[0],
            "INNODB_SYS_TABLESPACES"
        );
        assert_eq!(Flavor::Mysql8.tablespace_views()[0], "INNODB_TABLESPACES");
        assert_eq!(
            Flavor::MysqlLegacy.tablespace_views()[0],
            "INNODB_SYS_TABLESPACES"
        );
    }

    #[test]
    fn statement_timeout_units() {
        assert_eq!(
            mariadb_statement_seconds(Duration::from_millis(1500)),
            "1.500"
        );
        assert_eq!(mariadb_statement_seconds(Duration::ZERO), "0.000");
        assert_eq!(mysql_statement_millis(Duration::from_secs(30)), 30_000);
        assert_eq!(mysql_statement_millis(Duration::from_micros(10)), 1);
        assert_eq!(mysql_statement_millis(Duration::ZERO), 0);
    }

    #[test]
    fn system_databases() {
        for name in ["information_schema", "performance_schema", "mysql", "sys"] {
            assert!(is_system_database(name), "{name}");
        }
        for name in ["test", "MySQL", "sys2", ""] {
            assert!(!is_system_database(name), "{name}");
        }
    }
}
