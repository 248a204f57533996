//! MySQL and MariaDB sessions: inventory from `SHOW DATABASES`, sizes from
//! the InnoDB tablespace views plus the tables they do not cover.
//!
//! The inventory is whole only when the account sees every database
//! (`account.rs`); the listing says so, and the capacity job deactivates
//! nothing otherwise. Sizes are in `capacity.rs` (tablespace files) and
//! `tables.rs` (what `information_schema.TABLES` adds: other engines and the
//! system tablespace). `probe.rs` describes the server and the account for a
//! `probe` job; `columns.rs` reads column values whatever their declared
//! type; `error.rs` maps driver errors to the job error class.

mod account;
mod capacity;
mod columns;
mod error;
mod filename;
mod probe;
mod table_sizes;
mod tables;

pub(crate) use error::map_error;
pub(crate) use filename::decode_filename;

use std::time::Duration;

use secrecy::ExposeSecret;
use sqlx::mysql::{MySqlConnectOptions, MySqlSslMode};
use sqlx::{ConnectOptions as _, Connection as _};

use self::account::Account;
use self::columns::text_at;
use super::{ConnectOptions, DatabaseItem, Error, Listing};
use crate::tls::{TlsMode, TlsSettings};

/// Databases MySQL and MariaDB create for themselves.
const SYSTEM_DATABASES: [&str; 4] = ["information_schema", "performance_schema", "mysql", "sys"];

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
    /// Read on first use (`account.rs`).
    account: Option<Account>,
}

impl MysqlConnection {
    pub async fn connect(o: &ConnectOptions) -> Result<Self, Error> {
        Self::open(o, true).await
    }

    /// A session that may write: only the target of a data sync needs one.
    pub(crate) async fn connect_writable(o: &ConnectOptions) -> Result<Self, Error> {
        Self::open(o, false).await
    }

    /// The driver's connection, for the data sync statements.
    pub(crate) fn into_inner(self) -> sqlx::MySqlConnection {
        self.conn
    }

    async fn open(o: &ConnectOptions, read_only: bool) -> Result<Self, Error> {
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
        options = with_tls(options, &o.tls);

        let mut conn = match tokio::time::timeout(o.connect_timeout, options.connect()).await {
            Ok(result) => result.map_err(|e| connect_error(e, o.database.as_deref()))?,
            Err(_) => {
                return Err(Error::Timeout(format!(
                    "connecting to {}:{} took longer than {:?}",
                    o.host, o.port, o.connect_timeout
                )))
            }
        };

        match setup_session(&mut conn, o, read_only).await {
            Ok(flavor) => Ok(Self {
                conn,
                flavor,
                account: None,
            }),
            Err(e) => {
                let _ = conn.close().await;
                Err(e)
            }
        }
    }

    /// The databases `SHOW DATABASES` lists, and whether that is all of
    /// them: without a privilege on every database it lists only those the
    /// account was granted something on.
    pub async fn fetch_inventory(&mut self) -> Result<Listing, Error> {
        let names = show_databases(&mut self.conn).await?;
        let account = self.account().await?;
        let complete = account.sees_every_database();
        Ok(Listing {
            databases: names
                .into_iter()
                .map(|name| DatabaseItem {
                    is_system: is_system_database(&name),
                    name,
                })
                .collect(),
            complete,
            grant: (!complete).then(|| account.grant("SHOW DATABASES")),
        })
    }

    pub async fn close(self) {
        let _ = self.conn.close().await;
    }
}

/// A failed connect. Refused the instance's database (1044), the fix is to
/// name none (dbfleet needs no database on these servers) or to grant the
/// account something on it.
/// The instance's TLS settings in the client's `--ssl-mode` terms; the
/// files are read by the driver as it connects, never here.
fn with_tls(options: MySqlConnectOptions, tls: &TlsSettings) -> MySqlConnectOptions {
    let mut options = options.ssl_mode(match tls.mode {
        TlsMode::Disable => MySqlSslMode::Disabled,
        TlsMode::Prefer => MySqlSslMode::Preferred,
        TlsMode::Require => MySqlSslMode::Required,
        TlsMode::VerifyCa => MySqlSslMode::VerifyCa,
        TlsMode::VerifyFull => MySqlSslMode::VerifyIdentity,
    });
    if let Some(ca) = &tls.ca_file {
        options = options.ssl_ca(ca);
    }
    if let (Some(cert), Some(key)) = (&tls.cert_file, &tls.key_file) {
        options = options.ssl_client_cert(cert).ssl_client_key(key);
    }
    options
}

fn connect_error(e: sqlx::Error, database: Option<&str>) -> Error {
    match (map_error(e), database) {
        (Error::Permission(refused), Some(database)) => {
            let grant = refused_account(&refused)
                .map(|account| {
                    format!(
                        ", or {} on it",
                        grant_on_database("SHOW VIEW", database, account)
                    )
                })
                .unwrap_or_default();
            Error::Permission(format!(
                "{refused} (the instance's `database` setting: dbfleet needs no database on \
                 MySQL or MariaDB; leave it unset{grant})"
            ))
        }
        (other, _) => other,
    }
}

/// The account as the server's "Access denied for user 'mon'@'%' to
/// database …" writes it: `'mon'@'%'`.
fn refused_account(message: &str) -> Option<&str> {
    let (_, rest) = message.split_once("for user ")?;
    let (account, _) = rest.split_once(" to database")?;
    Some(account)
}

/// `GRANT <privilege> ON `<database>`.* TO <account>;`, the database
/// backtick-quoted and its `_` and `%` escaped (they are wildcards there).
fn grant_on_database(privilege: &str, database: &str, account: &str) -> String {
    let escaped = database
        .replace('\\', "\\\\")
        .replace('_', "\\_")
        .replace('%', "\\%")
        .replace('`', "``");
    format!("GRANT {privilege} ON `{escaped}`.* TO {account};")
}

/// Makes the session harmless and bounded, and finds out which server
/// family it talks to.
async fn setup_session(
    conn: &mut sqlx::MySqlConnection,
    o: &ConnectOptions,
    read_only: bool,
) -> Result<Flavor, Error> {
    if read_only {
        execute(conn, "SET SESSION TRANSACTION READ ONLY").await?;
    }
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

pub(super) async fn show_databases(conn: &mut sqlx::MySqlConnection) -> Result<Vec<String>, Error> {
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

fn is_system_database(name: &str) -> bool {
    SYSTEM_DATABASES.contains(&name)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

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
    fn a_refused_database_names_a_grant() {
        let refused = "error returned from database: 1044 (42000): Access denied for user \
                       'mon'@'%' to database 'shop_1'";
        assert_eq!(refused_account(refused), Some("'mon'@'%'"));
        assert_eq!(refused_account("Access denied"), None);
        assert_eq!(
            grant_on_database("SHOW VIEW", "shop_1", "'mon'@'%'"),
            r"GRANT SHOW VIEW ON `shop\_1`.* TO 'mon'@'%';"
        );
        assert_eq!(
            grant_on_database("SHOW VIEW", r"a%b`c\d", "'m'@'h'"),
            r"GRANT SHOW VIEW ON `a\%b``c\\d`.* TO 'm'@'h';"
        );
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
