//! Adapters to the monitored database engines.
//!
//! One file per engine. Every session is read-only, with connect, statement
//! and lock timeouts, except a data sync's target session (`sync/`), the
//! one place dbfleet writes to a database it does not own; no SQL is built
//! from untrusted strings (names travel as bind parameters, and
//! identifiers, where unavoidable, are quoted).
//!
//! Besides inventory and sizes, a session can describe itself for a `probe`
//! job ([`Connection::server_info`], [`Connection::privileges`]), so that an
//! operator can vet a monitoring account before its first nightly run.
//!
//! Least privilege is the normal case, so what an account may not do is
//! reported, never guessed around: a listing says whether it is the whole
//! catalogue ([`Listing::complete`]), a database that cannot be sized is
//! [`Unmeasured`] with its reason while the others are sized, and a missing
//! privilege comes with the statement that grants it.

pub mod mysql;
pub mod postgres;
pub mod sync;
pub mod table_sizes;

use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::SecretString;

use crate::domain::DbType;
use crate::message::ErrorClass;
use crate::tls::TlsSettings;

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
    /// TLS mode and certificate files; read by the driver as it connects.
    pub tls: TlsSettings,
}

impl ConnectOptions {
    /// Each certificate file the driver will read, opened (never read)
    /// first: the driver's own error would not say which file is missing.
    fn check_tls_files(&self) -> Result<(), Error> {
        let files = [
            ("tls_ca_file", &self.tls.ca_file),
            ("tls_cert_file", &self.tls.cert_file),
            ("tls_key_file", &self.tls.key_file),
        ];
        for (key, path) in files {
            let Some(path) = path else { continue };
            if let Err(e) = std::fs::File::open(path) {
                return Err(Error::Connect(format!(
                    "{key} `{}`: {}",
                    path.display(),
                    crate::endpoint::io_cause(&e)
                )));
            }
        }
        Ok(())
    }

    /// A failed connect, reworded when TLS refused the server's
    /// certificate: the host and the reason first (unknown CA, expired,
    /// name mismatch), the driver's own words after; or when the driver
    /// could not use the client certificate files, naming them (never
    /// quoting them). Class `connect`.
    fn tls_refused(&self, engine: DbType, e: Error) -> Error {
        let text = e.detail();
        if let Some(problem) = crate::tls::certificate_problem(text) {
            return Error::Connect(format!(
                "TLS certificate of {}:{} not verified (tls_mode `{}`): {problem}; {text}",
                self.host,
                self.port,
                self.tls.mode.name(engine),
            ));
        }
        match (&self.tls.cert_file, &self.tls.key_file) {
            // The driver's words for files it could not parse name neither.
            (Some(cert), Some(key)) if text.starts_with("error with configuration") => {
                Error::Connect(format!(
                    "{text} (tls_cert_file `{}` and tls_key_file `{}` must be a PEM certificate \
                     and its PEM private key)",
                    cert.display(),
                    key.display()
                ))
            }
            _ => e,
        }
    }
}

/// One database as listed by the instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseItem {
    pub name: String,
    pub is_system: bool,
}

/// What an instance lists, and whether that is all it has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    pub databases: Vec<DatabaseItem>,
    /// The account sees the whole catalogue. When false, a database missing
    /// from `databases` may exist all the same: the account cannot see it.
    pub complete: bool,
    /// When incomplete, the statement that would make it complete.
    pub grant: Option<String>,
}

/// How a size was measured; stored with each row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeMethod {
    /// MySQL/MariaDB: InnoDB tablespace files only.
    Tablespace,
    /// MySQL/MariaDB: data and index length of tables outside the
    /// tablespace files only (other engines, the system tablespace).
    Tables,
    /// MySQL/MariaDB: both.
    TablespaceAndTables,
    /// PostgreSQL: `pg_database_size`.
    DatabaseSize,
}

impl SizeMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            SizeMethod::Tablespace => "tablespace",
            SizeMethod::Tables => "tables",
            SizeMethod::TablespaceAndTables => "tablespace+tables",
            SizeMethod::DatabaseSize => "pg_database_size",
        }
    }
}

