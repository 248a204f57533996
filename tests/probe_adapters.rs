//! The probe queries (`server_info`, `privileges`) against the real local
//! servers: MariaDB on 127.0.0.1:3306 as `root` without password, PostgreSQL
//! on 127.0.0.1:5432 trusting loopback.
//!
//! Each test creates accounts, roles and databases of its own under a random
//! name, runs everything that can fail inside one block, drops what it made
//! and only then asserts, so a failed assertion leaves nothing behind. A
//! reported grant is proven pasteable by running it as the administrator
//! and probing again.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{mariadb_root, mariadb_try_exec, pg_admin, pg_ident, tag};
use dbfleet::adapters::{ConnectOptions, Connection, PrivilegeCheck, ServerFlavor, ServerInfo};
use dbfleet::domain::DbType;
use secrecy::SecretString;
use sqlx::Connection as _;

type Probe = (ServerInfo, Vec<PrivilegeCheck>);

fn options(db_type: DbType, username: &str, password: &str) -> ConnectOptions {
    let port = match db_type {
        DbType::Mysql => 3306,
        DbType::Postgresql => 5432,
    };
    ConnectOptions {
        tls: Default::default(),
        host: "127.0.0.1".to_string(),
        port,
        username: username.to_string(),
        password: SecretString::from(password.to_string()),
        database: None,
        connect_timeout: Duration::from_secs(10),
        statement_timeout: Duration::from_secs(30),
        lock_timeout: Duration::from_secs(5),
    }
}

/// One fresh session, as a probe job opens it: server info, then checks.
async fn probe(
    db_type: DbType,
    user: &str,
    password: &str,
    targets: &[String],
) -> anyhow::Result<Probe> {
    let mut conn = Connection::connect(db_type, &options(db_type, user, password)).await?;
    let info = conn.server_info().await;
    let checks = conn.privileges(targets).await;
    conn.close().await;
    Ok((info?, checks?))
}

/// The check of `privilege` (on `database`), which must be there once.
fn check<'a>(
    checks: &'a [PrivilegeCheck],
    privilege: &str,
    database: Option<&str>,
) -> &'a PrivilegeCheck {
    let found: Vec<_> = checks
        .iter()
        .filter(|c| c.privilege == privilege && c.database.as_deref() == database)
        .collect();
    assert_eq!(found.len(), 1, "{privilege} on {database:?} in {checks:#?}");
    found[0]
}

fn granted(checks: &[PrivilegeCheck]) -> Vec<(String, Option<String>, bool)> {
    checks
        .iter()
        .map(|c| (c.privilege.clone(), c.database.clone(), c.granted))
        .collect()
}

// ---------------------------------------------------------------- MariaDB

/// A single-quoted MariaDB string literal (default `sql_mode`).
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "''"))
}

fn mariadb_user() -> (String, String) {
    (format!("dbfp_{}", tag()), format!("pw-{}", tag()))
}

async fn mariadb_as_root(statements: &[String]) -> anyhow::Result<()> {
    let mut root = mariadb_root().await;
    for sql in statements {
        mariadb_try_exec(&mut root, sql)
            .await
            .map_err(|e| anyhow::anyhow!("{sql}: {e}"))?;
    }
    root.close().await?;
    Ok(())
}

fn create_user(user: &str, password: &str) -> String {
    format!(
        "CREATE USER {}@'%' IDENTIFIED BY {}",
        literal(user),
        literal(password)
    )
}

/// Drops users (`'name'@'%'`) and roles; failures are ignored.
async fn mariadb_drop(users: &[&str], roles: &[&str]) {
    let mut root = mariadb_root().await;
    for user in users {
        let sql = format!("DROP USER IF EXISTS {}@'%'", literal(user));
        let _ = mariadb_try_exec(&mut root, &sql).await;
    }
    for role in roles {
        let sql = format!("DROP ROLE IF EXISTS {}", literal(role));
        let _ = mariadb_try_exec(&mut root, &sql).await;
    }
    let _ = root.close().await;
}

