//! PostgreSQL sessions: inventory from `pg_database`, sizes from
//! `pg_database_size`.
//!
//! The read-only mode and the timeouts travel as startup options, so they
//! are in force before the first statement runs and no `SET` can be
//! forgotten on a reconnect.
//!
//! `pg_database` lists every database to every role, so the inventory is
//! always the whole catalogue; what a role may not do is size some of them
//! (see `capacity.rs`). `probe.rs` describes the server and the account for
//! a `probe` job, and holds the grant statements both report.

mod capacity;
mod probe;
mod table_sizes;

use std::time::Duration;

use secrecy::ExposeSecret;
use sqlx::postgres::{PgConnectOptions, PgSslMode};
use sqlx::{ConnectOptions as _, Connection as _, Row as _};

use super::{ConnectOptions, DatabaseItem, Error, Listing};
use crate::tls::{TlsMode, TlsSettings};

/// Database used when the instance names none: it exists on every cluster
/// and anyone allowed to log in can normally connect to it.
const DEFAULT_DATABASE: &str = "postgres";

/// One read-only session on a PostgreSQL server.
pub struct PostgresConnection {
    conn: sqlx::PgConnection,
}

impl PostgresConnection {
    pub async fn connect(o: &ConnectOptions) -> Result<Self, Error> {
        Self::open(o, true).await
    }

    /// A session that may write: only the target of a data sync needs one.
    pub(crate) async fn connect_writable(o: &ConnectOptions) -> Result<Self, Error> {
        Self::open(o, false).await
    }

    /// The driver's connection, for the data sync statements.
    pub(crate) fn into_inner(self) -> sqlx::PgConnection {
        self.conn
    }

    async fn open(o: &ConnectOptions, read_only: bool) -> Result<Self, Error> {
        // `.pgpass` is not read: credentials come from dbfleet's own store,
        // and a file on a worker must not silently change whom we log in as.
        let mut options = PgConnectOptions::new_without_pgpass()
            .host(&o.host)
            .port(o.port)
            .username(&o.username)
            .database(o.database.as_deref().unwrap_or(DEFAULT_DATABASE))
            .application_name("dbfleet")
            .options([
                (
                    "default_transaction_read_only",
                    if read_only { "on" } else { "off" }.to_string(),
                ),
                ("statement_timeout", millis(o.statement_timeout)),
                ("lock_timeout", millis(o.lock_timeout)),
            ]);
        let password = o.password.expose_secret();
        if !password.is_empty() {
            options = options.password(password);
        }
        options = with_tls(options, &o.tls);

        match tokio::time::timeout(o.connect_timeout, options.connect()).await {
            Ok(result) => result
                .map(|conn| Self { conn })
                .map_err(|e| connect_error(e, o)),
            Err(_) => Err(Error::Timeout(format!(
                "connecting to {}:{} took longer than {:?}",
                o.host, o.port, o.connect_timeout
            ))),
        }
    }

    /// Every database, templates and databases closed to connections
    /// included: `pg_database_size` needs no connection to a database, so a
    /// closed one is still sized where the role may, and it exists all the
    /// same. Templates and the maintenance database are flagged system.
    pub async fn fetch_inventory(&mut self) -> Result<Listing, Error> {
        let rows =
            sqlx::query("SELECT datname::text, datistemplate FROM pg_database ORDER BY datname")
                .fetch_all(&mut self.conn)
                .await
                .map_err(map_error)?;
        let mut databases = Vec::with_capacity(rows.len());
        for row in rows {
            let name: String = row.try_get(0).map_err(map_error)?;
            let is_template: bool = row.try_get(1).map_err(map_error)?;
            databases.push(DatabaseItem {
                is_system: is_template || name == DEFAULT_DATABASE,
                name,
            });
        }
        Ok(Listing {
            databases,
            complete: true,
            grant: None,
        })
    }

    pub async fn close(self) {
        let _ = self.conn.close().await;
    }
}

