//! What a `probe` job asks a MySQL or MariaDB server: who it is, and whether
//! the account holds the two global privileges a capacity sync needs.
//!
//! `PROCESS` is decided by trying what needs it (reading the tablespace
//! view), so it counts however it was granted: directly, through a role or
//! as `ALL PRIVILEGES`. `SHOW DATABASES` cannot be tried that way (without
//! it `SHOW DATABASES` silently lists less), so it is read from the grant
//! tables the account may see. Limits of that reading:
//! - a role's privileges count on MariaDB only, for the roles enabled in a
//!   fresh session (the default role and the roles granted to it), read from
//!   `SHOW GRANTS FOR CURRENT_ROLE` because MariaDB's `USER_PRIVILEGES`
//!   lists no role rows. On MySQL 8 a `SHOW DATABASES` held only through a
//!   role is reported as not granted;
//! - a privilege granted to `PUBLIC`, where the server has it, is not seen.

use sqlx::mysql::MySqlDatabaseError;
use sqlx::Executor as _;

use super::columns::text_at;
use super::error::{code, map_error};
use super::{Flavor, MysqlConnection};
use crate::adapters::{Error, PrivilegeCheck, ServerFlavor, ServerInfo};

impl MysqlConnection {
    /// The server's version, read-only state and uptime, and the account
    /// this session runs as. `@@global.read_only` alone decides read-only:
    /// on MySQL `super_read_only` forces it on. It is read as text, which
    /// MySQL writes `0`/`1` and MariaDB `OFF`/`ON`: see [`is_on`].
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
        })
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

    /// `PROCESS` and `SHOW DATABASES`, granted or not, each with the
    /// statement that grants it to the current account.
    pub async fn privileges(&mut self) -> Result<Vec<PrivilegeCheck>, Error> {
        let account = self.current_user().await?;
        let escapes = self.backslash_escapes().await?;
        let grantee = account_literal(&account, escapes);
        let check = |privilege: &str, granted: bool, needed_for: &str| PrivilegeCheck {
            privilege: privilege.to_string(),
            database: None,
            granted,
            needed_for: needed_for.to_string(),
            grant: format!("GRANT {privilege} ON *.* TO {grantee};"),
        };
        Ok(vec![
            check(
                "PROCESS",
                self.can_read_tablespaces().await?,
                "read InnoDB tablespace sizes",
            ),
            check(
                "SHOW DATABASES",
                self.holds_show_databases(&account).await?,
                "list every database, so a database it cannot see is not taken for dropped",
            ),
        ])
    }

    async fn current_user(&mut self) -> Result<String, Error> {
        let row = sqlx::query("SELECT CURRENT_USER()")
            .fetch_one(&mut self.conn)
            .await
            .map_err(map_error)?;
        Ok(text_at(&row, 0).unwrap_or_default())
    }

    /// Whether a client pasting our grant reads `\` as an escape: true
    /// unless the server's default `sql_mode` has `NO_BACKSLASH_ESCAPES`.
    async fn backslash_escapes(&mut self) -> Result<bool, Error> {
        let row = sqlx::query("SELECT @@global.sql_mode")
            .fetch_one(&mut self.conn)
            .await
            .map_err(map_error)?;
        let mode = text_at(&row, 0).unwrap_or_default();
        Ok(!mode.split(',').any(|m| m == "NO_BACKSLASH_ESCAPES"))
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

    /// `SHOW DATABASES` granted to the account itself, or (MariaDB) to the
    /// roles enabled in this session.
    async fn holds_show_databases(&mut self, account: &str) -> Result<bool, Error> {
        // GRANTEE is `'user'@'host'` built without escaping anything, and is
        // compared case-insensitively by the server: the exact match is ours.
        let key = grantee_key(account);
        let rows = sqlx::query(
            "SELECT GRANTEE FROM information_schema.USER_PRIVILEGES \
             WHERE PRIVILEGE_TYPE = 'SHOW DATABASES' AND GRANTEE = ?",
        )
        .bind(&key)
        .fetch_all(&mut self.conn)
        .await
        .map_err(map_error)?;
        if rows
            .iter()
            .any(|row| text_at(row, 0).as_deref() == Some(&key))
        {
            return Ok(true);
        }
        match self.flavor {
            Flavor::MariaDb => self.role_holds_globally("SHOW DATABASES").await,
            Flavor::Mysql8 | Flavor::MysqlLegacy => Ok(false),
        }
    }

    /// Whether MariaDB's current role, or a role granted to it, holds
    /// `privilege` on `*.*`. `SHOW GRANTS FOR CURRENT_ROLE` lists the grants
    /// of every role the current one inherits.
    async fn role_holds_globally(&mut self, privilege: &str) -> Result<bool, Error> {
        let row = sqlx::query("SELECT CURRENT_ROLE()")
            .fetch_one(&mut self.conn)
            .await
            .map_err(map_error)?;
        if text_at(&row, 0).is_none() {
            return Ok(false);
        }
        let rows = self
            .conn
            .fetch_all("SHOW GRANTS FOR CURRENT_ROLE")
            .await
            .map_err(map_error)?;
        Ok(rows
            .iter()
            .filter_map(|row| text_at(row, 0))
            .any(|line| grants_globally(&line, privilege)))
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

fn error_number(e: &sqlx::Error) -> Option<u16> {
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

/// `CURRENT_USER()` split at its last `@`: a user name may contain `@`, a
/// host name may not. No `@` at all (never seen) leaves the host out.
fn split_account(account: &str) -> (&str, Option<&str>) {
    match account.rsplit_once('@') {
        Some((user, host)) => (user, Some(host)),
        None => (account, None),
    }
}

/// The account as `information_schema` writes GRANTEE: quoted, not escaped.
fn grantee_key(account: &str) -> String {
    match split_account(account) {
        (user, Some(host)) => format!("'{user}'@'{host}'"),
        (user, None) => format!("'{user}'"),
    }
}

/// The account as a `GRANT … TO` clause takes it: `'user'@'host'`.
fn account_literal(account: &str, backslash_escapes: bool) -> String {
    match split_account(account) {
        (user, Some(host)) => format!(
            "{}@{}",
            string_literal(user, backslash_escapes),
            string_literal(host, backslash_escapes)
        ),
        (user, None) => string_literal(user, backslash_escapes),
    }
}

/// A single-quoted string literal: `'` doubled (valid in every `sql_mode`),
/// and `\` doubled where the client reads it as an escape.
fn string_literal(text: &str, backslash_escapes: bool) -> String {
    let text = if backslash_escapes {
        text.replace('\\', "\\\\")
    } else {
        text.to_string()
    };
    format!("'{}'", text.replace('\'', "''"))
}

/// Whether one `SHOW GRANTS` line grants `privilege` (or everything) on
/// `*.*`, as in ``GRANT PROCESS, SHOW DATABASES ON *.* TO `mon_role` ``.
/// Privilege lists hold no backticks; a line with one before ` ON *.* ` is a
/// role grant whose role name merely looks like a privilege list.
fn grants_globally(line: &str, privilege: &str) -> bool {
    let Some(rest) = line.strip_prefix("GRANT ") else {
        return false;
    };
    let Some((list, _)) = rest.split_once(" ON *.* TO ") else {
        return false;
    };
    !list.contains('`')
        && list
            .split(", ")
            .any(|p| p == privilege || p == "ALL PRIVILEGES")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_literal_table() {
        fn check(account: &str, escapes: bool, expected: &str) {
            assert_eq!(
                account_literal(account, escapes),
                expected,
                "account {account:?}, backslash escapes {escapes}"
            );
        }
        check("mon@%", true, "'mon'@'%'");
        check("mon@localhost", true, "'mon'@'localhost'");
        check("mon@10.0.0.%", true, "'mon'@'10.0.0.%'");
        check("o'neil@%", true, "'o''neil'@'%'");
        check(r"a\b@%", true, r"'a\\b'@'%'");
        check(r"a\b@%", false, r"'a\b'@'%'");
        check(r"o'\@%", true, r"'o''\\'@'%'");
        check("us@er@host", true, "'us@er'@'host'");
        check("@%", true, "''@'%'");
        check("mon@", true, "'mon'@''");
        check("mon", true, "'mon'");
    }

    #[test]
    fn grantee_key_table() {
        fn check(account: &str, expected: &str) {
            assert_eq!(grantee_key(account), expected, "account {account:?}");
        }
        check("mon@%", "'mon'@'%'");
        check("o'neil@%", "'o'neil'@'%'");
        check(r"a\b@localhost", r"'a\b'@'localhost'");
        check("us@er@host", "'us@er'@'host'");
        check("mon", "'mon'");
    }

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

    #[test]
    fn grants_globally_table() {
        fn check(line: &str, expected: bool) {
            assert_eq!(grants_globally(line, "SHOW DATABASES"), expected, "{line}");
        }
        check("GRANT PROCESS, SHOW DATABASES ON *.* TO `r`", true);
        check("GRANT SHOW DATABASES ON *.* TO `r`", true);
        check("GRANT ALL PRIVILEGES ON *.* TO `r` WITH GRANT OPTION", true);
        check("GRANT PROCESS ON *.* TO `r`", false);
        check("GRANT USAGE ON *.* TO `r`", false);
        check("GRANT SELECT, SHOW VIEW ON `db`.* TO `r`", false);
        check("GRANT ALL PRIVILEGES ON `db`.* TO `r`", false);
        check("GRANT `inner` TO `outer`", false);
        check("GRANT `x, SHOW DATABASES ON *.* TO y` TO `r`", false);
        check("SET DEFAULT ROLE `r` FOR `u`@`%`", false);
        check("", false);
    }
}