#[tokio::test]
async fn mariadb_account_without_privileges() {
    let (user, password) = mariadb_user();
    let result = async {
        mariadb_as_root(&[create_user(&user, &password)]).await?;
        probe(DbType::Mysql, &user, &password, &[]).await
    }
    .await;
    mariadb_drop(&[&user], &[]).await;
    let (info, checks) = result.unwrap();

    assert_eq!(info.flavor, ServerFlavor::Mariadb);
    assert!(info.version.contains("MariaDB"), "{info:?}");
    assert!(info.uptime_seconds.unwrap_or(0) > 0, "{info:?}");
    assert!(!info.read_only, "{info:?}");
    assert_eq!(info.account, format!("{user}@%"));

    assert_eq!(checks.len(), 3, "{checks:#?}");
    let process = check(&checks, "PROCESS", None);
    assert!(!process.granted);
    assert_eq!(
        process.grant,
        format!("GRANT PROCESS ON *.* TO '{user}'@'%';")
    );
    assert!(process.needed_for.contains("tablespace"), "{process:?}");
    let show = check(&checks, "SHOW DATABASES", None);
    assert!(!show.granted);
    assert_eq!(
        show.grant,
        format!("GRANT SHOW DATABASES ON *.* TO '{user}'@'%';")
    );
    assert!(!show.needed_for.is_empty());
    let view = check(&checks, "SHOW VIEW", None);
    assert!(!view.granted);
    assert_eq!(
        view.grant,
        format!("GRANT SHOW VIEW ON *.* TO '{user}'@'%';")
    );
    assert!(
        view.needed_for.contains("information_schema.TABLES"),
        "{view:?}"
    );
}

/// Granted directly; through a default role that inherits them from
/// another role; and not counted through a role the session does not enable.
#[tokio::test]
async fn mariadb_privileges_direct_and_through_roles() {
    let (direct, pw_direct) = mariadb_user();
    let (via_role, pw_via_role) = mariadb_user();
    let (not_enabled, pw_not_enabled) = mariadb_user();
    let inner = format!("dbfp_{}_inner", tag());
    let outer = format!("dbfp_{}_outer", tag());
    let result = async {
        mariadb_as_root(&[
            create_user(&direct, &pw_direct),
            create_user(&via_role, &pw_via_role),
            create_user(&not_enabled, &pw_not_enabled),
            format!(
                "GRANT PROCESS, SHOW DATABASES, SHOW VIEW ON *.* TO {}@'%'",
                literal(&direct)
            ),
            format!("CREATE ROLE {}", literal(&inner)),
            format!("CREATE ROLE {}", literal(&outer)),
            format!(
                "GRANT PROCESS, SHOW DATABASES, SHOW VIEW ON *.* TO {}",
                literal(&inner)
            ),
            format!("GRANT {} TO {}", literal(&inner), literal(&outer)),
            format!("GRANT {} TO {}@'%'", literal(&outer), literal(&via_role)),
            format!(
                "SET DEFAULT ROLE {} FOR {}@'%'",
                literal(&outer),
                literal(&via_role)
            ),
            format!("GRANT {} TO {}@'%'", literal(&outer), literal(&not_enabled)),
        ])
        .await?;
        Ok::<_, anyhow::Error>((
            probe(DbType::Mysql, &direct, &pw_direct, &[]).await?,
            probe(DbType::Mysql, &via_role, &pw_via_role, &[]).await?,
            probe(DbType::Mysql, &not_enabled, &pw_not_enabled, &[]).await?,
        ))
    }
    .await;
    mariadb_drop(&[&direct, &via_role, &not_enabled], &[&outer, &inner]).await;
    let ((_, direct_checks), (_, role_checks), (_, disabled_checks)) = result.unwrap();

    let all = |granted: bool| {
        vec![
            ("PROCESS".to_string(), None, granted),
            ("SHOW DATABASES".to_string(), None, granted),
            ("SHOW VIEW".to_string(), None, granted),
        ]
    };
    assert_eq!(granted(&direct_checks), all(true), "direct");
    assert_eq!(granted(&role_checks), all(true), "through the default role");
    assert_eq!(granted(&disabled_checks), all(false), "role not enabled");
}