/// The size of one database, in whole MiB with the engine's rounding rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseSize {
    pub name: String,
    pub size_mb: i64,
    pub data_size_mb: Option<i64>,
    pub log_size_mb: Option<i64>,
    pub method: SizeMethod,
    pub collected_at: DateTime<Utc>,
}

/// Why a database has no size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum UnmeasuredReason {
    /// The account lacks a privilege to size it.
    Permission,
    /// It no longer exists (dropped while the job ran).
    Dropped,
    /// The account cannot see it, so it could not be looked at; it stays
    /// in the inventory (the account cannot see the whole catalogue).
    NotVisible,
    /// Sizing it failed for another reason (a timeout on that database).
    Error,
}

impl UnmeasuredReason {
    pub fn as_str(self) -> &'static str {
        match self {
            UnmeasuredReason::Permission => "permission",
            UnmeasuredReason::Dropped => "dropped",
            UnmeasuredReason::NotVisible => "not_visible",
            UnmeasuredReason::Error => "error",
        }
    }
}

/// A database that could not be measured, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmeasured {
    pub name: String,
    pub reason: UnmeasuredReason,
    /// For people: what happened to this database.
    pub detail: String,
    /// The statement that would let dbfleet measure it, when that is a
    /// grant.
    pub grant: Option<String>,
}

/// What sizing the targets found: a size for each database that could be
/// measured, a reason for each that could not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capacity {
    pub sizes: Vec<DatabaseSize>,
    pub unmeasured: Vec<Unmeasured>,
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
    /// Equal for two sessions on the same server, whatever address reached
    /// it (see each engine's `server_identity`); `None` when the server
    /// does not tell.
    pub identity: Option<String>,
}

/// The TLS of an encrypted session, as the server reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSession {
    /// `TLSv1.3`.
    pub version: String,
    /// `TLS_AES_256_GCM_SHA384`.
    pub cipher: String,
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
    /// The message without the class's opening words.
    fn detail(&self) -> &str {
        match self {
            Error::Connect(t)
            | Error::Auth(t)
            | Error::Query(t)
            | Error::Permission(t)
            | Error::Timeout(t)
            | Error::Unsupported(t) => t,
        }
    }

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
        options.check_tls_files()?;
        match db_type {
            DbType::Mysql => mysql::MysqlConnection::connect(options)
                .await
                .map(Connection::Mysql),
            DbType::Postgresql => postgres::PostgresConnection::connect(options)
                .await
                .map(Connection::Postgres),
        }
        .map_err(|e| options.tls_refused(db_type, e))
    }

    /// Every database of the instance the account can see, with its system
    /// flag, and whether that is every database there is.
    pub async fn fetch_inventory(&mut self) -> Result<Listing, Error> {
        match self {
            Connection::Mysql(c) => c.fetch_inventory().await,
            Connection::Postgres(c) => c.fetch_inventory().await,
        }
    }

    /// Sizes of the `targets` databases (exact, case-sensitive names): a
    /// database that cannot be measured is reported as such, and never
    /// keeps the others from being sized. An error is left for what stops
    /// the whole instance (the session lost). An empty target list returns
    /// nothing without querying.
    pub async fn fetch_capacity(&mut self, targets: &[String]) -> Result<Capacity, Error> {
        if targets.is_empty() {
            return Ok(Capacity::default());
        }
        match self {
            Connection::Mysql(c) => c.fetch_capacity(targets).await,
            Connection::Postgres(c) => c.fetch_capacity(targets).await,
        }
    }

    /// What tells this server from every other (see [`ServerInfo::identity`]).
    pub async fn server_identity(&mut self) -> Result<Option<String>, Error> {
        match self {
            Connection::Mysql(c) => c.server_identity().await,
            Connection::Postgres(c) => c.server_identity().await,
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

    /// The session's TLS version and cipher, as the server saw the
    /// handshake; `None` when the session is in clear.
    pub async fn tls_session(&mut self) -> Result<Option<TlsSession>, Error> {
        match self {
            Connection::Mysql(c) => c.tls_session().await,
            Connection::Postgres(c) => c.tls_session().await,
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
