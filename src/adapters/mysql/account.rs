//! The monitoring account as MySQL and MariaDB see it: its name as a
//! `GRANT … TO` clause takes it, and the global privileges it holds.
//!
//! Both decide what a capacity sync may conclude. An account sees every
//! database in `SHOW DATABASES` only with `SHOW DATABASES` or a privilege
//! on every database; without either, a database missing from the list may
//! just be one it cannot see, so nothing may be taken for dropped. It sees
//! every table in `information_schema.TABLES` only with a table privilege
//! on every table (`SHOW VIEW` is the least one); without it, tables
//! outside InnoDB may be hidden from their schema's size. And every
//! missing privilege is reported with the statement that adds it.
//!
//! Global privileges are read from the grant tables the account may see:
//! `information_schema.USER_PRIVILEGES` for its own, and on MariaDB
//! `SHOW GRANTS FOR CURRENT_ROLE` for the roles enabled in a fresh session
//! (the default role and the roles granted to it; MariaDB's
//! `USER_PRIVILEGES` lists no role rows). On MySQL 8 a privilege held only
//! through a role is not seen, nor anywhere one granted to `PUBLIC`: the
//! account then looks less privileged than it is, which errs on the safe
//! side (a warning, never a database taken for dropped).

use std::collections::BTreeSet;

use sqlx::Executor as _;

use super::columns::text_at;
use super::error::map_error;
use super::{Flavor, MysqlConnection};
use crate::adapters::Error;

/// Global privileges that show every database in `SHOW DATABASES`, besides
/// `SHOW DATABASES` itself: any privilege that applies to every database.
const DATABASE_WIDE: [&str; 19] = [
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "CREATE",
    "DROP",
    "REFERENCES",
    "INDEX",
    "ALTER",
    "CREATE TEMPORARY TABLES",
    "LOCK TABLES",
    "EXECUTE",
    "CREATE VIEW",
    "SHOW VIEW",
    "CREATE ROUTINE",
    "ALTER ROUTINE",
    "EVENT",
    "TRIGGER",
    "DELETE HISTORY",
];

/// Global privileges that show every table in `information_schema.TABLES`:
/// any privilege that applies to every table.
const TABLE_WIDE: [&str; 13] = [
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "CREATE",
    "DROP",
    "REFERENCES",
    "INDEX",
    "ALTER",
    "CREATE VIEW",
    "SHOW VIEW",
    "TRIGGER",
    "DELETE HISTORY",
];

/// The account a session runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Account {
    /// `CURRENT_USER()`: `mon@%`.
    pub name: String,
    /// The account as a `GRANT … TO` clause takes it: `'mon'@'%'`.
    pub grantee: String,
    /// Global privileges, held directly or through the enabled roles.
    global: BTreeSet<String>,
}

impl Account {
    /// The statement that grants `privilege` on `*.*` to this account.
    pub fn grant(&self, privilege: &str) -> String {
        format!("GRANT {privilege} ON *.* TO {};", self.grantee)
    }

    pub fn holds(&self, privilege: &str) -> bool {
        self.global.contains(privilege) || self.global.contains("ALL PRIVILEGES")
    }

    /// `SHOW DATABASES` lists every database, not only those the account
    /// was granted something on.
    pub fn sees_every_database(&self) -> bool {
        self.holds("SHOW DATABASES") || DATABASE_WIDE.iter().any(|p| self.holds(p))
    }

    /// `information_schema.TABLES` lists every table.
    pub fn sees_every_table(&self) -> bool {
        TABLE_WIDE.iter().any(|p| self.holds(p))
    }
}

impl MysqlConnection {
    /// The account this session runs as, read once per session.
    pub(crate) async fn account(&mut self) -> Result<Account, Error> {
        if let Some(account) = &self.account {
            return Ok(account.clone());
        }
        let row = sqlx::query("SELECT CURRENT_USER(), @@global.sql_mode")
            .fetch_one(&mut self.conn)
            .await
            .map_err(map_error)?;
        let name = text_at(&row, 0).unwrap_or_default();
        let mode = text_at(&row, 1).unwrap_or_default();
        // A client pasting our grant reads `\` as an escape unless the
        // server's default `sql_mode` has `NO_BACKSLASH_ESCAPES`.
        let escapes = !mode.split(',').any(|m| m == "NO_BACKSLASH_ESCAPES");
        let mut global = self.own_privileges(&name).await?;
        if self.flavor == Flavor::MariaDb {
            global.extend(self.role_privileges().await?);
        }
        let account = Account {
            grantee: account_literal(&name, escapes),
            name,
            global,
        };
        self.account = Some(account.clone());
        Ok(account)
    }