/// A user name with a quote and a backslash: the reported grants, run as
/// they are, grant what was missing.
#[tokio::test]
async fn mariadb_grants_are_pasteable_for_a_hostile_user_name() {
    let user = format!("dbfp_{}_o'b\\s", tag());
    let password = format!("pw-{}", tag());
    let result = async {
        mariadb_as_root(&[create_user(&user, &password)]).await?;
        let (info, before) = probe(DbType::Mysql, &user, &password, &[]).await?;
        let grants: Vec<String> = before.iter().map(|c| c.grant.clone()).collect();
        mariadb_as_root(&grants).await?;
        // Global privileges apply from the next login: probe afresh.
        let (_, after) = probe(DbType::Mysql, &user, &password, &[]).await?;
        Ok::<_, anyhow::Error>((info, before, after))
    }
    .await;
    mariadb_drop(&[&user], &[]).await;
    let (info, before, after) = result.unwrap();

    assert_eq!(info.account, format!("{user}@%"));
    let escaped = user.replace('\\', "\\\\").replace('\'', "''");
    let process = check(&before, "PROCESS", None);
    assert!(!process.granted);
    assert_eq!(
        process.grant,
        format!("GRANT PROCESS ON *.* TO '{escaped}'@'%';")
    );
    assert!(before.iter().all(|c| !c.granted), "{before:#?}");
    assert!(after.iter().all(|c| c.granted), "{after:#?}");
    assert_eq!(after.len(), 3);
}

// ------------------------------------------------------------- PostgreSQL

async fn pg_as_admin(statements: &[String]) -> anyhow::Result<()> {
    let mut admin = pg_admin().await;
    for sql in statements {
        sqlx::raw_sql(sql)
            .execute(&mut admin)
            .await
            .map_err(|e| anyhow::anyhow!("{sql}: {e}"))?;
    }
    admin.close().await?;
    Ok(())
}

/// Databases first (their ACLs name the role), then roles; failures are
/// ignored.
async fn pg_drop(databases: &[&str], roles: &[&str]) {
    let mut admin = pg_admin().await;
    for db in databases {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", pg_ident(db));
        let _ = sqlx::raw_sql(&sql).execute(&mut admin).await;
    }
    for role in roles {
        let sql = format!("DROP ROLE IF EXISTS {}", pg_ident(role));
        let _ = sqlx::raw_sql(&sql).execute(&mut admin).await;
    }
    let _ = admin.close().await;
}

/// A database only its owner and those granted may connect to.
fn locked_database(name: &str) -> [String; 2] {
    [
        format!("CREATE DATABASE {}", pg_ident(name)),
        format!("REVOKE CONNECT ON DATABASE {} FROM PUBLIC", pg_ident(name)),
    ]
}

async fn pg_major() -> String {
    let mut admin = pg_admin().await;
    let num: i32 = sqlx::query_scalar("SELECT current_setting('server_version_num')::int")
        .fetch_one(&mut admin)
        .await
        .unwrap();
    let _ = admin.close().await;
    (num / 10_000).to_string()
}

