//! Adapters to the monitored database engines.
//!
//! One file per engine. Every session is read-only, with connect, statement
//! and lock timeouts; no SQL is built from untrusted strings (names travel as
//! bind parameters, and identifiers, where unavoidable, are quoted).
//!
//! Besides inventory and sizes, a session can describe itself for a `probe`
//! job ([`Connection::server_info`], [`Connection::privileges`]), so that an
//! operator can vet a monitoring account before its first nightly run.

pub mod mysql;
pub mod postgres;

use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::SecretString;

use crate::domain::DbType;
use crate::message::ErrorClass;

/// Everything needed to open a session on one instance.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub host: String,
    pub port: u16,
    pub username: String,
    pub password: SecretString,
    /// Database to connect to; engine default when `None`
    /// (`mysql` for MySQL, `postgres` for PostgreSQL).
    pub database: Option<String>,
    pub connect_timeout: Duration,
    pub statement_timeout: Duration,
    pub lock_timeout: Duration,
}

/// One database as listed by the instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseItem {
    pub name: String,
    pub is_system: bool,
}

/// The size of one database, in whole MiB with the engine's rounding rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseSize {
    pub name: String,
    pub size_mb: i64,
    pub data_size_mb: Option<i64>,
    pub log_size_mb: Option<i64>,
    pub collected_at: DateTime<Utc>,
}

/// Which server answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServerFlavor {
    Mysql,
    Mariadb,
    Postgresql,
}

/// What the server says about itself and the session.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ServerInfo {
    pub flavor: ServerFlavor,
    /// The version string as the server reports it: MySQL `VERSION()`
    /// (`10.11.19-MariaDB-0+deb12u1`), PostgreSQL `server_version`
    /// (`15.19 (Debian 15.19-0+deb12u1)`).
    pub version: String,
    /// Seconds since the server started; `None` when the account may not
    /// read it.
    pub uptime_seconds: Option<u64>,
    /// The server accepts no writes: a replica or hot standby (PostgreSQL
    /// `pg_is_in_recovery()`), or MySQL `@@global.read_only` (which
    /// `super_read_only` implies). Our own session is always read-only by
    /// design; this is about the server.
    pub read_only: bool,
    /// The account as the server sees it: MySQL `CURRENT_USER()` (`mon@%`),
    /// PostgreSQL `current_user`.
    pub account: String,
}

/// One privilege dbfleet needs, and whether the account holds it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PrivilegeCheck {
    /// `PROCESS`, `SHOW DATABASES`, `CONNECT`, `pg_read_all_stats`.
    pub privilege: String,
    /// The database it applies to (`CONNECT`); `None` for global privileges
    /// and roles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    pub granted: bool,
    /// Why dbfleet needs it, in a few words.
    pub needed_for: String,
    /// The statement that adds it, ready to paste, identifiers quoted for
    /// the engine: `GRANT PROCESS ON *.* TO 'mon'@'%';`,
    /// `GRANT CONNECT ON DATABASE "locked" TO "mon";`.
    pub grant: String,
}

/// A failure talking to an instance. The variant decides the error class of
/// the failed job; messages never contain the password.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot connect: {0}")]
    Connect(String),
    #[error("authentication failed: {0}")]
    Auth(String),
    #[error("query failed: {0}")]
    Query(String),
    /// The account lacks a privilege; the text names the grant that adds
    /// it whenever the adapter can tell which.
    #[error("permission denied: {0}")]
    Permission(String),
    #[error("timed out: {0}")]
    Timeout(String),
    #[error("unsupported: {0}")]
    Unsupported(String),
}

impl Error {
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::Connect(_) => ErrorClass::Connect,
            Error::Auth(_) => ErrorClass::Auth,
            Error::Query(_) => ErrorClass::Query,
            Error::Permission(_) => ErrorClass::Permission,
            Error::Timeout(_) => ErrorClass::Timeout,
            Error::Unsupported(_) => ErrorClass::Unsupported,
        }
    }
}

/// An open session on one instance.
pub enum Connection {
    Mysql(mysql::MysqlConnection),
    Postgres(postgres::PostgresConnection),
}

impl Connection {
    pub async fn connect(db_type: DbType, options: &ConnectOptions) -> Result<Self, Error> {
        match db_type {
            DbType::Mysql => mysql::MysqlConnection::connect(options)
                .await
                .map(Connection::Mysql),
            DbType::Postgresql => postgres::PostgresConnection::connect(options)
                .await
                .map(Connection::Postgres),
        }
    }

    /// Every database of the instance with its system flag.
    pub async fn fetch_inventory(&mut self) -> Result<Vec<DatabaseItem>, Error> {
        match self {
            Connection::Mysql(c) => c.fetch_inventory().await,
            Connection::Postgres(c) => c.fetch_inventory().await,
        }
    }

    /// Sizes of the `targets` databases (exact, case-sensitive names). An empty
    /// target list returns an empty list without querying.
    pub async fn fetch_capacity(&mut self, targets: &[String]) -> Result<Vec<DatabaseSize>, Error> {
        if targets.is_empty() {
            return Ok(Vec::new());
        }
        match self {
            Connection::Mysql(c) => c.fetch_capacity(targets).await,
            Connection::Postgres(c) => c.fetch_capacity(targets).await,
        }
    }

    /// Flavour, version, uptime and read-only state of the server, and the
    /// account this session runs as.
    pub async fn server_info(&mut self) -> Result<ServerInfo, Error> {
        match self {
            Connection::Mysql(c) => c.server_info().await,
            Connection::Postgres(c) => c.server_info().await,
        }
    }

    /// Every privilege dbfleet needs on this engine, granted or not.
    /// `targets` are the databases a capacity sync would size (after
    /// filters); only PostgreSQL uses them, for one `CONNECT` check each.
    /// The engine files say how each check is decided.
    pub async fn privileges(&mut self, targets: &[String]) -> Result<Vec<PrivilegeCheck>, Error> {
        match self {
            Connection::Mysql(c) => c.privileges().await,
            Connection::Postgres(c) => c.privileges(targets).await,
        }
    }

    pub async fn close(self) {
        match self {
            Connection::Mysql(c) => c.close().await,
            Connection::Postgres(c) => c.close().await,
        }
    }
}
