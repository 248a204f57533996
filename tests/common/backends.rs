//! The database servers as the tests set them up and measure them, apart
//! from the adapters: root connections, quoting, PostgreSQL databases of our
//! own, and expected sizes computed the way the servers report them.

use std::collections::BTreeMap;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions as _, Connection as _, MySqlConnection, PgConnection, Row as _};

use super::{MARIADB_ADMIN, PG_ADMIN};

pub const MIB: i64 = 1024 * 1024;

/// Bytes to whole MiB, rounded up, at least 1 for anything stored; 0 for
/// nothing.
pub fn ceil_mib(bytes: i64) -> i64 {
    if bytes <= 0 {
        0
    } else {
        ((bytes + MIB - 1) / MIB).max(1)
    }
}

// ---------------------------------------------------------------- MariaDB

pub async fn mariadb_root() -> MySqlConnection {
    MySqlConnection::connect(MARIADB_ADMIN)
        .await
        .expect("MariaDB root connection")
}

/// A backtick-quoted identifier.
pub fn ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// A database name in GRANT, where `_` and `%` are wildcards.
pub fn grant_ident(name: &str) -> String {
    ident(
        &name
            .replace('\\', "\\\\")
            .replace('_', "\\_")
            .replace('%', "\\%"),
    )
}

/// Run `sql` (text protocol), keeping the error.
pub async fn mariadb_try_exec(conn: &mut MySqlConnection, sql: &str) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(sql).execute(&mut *conn).await.map(|_| ())
}

/// Run `sql` (text protocol); a failure panics, naming the statement.
pub async fn mariadb_exec(conn: &mut MySqlConnection, sql: &str) {
    mariadb_try_exec(conn, sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Expected MiB per database, independently of the adapters: InnoDB
/// tablespace bytes from `INNODB_SYS_TABLESPACES`, grouped by database under
/// the name the server itself decodes from the on-disk name
/// (`CONVERT(… USING filename)`), then [`ceil_mib`]. Only tablespaces whose
/// raw name matches the `LIKE` pattern `<raw_prefix>%` (`""`: all of them);
/// names the server cannot decode are left out. A database without
/// tablespace is absent (the adapter reports it as 0).
pub async fn mariadb_expected_sizes(
    root: &mut MySqlConnection,
    raw_prefix: &str,
) -> BTreeMap<String, i64> {
    let rows = sqlx::query(
        "SELECT CONVERT(CONVERT(CONVERT(SUBSTRING_INDEX(NAME, '/', 1) USING binary) \
                USING filename) USING utf8mb4), \
                FILE_SIZE \
         FROM information_schema.INNODB_SYS_TABLESPACES \
         WHERE NAME LIKE CONCAT(?, '%')",
    )
    .bind(raw_prefix)
    .fetch_all(&mut *root)
    .await
    .unwrap();
    let mut bytes: BTreeMap<String, i64> = BTreeMap::new();
    for row in rows {
        let Ok(Some(name)) = row.try_get::<Option<String>, _>(0) else {
            continue;
        };
        let size: u64 = row.try_get(1).unwrap();
        *bytes.entry(name).or_default() += i64::try_from(size).unwrap();
    }
    bytes
        .into_iter()
        .map(|(name, b)| (name, ceil_mib(b)))
        .collect()
}

// ------------------------------------------------------------- PostgreSQL

pub async fn pg_admin() -> PgConnection {
    PgConnection::connect(PG_ADMIN).await.unwrap()
}

/// A double-quoted identifier.
pub fn pg_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A database holding a table of `rows` rows of about 500 bytes.
pub async fn pg_database(admin: &mut PgConnection, name: &str, rows: u32) {
    let sql = format!("CREATE DATABASE {}", pg_ident(name));
    sqlx::raw_sql(&sql)
        .execute(&mut *admin)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let mut db = PgConnectOptions::new_without_pgpass()
        .host("127.0.0.1")
        .port(5432)
        .username("postgres")
        .database(name)
        .connect()
        .await
        .unwrap_or_else(|e| panic!("connect to {name:?}: {e}"));
    sqlx::raw_sql(&format!(
        "CREATE TABLE t AS SELECT g, repeat('x', 500) AS v FROM generate_series(1, {rows}) g"
    ))
    .execute(&mut db)
    .await
    .unwrap();
    db.close().await.unwrap();
}

/// Drop each of `names`, connections and all; failures are ignored.
pub async fn drop_pg_databases(names: &[String]) {
    let mut admin = pg_admin().await;
    for name in names {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", pg_ident(name));
        let _ = sqlx::raw_sql(&sql).execute(&mut admin).await;
    }
    let _ = admin.close().await;
}

pub async fn drop_pg_database(name: &str) {
    drop_pg_databases(&[name.to_string()]).await;
}

/// `pg_database_size` of each of `names`, looked up by name, in whole MiB
/// rounded down.
pub async fn pg_expected_sizes<'a>(
    admin: &mut PgConnection,
    names: impl IntoIterator<Item = &'a String>,
) -> BTreeMap<String, i64> {
    let mut sizes = BTreeMap::new();
    for name in names {
        let bytes: i64 = sqlx::query_scalar("SELECT pg_database_size($1::text::name)")
            .bind(name)
            .fetch_one(&mut *admin)
            .await
            .unwrap_or_else(|e| panic!("size of {name:?}: {e}"));
        sizes.insert(name.clone(), bytes / MIB);
    }
    sizes
}