    /// Global privileges granted to the account itself.
    async fn own_privileges(&mut self, name: &str) -> Result<BTreeSet<String>, Error> {
        // GRANTEE is `'user'@'host'` built without escaping anything, and is
        // compared case-insensitively by the server: the exact match is ours.
        let key = grantee_key(name);
        let rows = sqlx::query(
            "SELECT GRANTEE, PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES \
             WHERE GRANTEE = ?",
        )
        .bind(&key)
        .fetch_all(&mut self.conn)
        .await
        .map_err(map_error)?;
        Ok(rows
            .iter()
            .filter(|row| text_at(row, 0).as_deref() == Some(&key))
            .filter_map(|row| text_at(row, 1))
            .collect())
    }

    /// Global privileges of MariaDB's current role and the roles granted to
    /// it: `SHOW GRANTS FOR CURRENT_ROLE` lists them all.
    async fn role_privileges(&mut self) -> Result<BTreeSet<String>, Error> {
        let row = sqlx::query("SELECT CURRENT_ROLE()")
            .fetch_one(&mut self.conn)
            .await
            .map_err(map_error)?;
        if text_at(&row, 0).is_none() {
            return Ok(BTreeSet::new());
        }
        let rows = self
            .conn
            .fetch_all("SHOW GRANTS FOR CURRENT_ROLE")
            .await
            .map_err(map_error)?;
        Ok(rows
            .iter()
            .filter_map(|row| text_at(row, 0))
            .flat_map(|line| global_privileges(&line))
            .collect())
    }
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
pub(super) fn string_literal(text: &str, backslash_escapes: bool) -> String {
    let text = if backslash_escapes {
        text.replace('\\', "\\\\")
    } else {
        text.to_string()
    };
    format!("'{}'", text.replace('\'', "''"))
}

/// The privileges one `SHOW GRANTS` line grants on `*.*`, as in
/// ``GRANT PROCESS, SHOW DATABASES ON *.* TO `mon_role` ``. Privilege lists
/// hold no backticks; a line with one before ` ON *.* ` is a role grant
/// whose role name merely looks like a privilege list.
fn global_privileges(line: &str) -> Vec<String> {
    let Some(rest) = line.strip_prefix("GRANT ") else {
        return Vec::new();
    };
    let Some((list, _)) = rest.split_once(" ON *.* TO ") else {
        return Vec::new();
    };
    if list.contains('`') {
        return Vec::new();
    }
    list.split(", ").map(str::to_string).collect()
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
    fn global_privileges_table() {
        fn check(line: &str, expected: &[&str]) {
            assert_eq!(global_privileges(line), expected, "{line}");
        }
        check(
            "GRANT PROCESS, SHOW DATABASES ON *.* TO `r`",
            &["PROCESS", "SHOW DATABASES"],
        );
        check("GRANT SHOW DATABASES ON *.* TO `r`", &["SHOW DATABASES"]);
        check(
            "GRANT ALL PRIVILEGES ON *.* TO `r` WITH GRANT OPTION",
            &["ALL PRIVILEGES"],
        );
        check("GRANT USAGE ON *.* TO `r`", &["USAGE"]);
        check("GRANT SELECT, SHOW VIEW ON `db`.* TO `r`", &[]);
        check("GRANT ALL PRIVILEGES ON `db`.* TO `r`", &[]);
        check("GRANT `inner` TO `outer`", &[]);
        check("GRANT `x, SHOW DATABASES ON *.* TO y` TO `r`", &[]);
        check("SET DEFAULT ROLE `r` FOR `u`@`%`", &[]);
        check("", &[]);
    }

    fn account(global: &[&str]) -> Account {
        Account {
            name: "mon@%".to_string(),
            grantee: "'mon'@'%'".to_string(),
            global: global.iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn what_the_account_sees() {
        fn check(global: &[&str], databases: bool, tables: bool) {
            let a = account(global);
            assert_eq!(
                (a.sees_every_database(), a.sees_every_table()),
                (databases, tables),
                "{global:?}"
            );
        }
        check(&[], false, false);
        check(&["USAGE"], false, false);
        check(&["PROCESS"], false, false);
        check(&["SHOW DATABASES"], true, false);
        check(&["PROCESS", "SHOW DATABASES"], true, false);
        check(&["SHOW VIEW"], true, true);
        check(&["SELECT"], true, true);
        check(&["EXECUTE"], true, false);
        check(&["ALL PRIVILEGES"], true, true);
        assert_eq!(
            account(&[]).grant("SHOW VIEW"),
            "GRANT SHOW VIEW ON *.* TO 'mon'@'%';"
        );
    }
}
