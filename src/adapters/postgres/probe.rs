//! What a `probe` job asks a PostgreSQL server: who it is, and whether the
//! account may size the databases a capacity sync would size.
//!
//! `pg_database_size` succeeds on a database the role may `CONNECT` to, or
//! on any database once the role has the privileges of `pg_read_all_stats`
//! (which `pg_monitor` includes; a superuser has everything). So the checks
//! are one `pg_read_all_stats` check, and one `CONNECT` check per target.
//! The grant statements are built here, for the probe and for a capacity
//! sync's unmeasured databases alike.

use sqlx::Row as _;

use super::{map_error, sqlstate, PostgresConnection, INSUFFICIENT_PRIVILEGE};
use crate::adapters::{Error, PrivilegeCheck, ServerFlavor, ServerInfo, TlsSession};

/// The statement that lets `role` connect to, and so size, `database`.
pub(super) fn connect_grant(database: &str, role: &str) -> String {
    format!(
        "GRANT CONNECT ON DATABASE {} TO {};",
        quote_ident(database),
        quote_ident(role)
    )
}

/// The statement that lets `role` size every database.
pub(super) fn read_all_stats_grant(role: &str) -> String {
    format!("GRANT pg_read_all_stats TO {};", quote_ident(role))
}

impl PostgresConnection {
    /// The server's version string, read-only state and uptime, and the role
    /// this session runs as.
    pub async fn server_info(&mut self) -> Result<ServerInfo, Error> {
        let row = sqlx::query(
            "SELECT current_setting('server_version'), current_user::text, pg_is_in_recovery()",
        )
        .fetch_one(&mut self.conn)
        .await
        .map_err(map_error)?;
        Ok(ServerInfo {
            flavor: ServerFlavor::Postgresql,
            version: row.try_get(0).map_err(map_error)?,
            account: row.try_get(1).map_err(map_error)?,
            read_only: row.try_get(2).map_err(map_error)?,
            uptime_seconds: self.uptime().await?,
            identity: self.server_identity().await?,
        })
    }

