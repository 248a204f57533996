//! Opening the store, and saying why it failed: the URL checked in full
//! when the configuration loads, the first connection made with a short
//! bound, and every sqlx error told once, in plain words.
//!
//! sqlx's pool retries a refused connection until its acquire timeout and
//! then reports only "pool timed out"; and sqlx's messages repeat their own
//! source. So the dialects make the first connection themselves (a wrong
//! port or password fails at once, with the driver's own error), and
//! [`cause`] turns a sqlx error into the one phrase an operator needs.

use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::MigrateError;
use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;

use super::Error;
use crate::endpoint;

/// How long the first connection may take: long enough for a TLS handshake
/// across a region, short enough that a silent address is reported while
/// the operator still watches.
pub(crate) const FIRST_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether `url` names a PostgreSQL store.
pub(crate) fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Check a `store.url` the way the store will read it, so a bad one is a
/// configuration error. The problem never quotes the URL's password.
pub fn validate_url(url: &str) -> Result<(), String> {
    let parsed = if is_postgres(url) {
        PgConnectOptions::from_str(url).map(drop)
    } else if url.starts_with("sqlite:") {
        SqliteConnectOptions::from_str(url).map(drop)
    } else {
        return Err("expected postgres://…, postgresql://… or sqlite:…".to_string());
    };
    parsed.map_err(|e| endpoint::scrub(&cause(&e), url))
}

/// Run `connect`, the first connection of a pool, within
/// [`FIRST_CONNECT_TIMEOUT`].
pub(crate) async fn first<C>(
    connect: impl std::future::Future<Output = Result<C, sqlx::Error>>,
) -> Result<C, sqlx::Error> {
    match tokio::time::timeout(FIRST_CONNECT_TIMEOUT, connect).await {
        Ok(connected) => connected,
        Err(_) => Err(sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("no answer within {FIRST_CONNECT_TIMEOUT:?}"),
        ))),
    }
}

/// A sqlx error as one phrase, without sqlx's repetition: what the server
/// said (`password authentication failed for user "x"`), or what the
/// socket said (`connection refused`), or what was wrong with the URL.
pub(crate) fn cause(e: &sqlx::Error) -> String {
    let phrase = phrase(e);
    match crate::tls::certificate_problem(&phrase) {
        Some(problem) => format!("TLS certificate not verified: {problem} ({phrase})"),
        None => phrase,
    }
}

fn phrase(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(db) => db.message().to_string(),
        sqlx::Error::Io(io) => endpoint::io_cause(io),
        sqlx::Error::Tls(tls) => format!("TLS: {tls}"),
        sqlx::Error::Configuration(problem) => problem.to_string(),
        sqlx::Error::PoolTimedOut => "no connection free within the pool's timeout".to_string(),
        other => other.to_string(),
    }
}

/// A migration error as one phrase, the database's part told by [`cause`].
pub(crate) fn migrate_cause(e: &MigrateError) -> String {
    match e {
        MigrateError::Execute(e) => cause(e),
        MigrateError::ExecuteMigration(e, version) => format!("migration {version}: {}", cause(e)),
        other => other.to_string(),
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Error::Database(e)
    }
}

impl From<MigrateError> for Error {
    fn from(e: MigrateError) -> Self {
        Error::Migrate(e)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_as_the_store_reads_them() {
        for good in [
            "postgres://fleet:pw@db.example:5432/dbfleet",
            "postgresql://db/x?sslmode=require",
            "postgres://[::1]/x",
            "sqlite:data/dbfleet.sqlite",
            "sqlite::memory:",
        ] {
            assert_eq!(validate_url(good), Ok(()), "{good}");
        }
        for (bad, problem) in [
            ("postgres://::::", "empty host"),
            ("postgres://fleet:hunter2@db:99999/x", "invalid port number"),
            ("postgres://fleet:hunter2@db/x?sslmode=bogus", "ssl_mode"),
            ("sqlite:x.sqlite?mode=bogus", "mode"),
            ("mysql://db/x", "expected postgres://"),
        ] {
            let found = validate_url(bad).unwrap_err();
            assert!(found.contains(problem), "{bad}: {found}");
            assert!(!found.contains("hunter2"), "{bad}: {found}");
        }
    }

    /// The rule every error type follows: its message is its own context,
    /// plus the cause only when it has no `source()`, so a chain printed
    /// with `{:#}` says each thing once. sqlx breaks it (its message and
    /// its source both carry the cause); the store's errors do not.
    #[test]
    fn a_store_error_says_its_cause_once() {
        let refused = || sqlx::Error::Io(std::io::ErrorKind::ConnectionRefused.into());
        let before = format!("{:#}", anyhow::Error::from(refused()));
        assert_eq!(
            before,
            "error communicating with database: connection refused: connection refused"
        );
        let after = Error::Connect {
            endpoint: endpoint::redact("postgres://fleet:hunter2@db:5432/x"),
            cause: refused(),
        };
        assert_eq!(
            format!("{:#}", anyhow::Error::from(after)),
            "cannot open the control store postgres://fleet@db:5432/x: connection refused"
        );
        let query = Error::from(sqlx::Error::RowNotFound);
        assert!(std::error::Error::source(&query).is_none());
        assert_eq!(
            format!("{:#}", anyhow::Error::from(query)),
            "control store: no rows returned by a query that expected to return at least one row"
        );
    }
}