/// The instance's TLS settings in libpq's terms; the files are read by the
/// driver as it connects, never here.
fn with_tls(options: PgConnectOptions, tls: &TlsSettings) -> PgConnectOptions {
    let mut options = options.ssl_mode(match tls.mode {
        TlsMode::Disable => PgSslMode::Disable,
        TlsMode::Prefer => PgSslMode::Prefer,
        TlsMode::Require => PgSslMode::Require,
        TlsMode::VerifyCa => PgSslMode::VerifyCa,
        TlsMode::VerifyFull => PgSslMode::VerifyFull,
    });
    if let Some(ca) = &tls.ca_file {
        options = options.ssl_root_cert(ca);
    }
    if let (Some(cert), Some(key)) = (&tls.cert_file, &tls.key_file) {
        options = options.ssl_client_cert(cert).ssl_client_key(key);
    }
    options
}

/// A startup option value in milliseconds; a non-zero timeout below one
/// millisecond must not become `0`, which disables the limit.
fn millis(timeout: Duration) -> String {
    let ms = timeout.as_millis();
    if ms == 0 && !timeout.is_zero() {
        "1".to_string()
    } else {
        ms.to_string()
    }
}

/// SQLSTATE `insufficient_privilege`.
const INSUFFICIENT_PRIVILEGE: &str = "42501";

/// A failed connect; refused a database it may not `CONNECT` to (the
/// instance's `database` setting), the error names the grant.
fn connect_error(e: sqlx::Error, o: &ConnectOptions) -> Error {
    if sqlstate(&e).as_deref() != Some(INSUFFICIENT_PRIVILEGE) {
        return map_error(e);
    }
    let database = o.database.as_deref().unwrap_or(DEFAULT_DATABASE);
    Error::Permission(format!(
        "{e}: {} (or connect to another database: the instance's `database` setting)",
        probe::connect_grant(database, &o.username)
    ))
}

fn sqlstate(e: &sqlx::Error) -> Option<String> {
    e.as_database_error()
        .and_then(|db| db.code())
        .map(|code| code.into_owned())
}

/// What a SQLSTATE means for the job's error class.
fn class_of_sqlstate(code: &str) -> fn(String) -> Error {
    match code {
        // invalid_password, invalid_authorization_specification
        "28P01" | "28000" => Error::Auth,
        // insufficient_privilege: the role lacks a grant
        INSUFFICIENT_PRIVILEGE => Error::Permission,
        // query_canceled (statement_timeout), lock_not_available (lock_timeout)
        "57014" | "55P03" => Error::Timeout,
        // invalid_catalog_name: the configured database does not exist, a
        // wrong address as far as the instance record goes
        "3D000" => Error::Connect,
        // too_many_connections, cannot_connect_now, admin/crash shutdown
        "53300" | "57P01" | "57P02" | "57P03" => Error::Connect,
        // connection_exception class
        c if c.starts_with("08") => Error::Connect,
        _ => Error::Query,
    }
}

/// Maps a driver error to the job error class. The driver's messages never
/// contain the password, and the connect options are never formatted.
pub(crate) fn map_error(e: sqlx::Error) -> Error {
    let message = e.to_string();
    match &e {
        sqlx::Error::Database(db) => match db.code() {
            Some(code) => class_of_sqlstate(&code)(message),
            None => Error::Query(message),
        },
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::Configuration(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => Error::Connect(message),
        _ => Error::Query(message),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn sqlstate_classes() {
        fn check(code: &str, expected: &str) {
            let got = class_of_sqlstate(code)(String::new());
            assert_eq!(got.class().as_str(), expected, "sqlstate {code}");
        }
        check("28P01", "auth");
        check("28000", "auth");
        check("57014", "timeout");
        check("55P03", "timeout");
        check("3D000", "connect");
        check("53300", "connect");
        check("57P03", "connect");
        check("08006", "connect");
        check("42P01", "query");
        check("42501", "permission");
        check("XX000", "query");
    }

    #[test]
    fn millis_table() {
        fn check(timeout: Duration, expected: &str) {
            assert_eq!(millis(timeout), expected, "{timeout:?}");
        }
        check(Duration::ZERO, "0");
        check(Duration::from_micros(1), "1");
        check(Duration::from_millis(1500), "1500");
        check(Duration::from_secs(30), "30000");
    }

    #[test]
    fn io_errors_are_connect_errors() {
        let e = map_error(sqlx::Error::Io(std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused,
        )));
        assert!(matches!(e, Error::Connect(_)), "{e:?}");
        let e = map_error(sqlx::Error::RowNotFound);
        assert!(matches!(e, Error::Query(_)), "{e:?}");
    }
}
