//! What a `probe` job asks a MySQL or MariaDB server: who it is, and whether
//! the account holds the global privileges a capacity sync needs.
//!
//! `PROCESS` is decided by trying what needs it (reading the tablespace
//! view), so it counts however it was granted: directly, through a role or
//! as `ALL PRIVILEGES`. `SHOW DATABASES` and `SHOW VIEW` cannot be tried
//! that way (without them the server silently lists less), so they are read
//! from the grant tables (see `account.rs`, with the limits of that
//! reading). Each counts as granted when the account sees what it is needed
//! for: every database, every table, whichever privilege shows them.

use sqlx::mysql::MySqlDatabaseError;
use sqlx::Executor as _;

use super::columns::text_at;
use super::error::{code, map_error};
use super::{Flavor, MysqlConnection};
use crate::adapters::{Error, PrivilegeCheck, ServerFlavor, ServerInfo, TlsSession};

impl MysqlConnection {
    /// The server's version, read-only state, uptime and identity, and the
    /// account this session runs as. `@@global.read_only` alone decides
    /// read-only: on MySQL `super_read_only` forces it on. It is read as
    /// text, which MySQL writes `0`/`1` and MariaDB `OFF`/`ON`: see
    /// [`is_on`].
    pub async fn server_info(&mut self) -> Result<ServerInfo, Error> {
        let row = sqlx::query("SELECT VERSION(), CURRENT_USER(), CAST(@@global.read_only AS CHAR)")
            .fetch_one(&mut self.conn)
            .await
            .map_err(map_error)?;
        Ok(ServerInfo {
            flavor: self.flavor.server_flavor(),
            version: text_at(&row, 0).unwrap_or_default(),
            account: text_at(&row, 1).unwrap_or_default(),
            read_only: is_on(&text_at(&row, 2).unwrap_or_default()),
            uptime_seconds: self.uptime().await?,
            identity: self.server_identity().await?,
        })
    }

    /// The session status `Ssl_version` and `Ssl_cipher`, empty in clear;
    /// every account may read its own session's status.
    pub async fn tls_session(&mut self) -> Result<Option<TlsSession>, Error> {
        let rows = self
            .conn
            .fetch_all("SHOW SESSION STATUS WHERE Variable_name IN ('Ssl_version', 'Ssl_cipher')")
            .await
            .map_err(map_error)?;
        let value = |name: &str| {
            rows.iter()
                .find(|row| text_at(row, 0).as_deref() == Some(name))
                .and_then(|row| text_at(row, 1))
                .filter(|v| !v.is_empty())
        };
        Ok(value("Ssl_version").map(|version| TlsSession {
            version,
            cipher: value("Ssl_cipher").unwrap_or_default(),
        }))
    }

    /// What tells this server from every other, whatever address reached
    /// it: MySQL's `@@server_uuid`, MariaDB's `@@server_uid` (it has no
    /// `server_uuid`; `server_uid` hashes the host's hardware address with
    /// the port), each with the port the server listens on. `None` when the
    /// server has neither.
    pub async fn server_identity(&mut self) -> Result<Option<String>, Error> {
        let variable = match self.flavor {
            Flavor::MariaDb => "server_uid",
            Flavor::Mysql8 | Flavor::MysqlLegacy => "server_uuid",
        };
        let sql = format!("SELECT CAST(@@global.{variable} AS CHAR), CAST(@@global.port AS CHAR)");
        match sqlx::query(&sql).fetch_one(&mut self.conn).await {
            Ok(row) => Ok(text_at(&row, 0)
                .filter(|id| !id.is_empty())
                .map(|id| format!("{variable}:{id}@{}", text_at(&row, 1).unwrap_or_default()))),
            Err(e) if error_number(&e) == Some(code::UNKNOWN_SYSTEM_VARIABLE) => Ok(None),
            Err(e) => Err(map_error(e)),
        }
    }