    /// This backend's row of `pg_stat_ssl`, readable by every role.
    pub async fn tls_session(&mut self) -> Result<Option<TlsSession>, Error> {
        let row = sqlx::query(
            "SELECT ssl, version, cipher FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        )
        .fetch_optional(&mut self.conn)
        .await
        .map_err(map_error)?;
        let Some(row) = row else { return Ok(None) };
        if !row.try_get::<bool, _>(0).map_err(map_error)? {
            return Ok(None);
        }
        Ok(Some(TlsSession {
            version: row
                .try_get::<Option<String>, _>(1)
                .map_err(map_error)?
                .unwrap_or_default(),
            cipher: row
                .try_get::<Option<String>, _>(2)
                .map_err(map_error)?
                .unwrap_or_default(),
        }))
    }

    /// What tells this server from every other: the cluster's
    /// `system_identifier` (`pg_control_system()`), the postmaster's start
    /// time and the port it listens on. A streaming replica shares its
    /// primary's identifier, and the start time tells the two apart. `None`
    /// when an administrator revoked those functions.
    pub async fn server_identity(&mut self) -> Result<Option<String>, Error> {
        let row = sqlx::query(
            "SELECT (SELECT system_identifier::text FROM pg_control_system()), \
                    (EXTRACT(EPOCH FROM pg_postmaster_start_time()) * 1000000)::bigint::text, \
                    current_setting('port')",
        )
        .fetch_one(&mut self.conn)
        .await;
        match row {
            Ok(row) => {
                let id: Option<String> = row.try_get(0).map_err(map_error)?;
                let started: Option<String> = row.try_get(1).map_err(map_error)?;
                let port: String = row.try_get(2).map_err(map_error)?;
                Ok(id.map(|id| {
                    let started = started.unwrap_or_default();
                    format!("system_identifier:{id}/{started}@{port}")
                }))
            }
            Err(e) if sqlstate(&e).as_deref() == Some(INSUFFICIENT_PRIVILEGE) => Ok(None),
            Err(e) => Err(map_error(e)),
        }
    }

    /// Seconds since the postmaster started. `pg_postmaster_start_time` is
    /// executable by everyone unless an administrator revoked it, in which
    /// case the uptime is unknown rather than the probe failed.
    async fn uptime(&mut self) -> Result<Option<u64>, Error> {
        let seconds = sqlx::query_scalar::<_, i64>(
            "SELECT EXTRACT(EPOCH FROM clock_timestamp() - pg_postmaster_start_time())::bigint",
        )
        .fetch_one(&mut self.conn)
        .await;
        match seconds {
            Ok(s) => Ok(u64::try_from(s).ok()),
            Err(e) if sqlstate(&e).as_deref() == Some(INSUFFICIENT_PRIVILEGE) => Ok(None),
            Err(e) => Err(map_error(e)),
        }
    }

    /// The `pg_read_all_stats` check first, then one `CONNECT` check per
    /// target, by name. A `CONNECT` check counts as granted when the role may
    /// connect *or* has the privileges of `pg_read_all_stats`, because either
    /// lets `pg_database_size` size the database (one closed to connections
    /// too). Targets that no longer exist and templates are left out: a
    /// capacity sync does not size them either, whatever the grants.
    pub async fn privileges(&mut self, targets: &[String]) -> Result<Vec<PrivilegeCheck>, Error> {
        let (role, read_all_stats) = self.read_all_stats().await?;
        let mut checks = vec![PrivilegeCheck {
            privilege: "pg_read_all_stats".to_string(),
            database: None,
            granted: read_all_stats,
            needed_for: "size every database with pg_database_size, whatever its CONNECT grants"
                .to_string(),
            grant: read_all_stats_grant(&role),
        }];
        for (database, may_connect) in self.connect_privileges(targets).await? {
            checks.push(PrivilegeCheck {
                privilege: "CONNECT".to_string(),
                granted: may_connect || read_all_stats,
                needed_for: "size this database with pg_database_size".to_string(),
                grant: connect_grant(&database, &role),
                database: Some(database),
            });
        }
        Ok(checks)
    }

    /// The current role, and whether it is a superuser or has the privileges
    /// of `pg_read_all_stats` (`USAGE`: membership through a `NOINHERIT`
    /// role does not count, as it does not for `pg_database_size`).
    async fn read_all_stats(&mut self) -> Result<(String, bool), Error> {
        let row = sqlx::query(
            "SELECT current_user::text, \
                    COALESCE((SELECT rolsuper FROM pg_roles WHERE rolname = current_user), false) \
                    OR pg_has_role(current_user, 'pg_read_all_stats', 'USAGE')",
        )
        .fetch_one(&mut self.conn)
        .await
        .map_err(map_error)?;
        Ok((
            row.try_get(0).map_err(map_error)?,
            row.try_get(1).map_err(map_error)?,
        ))
    }

    /// `CONNECT` of each existing target, by exact name and checked by oid,
    /// with the filter `fetch_capacity` applies.
    async fn connect_privileges(
        &mut self,
        targets: &[String],
    ) -> Result<Vec<(String, bool)>, Error> {
        if targets.is_empty() {
            return Ok(Vec::new());
        }
        sqlx::query_as(
            "SELECT datname::text, has_database_privilege(current_user, oid, 'CONNECT') \
             FROM pg_database \
             WHERE NOT datistemplate AND datname::text = ANY($1::text[]) \
             ORDER BY datname",
        )
        .bind(targets.to_vec())
        .fetch_all(&mut self.conn)
        .await
        .map_err(map_error)
    }
}

/// A PostgreSQL identifier, always quoted so case and any character survive:
/// double quotes around it, each double quote inside doubled.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_ident_table() {
        fn check(name: &str, expected: &str) {
            assert_eq!(quote_ident(name), expected, "name {name:?}");
        }
        check("mon", r#""mon""#);
        check("Mon", r#""Mon""#);
        check("", r#""""#);
        check(r#"we"ird db"#, r#""we""ird db""#);
        check(r#"""#, r#""""""#);
        check("o'neil", r#""o'neil""#);
        check("café; DROP", r#""café; DROP""#);
    }
}
