//! Server errors: the error numbers dbfleet acts on, and [`map_error`],
//! which turns a driver error into an adapter [`Error`] whose variant is the
//! failed job's error class (authentication, permission, connection,
//! timeout or query).
//!
//! Kept in one place so the session code and `probe.rs` classify a server
//! error the same way.

use super::Error;

/// Server error numbers that decide the error class.
pub(super) mod code {
    pub const DBACCESS_DENIED: u16 = 1044;
    pub const UNKNOWN_TABLE: u16 = 1109;
    pub const TABLEACCESS_DENIED: u16 = 1142;
    pub const SPECIFIC_ACCESS_DENIED: u16 = 1227;
    pub const ACCESS_DENIED: u16 = 1045;
    pub const BAD_DB: u16 = 1049;
    pub const CON_COUNT: u16 = 1040;
    pub const LOCK_WAIT_TIMEOUT: u16 = 1205;
    pub const ACCESS_DENIED_NO_PASSWORD: u16 = 1698;
    pub const MARIADB_STATEMENT_TIMEOUT: u16 = 1969;
    pub const MYSQL_QUERY_TIMEOUT: u16 = 3024;
    pub const UNKNOWN_SYSTEM_VARIABLE: u16 = 1193;
}

/// Maps a driver error to the job error class. The driver's messages never
/// contain the password, and the connect options are never formatted.
pub(crate) fn map_error(e: sqlx::Error) -> Error {
    match &e {
        sqlx::Error::Database(db) => {
            let number = db
                .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
                .map(|m| m.number());
            match number {
                Some(code::ACCESS_DENIED | code::ACCESS_DENIED_NO_PASSWORD) => {
                    Error::Auth(e.to_string())
                }
                // Logged in, but refused a database, a table or a global
                // privilege: what to grant depends on what was asked, so
                // callers that know add the statement.
                Some(
                    code::DBACCESS_DENIED | code::TABLEACCESS_DENIED | code::SPECIFIC_ACCESS_DENIED,
                ) => Error::Permission(e.to_string()),
                Some(code::BAD_DB | code::CON_COUNT) => Error::Connect(e.to_string()),
                Some(
                    code::MARIADB_STATEMENT_TIMEOUT
                    | code::MYSQL_QUERY_TIMEOUT
                    | code::LOCK_WAIT_TIMEOUT,
                ) => Error::Timeout(e.to_string()),
                _ => Error::Query(e.to_string()),
            }
        }
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::Configuration(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => Error::Connect(e.to_string()),
        _ => Error::Query(e.to_string()),
    }
}