    /// `Uptime` from the global status; `None` when the account may not
    /// read it or the server does not report it.
    async fn uptime(&mut self) -> Result<Option<u64>, Error> {
        match self
            .conn
            .fetch_all("SHOW GLOBAL STATUS LIKE 'Uptime'")
            .await
        {
            Ok(rows) => Ok(rows
                .first()
                .and_then(|row| text_at(row, 1))
                .and_then(|value| value.trim().parse().ok())),
            Err(e) if is_denied(&e) => Ok(None),
            Err(e) => Err(map_error(e)),
        }
    }

    /// `PROCESS`, `SHOW DATABASES` and `SHOW VIEW`, granted or not, each
    /// with the statement that grants it to the current account.
    pub async fn privileges(&mut self) -> Result<Vec<PrivilegeCheck>, Error> {
        let account = self.account().await?;
        let check = |privilege: &str, granted: bool, needed_for: &str| PrivilegeCheck {
            privilege: privilege.to_string(),
            database: None,
            granted,
            needed_for: needed_for.to_string(),
            grant: account.grant(privilege),
        };
        Ok(vec![
            check(
                "PROCESS",
                self.can_read_tablespaces().await?,
                "read InnoDB tablespace sizes",
            ),
            check(
                "SHOW DATABASES",
                account.sees_every_database(),
                "list every database, so a database it cannot see is not taken for dropped",
            ),
            check(
                "SHOW VIEW",
                account.sees_every_table(),
                "see every table in information_schema.TABLES, so tables outside InnoDB \
                 (MyISAM, Aria, …) and in the system tablespace are sized",
            ),
        ])
    }

    /// `PROCESS`, by reading one row of the tablespace view the flavour uses
    /// (the next one when it does not exist). `LIMIT 1`, not `LIMIT 0`:
    /// MariaDB answers `LIMIT 0` without filling the view, so without
    /// checking the privilege.
    async fn can_read_tablespaces(&mut self) -> Result<bool, Error> {
        let mut last_error = None;
        for view in self.flavor.tablespace_views() {
            let sql = format!("SELECT 1 FROM information_schema.{view} LIMIT 1");
            match sqlx::query(&sql).fetch_optional(&mut self.conn).await {
                Ok(_) => return Ok(true),
                Err(e) => match error_number(&e) {
                    Some(code::SPECIFIC_ACCESS_DENIED) => return Ok(false),
                    Some(code::UNKNOWN_TABLE) => last_error = Some(map_error(e)),
                    _ => return Err(map_error(e)),
                },
            }
        }
        Err(last_error
            .unwrap_or_else(|| Error::Unsupported("no InnoDB tablespace view".to_string())))
    }
}

impl Flavor {
    fn server_flavor(self) -> ServerFlavor {
        match self {
            Flavor::MariaDb => ServerFlavor::Mariadb,
            Flavor::Mysql8 | Flavor::MysqlLegacy => ServerFlavor::Mysql,
        }
    }
}

pub(super) fn error_number(e: &sqlx::Error) -> Option<u16> {
    e.as_database_error()
        .and_then(|db| db.try_downcast_ref::<MySqlDatabaseError>())
        .map(MySqlDatabaseError::number)
}

/// The server refused for lack of a privilege (global, database or table).
fn is_denied(e: &sqlx::Error) -> bool {
    matches!(
        error_number(e),
        Some(code::SPECIFIC_ACCESS_DENIED | code::TABLEACCESS_DENIED | code::DBACCESS_DENIED)
    )
}

/// A system variable read as text: `0`/`1` on MySQL, `OFF`/`ON` on
/// MariaDB. Any other value is taken for some kind of on, so a server that
/// grows more read-only modes is not reported writable.
fn is_on(value: &str) -> bool {
    let value = value.trim();
    !(value.is_empty() || value == "0" || value.eq_ignore_ascii_case("OFF"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_on_table() {
        fn check(value: &str, expected: bool) {
            assert_eq!(is_on(value), expected, "value {value:?}");
        }
        check("0", false);
        check("OFF", false);
        check("off", false);
        check("", false);
        check("1", true);
        check("ON", true);
        check("NO_LOCK", true);
        check("NO_LOCK_NO_ADMIN", true);
    }
}
