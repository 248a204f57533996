//! Adapters to the monitored database engines.
//!
//! One file per engine. Every session is read-only, with connect, statement
//! and lock timeouts; no SQL is built from untrusted strings (names travel as
//! bind parameters, and identifiers, where unavoidable, are quoted).

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

    pub async fn close(self) {
        match self {
            Connection::Mysql(c) => c.close().await,
            Connection::Postgres(c) => c.close().await,
        }
    }
}