#[tokio::test]
async fn postgres_connect_and_read_all_stats() {
    let p = format!("dbfp_{}", tag());
    let role = format!("{p}_mon");
    let (locked, open, gone) = (
        format!("{p}_locked"),
        format!("{p}_open"),
        format!("{p}_gone"),
    );
    let targets = vec![locked.clone(), open.clone(), gone.clone()];
    let result = async {
        let mut setup = vec![format!("CREATE ROLE {} LOGIN", pg_ident(&role))];
        setup.extend(locked_database(&locked));
        setup.push(format!("CREATE DATABASE {}", pg_ident(&open)));
        pg_as_admin(&setup).await?;
        let before = probe(DbType::Postgresql, &role, "", &targets).await?;
        pg_as_admin(&[format!("GRANT pg_monitor TO {}", pg_ident(&role))]).await?;
        let (_, monitor) = probe(DbType::Postgresql, &role, "", &targets).await?;
        let (su_info, superuser) = probe(DbType::Postgresql, "postgres", "", &targets).await?;
        Ok::<_, anyhow::Error>((before, monitor, su_info, superuser))
    }
    .await;
    pg_drop(&[&locked, &open], &[&role]).await;
    let ((info, checks), monitor, su_info, superuser) = result.unwrap();

    assert_eq!(info.flavor, ServerFlavor::Postgresql);
    let major = pg_major().await;
    assert!(info.version.starts_with(&format!("{major}.")), "{info:?}");
    assert!(info.uptime_seconds.unwrap_or(0) > 0, "{info:?}");
    assert!(!info.read_only, "{info:?}");
    assert_eq!(info.account, role);
    assert_eq!(su_info.account, "postgres");

    let stats = check(&checks, "pg_read_all_stats", None);
    assert!(!stats.granted);
    assert_eq!(
        stats.grant,
        format!("GRANT pg_read_all_stats TO \"{role}\";")
    );
    let denied = check(&checks, "CONNECT", Some(&locked));
    assert!(!denied.granted);
    assert_eq!(
        denied.grant,
        format!("GRANT CONNECT ON DATABASE \"{locked}\" TO \"{role}\";")
    );
    assert!(denied.needed_for.contains("pg_database_size"), "{denied:?}");
    assert!(check(&checks, "CONNECT", Some(&open)).granted);
    assert_eq!(
        checks.len(),
        3,
        "the dropped target is left out: {checks:#?}"
    );

    for (who, checks) in [("pg_monitor", &monitor), ("superuser", &superuser)] {
        assert_eq!(checks.len(), 3, "{who}: {checks:#?}");
        assert!(checks.iter().all(|c| c.granted), "{who}: {checks:#?}");
    }
}

/// A database and a role whose names need quoting: each reported grant,
/// run as it is, grants exactly what was missing.
#[tokio::test]
async fn postgres_grants_are_pasteable_for_hostile_names() {
    let p = format!("dbfp_{}", tag());
    let role = format!("{p}_r\"o'le");
    let weird = format!("{p}_we\"ird db");
    let targets = vec![weird.clone()];
    let grant_of = |checks: &[PrivilegeCheck], privilege: &str| {
        let found = checks.iter().find(|c| c.privilege == privilege);
        found
            .map(|c| c.grant.clone())
            .ok_or_else(|| anyhow::anyhow!("no {privilege} check in {checks:?}"))
    };
    let result = async {
        let mut setup = vec![format!("CREATE ROLE {} LOGIN", pg_ident(&role))];
        setup.extend(locked_database(&weird));
        pg_as_admin(&setup).await?;
        let (_, before) = probe(DbType::Postgresql, &role, "", &targets).await?;
        pg_as_admin(&[grant_of(&before, "CONNECT")?]).await?;
        let (_, after_connect) = probe(DbType::Postgresql, &role, "", &targets).await?;
        pg_as_admin(&[grant_of(&before, "pg_read_all_stats")?]).await?;
        let (_, after_stats) = probe(DbType::Postgresql, &role, "", &targets).await?;
        Ok::<_, anyhow::Error>((before, after_connect, after_stats))
    }
    .await;
    pg_drop(&[&weird], &[&role]).await;
    let (before, after_connect, after_stats) = result.unwrap();

    let quoted_role = role.replace('"', "\"\"");
    let quoted_db = weird.replace('"', "\"\"");
    let connect = check(&before, "CONNECT", Some(&weird));
    assert!(!connect.granted);
    assert_eq!(
        connect.grant,
        format!("GRANT CONNECT ON DATABASE \"{quoted_db}\" TO \"{quoted_role}\";")
    );
    let db = Some(weird.clone());
    assert_eq!(
        granted(&after_connect),
        vec![
            ("pg_read_all_stats".to_string(), None, false),
            ("CONNECT".to_string(), db.clone(), true),
        ]
    );
    assert_eq!(
        granted(&after_stats),
        vec![
            ("pg_read_all_stats".to_string(), None, true),
            ("CONNECT".to_string(), db, true),
        ]
    );
}
