//! The engine adapters against the real local servers (MariaDB on
//! 127.0.0.1:3306 as `root` without password, PostgreSQL on 127.0.0.1:5432
//! as `postgres` with trust authentication).
//!
//! Other tests share these servers, so every test works on databases and
//! users of its own, named from a random prefix, and drops them afterwards.
//! Expected sizes are computed independently of the adapter (MariaDB
//! decodes the tablespace names itself through its `filename` charset; the
//! helpers in `tests/common`), so a wrong decoding, grouping or rounding in
//! the adapter shows up as a mismatch.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{
    closed_port, grant_ident, ident, mariadb_exec, mariadb_expected_sizes, mariadb_root,
    pg_expected_sizes, pg_ident,
};
use dbfleet::adapters::mysql::MysqlConnection;
use dbfleet::adapters::postgres::PostgresConnection;
use dbfleet::adapters::{Capacity, ConnectOptions, DatabaseSize, Error, UnmeasuredReason};
use secrecy::SecretString;
use sqlx::Connection as _;

const MARIADB_PORT: u16 = 3306;
const POSTGRES_PORT: u16 = 5432;

fn prefix() -> String {
    let hex = uuid::Uuid::new_v4().simple().to_string();
    format!("dbfa_{}", &hex[..12])
}

fn options(port: u16, username: &str, password: &str, database: Option<&str>) -> ConnectOptions {
    ConnectOptions {
        tls: Default::default(),
        host: "127.0.0.1".to_string(),
        port,
        username: username.to_string(),
        password: SecretString::from(password.to_string()),
        database: database.map(str::to_string),
        connect_timeout: Duration::from_secs(10),
        statement_timeout: Duration::from_secs(30),
        lock_timeout: Duration::from_secs(5),
    }
}

fn sizes_by_name(sizes: &[DatabaseSize]) -> BTreeMap<String, i64> {
    sizes.iter().map(|s| (s.name.clone(), s.size_mb)).collect()
}

/// The targets not measured, with why.
fn reasons(capacity: &Capacity) -> BTreeMap<String, UnmeasuredReason> {
    capacity
        .unmeasured
        .iter()
        .map(|u| (u.name.clone(), u.reason))
        .collect()
}

// ---------------------------------------------------------------- MariaDB

/// A single-quoted string literal.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "''"))
}

#[tokio::test]
async fn mariadb_inventory_and_capacity_as_limited_user() {
    let p = prefix();
    let big = format!("{p}_big");
    let myisam = format!("{p}_myisam");
    let hostile = format!("{p}_x-1 é.ü`q");
    let user = format!("{p}_u");
    let password = format!("pw-{}", uuid::Uuid::new_v4().simple());

    let mut root = mariadb_root().await;
    mariadb_exec(&mut root, &format!("CREATE DATABASE {}", ident(&big))).await;
    mariadb_exec(
        &mut root,
        &format!(
            "CREATE TABLE {}.t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(1000)) ENGINE=InnoDB",
            ident(&big)
        ),
    )
    .await;
    for _ in 0..5 {
        mariadb_exec(
            &mut root,
            &format!(
                "INSERT INTO {}.t (v) WITH RECURSIVE s(n) AS \
                 (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 500) \
                 SELECT REPEAT('x', 1000) FROM s",
                ident(&big)
            ),
        )
        .await;
    }
    mariadb_exec(&mut root, &format!("CREATE DATABASE {}", ident(&myisam))).await;
    mariadb_exec(
        &mut root,
        &format!(
            "CREATE TABLE {}.t (v VARCHAR(100)) ENGINE=MyISAM",
            ident(&myisam)
        ),
    )
    .await;
    mariadb_exec(&mut root, &format!("CREATE DATABASE {}", ident(&hostile))).await;
    mariadb_exec(
        &mut root,
        &format!("CREATE TABLE {}.t (v INT) ENGINE=InnoDB", ident(&hostile)),
    )
    .await;
    mariadb_exec(
        &mut root,
        &format!("INSERT INTO {}.t VALUES (1), (2), (3)", ident(&hostile)),
    )
    .await;
    mariadb_exec(
        &mut root,
        &format!(
            "CREATE USER {}@'%' IDENTIFIED BY {}",
            literal(&user),
            literal(&password)
        ),
    )
    .await;
    for db in [&big, &myisam, &hostile] {
        mariadb_exec(
            &mut root,
            &format!(
                "GRANT ALL ON {}.* TO {}@'%'",
                grant_ident(db),
                literal(&user)
            ),
        )
        .await;
    }
    mariadb_exec(
        &mut root,
        &format!("GRANT PROCESS ON *.* TO {}@'%'", literal(&user)),
    )
    .await;
    // The MyISAM table's files, as root reads them: an empty table still
    // has its index file's header.
    let myisam_bytes: i64 = sqlx::query_scalar(
        "SELECT CAST(SUM(DATA_LENGTH + INDEX_LENGTH) AS SIGNED) FROM information_schema.TABLES \
         WHERE TABLE_SCHEMA = ?",
    )
    .bind(&myisam)
    .fetch_one(&mut root)
    .await
    .unwrap();

    let targets = vec![
        big.clone(),
        myisam.clone(),
        hostile.clone(),
        format!("{p}_nope"),
    ];
    let measured = async {
        let mut conn =
            MysqlConnection::connect(&options(MARIADB_PORT, &user, &password, None)).await?;
        let inventory = conn.fetch_inventory().await?.databases;
        let mut attempts = Vec::new();
        // Files may still be growing from background work right after the
        // inserts; a measurement counts only when the independent figures
        // agree before and after it.
        for _ in 0..5 {
            let before = mariadb_expected_sizes(&mut root, &p).await;
            let sizes = conn.fetch_capacity(&targets).await?;
            let after = mariadb_expected_sizes(&mut root, &p).await;
            let stable = before == after;
            attempts.push((before, sizes));
            if stable {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        conn.close().await;
        Ok::<_, Error>((inventory, attempts))
    }
    .await;

    for db in [&big, &myisam, &hostile] {
        let _ = sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {}", ident(db)))
            .execute(&mut root)
            .await;
    }
    let _ = sqlx::raw_sql(&format!("DROP USER IF EXISTS {}@'%'", literal(&user)))
        .execute(&mut root)
        .await;
    let _ = root.close().await;

    let (inventory, attempts) = measured.unwrap();
    let listed: BTreeMap<&str, bool> = inventory
        .iter()
        .map(|i| (i.name.as_str(), i.is_system))
        .collect();
    for db in [&big, &myisam, &hostile] {
        assert_eq!(listed.get(db.as_str()), Some(&false), "{db} in {listed:?}");
    }
    assert_eq!(listed.get("information_schema"), Some(&true), "{listed:?}");

    let (expected, sizes) = attempts.last().unwrap();
    // The expectation itself must cover the interesting cases, or the
    // comparison below proves little.
    let expected_big = *expected.get(&big).expect("tablespace of the big database");
    assert!(
        expected_big >= 2,
        "2.5 MB of rows is at least 2 MiB: {expected:?}"
    );
    assert_eq!(expected.get(&hostile), Some(&1), "{expected:?}");
    assert!(!expected.contains_key(&myisam), "{expected:?}");

    let got = sizes_by_name(&sizes.sizes);
    let mut want = expected.clone();
    // Tables outside InnoDB count (they used to weigh 0): the MyISAM
    // table's files, rounded up.
    assert!(
        myisam_bytes > 0,
        "an empty MyISAM table has an index header"
    );
    want.insert(myisam.clone(), common::ceil_mib(myisam_bytes));
    assert_eq!(got, want);
    assert!(!got.contains_key(&format!("{p}_nope")));
    assert_eq!(
        reasons(sizes),
        BTreeMap::from([(format!("{p}_nope"), UnmeasuredReason::Dropped)])
    );
    for s in &sizes.sizes {
        assert_eq!(s.data_size_mb, Some(s.size_mb), "{s:?}");
        assert_eq!(s.log_size_mb, None, "{s:?}");
        assert_eq!(s.collected_at, sizes.sizes[0].collected_at);
    }
    let method = |db: &str| {
        let s = sizes.sizes.iter().find(|s| s.name == db).unwrap();
        s.method.as_str()
    };
    assert_eq!((method(&big), method(&myisam)), ("tablespace", "tables"));
}

#[tokio::test]
async fn mariadb_wrong_password_is_auth_error() {
    let secret = format!("wrong-{}", uuid::Uuid::new_v4().simple());
    let err = MysqlConnection::connect(&options(MARIADB_PORT, "root", &secret, None))
        .await
        .err()
        .expect("login with a wrong password must fail");
    assert!(matches!(err, Error::Auth(_)), "{err:?}");
    assert!(!err.to_string().contains(&secret), "{err}");
}

#[tokio::test]
async fn mariadb_unknown_database_is_connect_error() {
    let db = format!("{}_missing", prefix());
    let err = MysqlConnection::connect(&options(MARIADB_PORT, "root", "", Some(&db)))
        .await
        .err()
        .expect("connecting to a missing database must fail");
    assert!(matches!(err, Error::Connect(_)), "{err:?}");
}

#[tokio::test]
async fn mariadb_closed_port_is_connect_error() {
    let port = closed_port();
    let err = MysqlConnection::connect(&options(port, "root", "", None))
        .await
        .err()
        .expect("nothing listens there");
    assert!(matches!(err, Error::Connect(_)), "{err:?}");
}

/// A server that accepts the TCP connection and then says nothing: only
/// the connect timeout can end the wait.
#[tokio::test]
async fn silent_server_is_timeout_error() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });

    let mut o = options(port, "root", "", None);
    o.connect_timeout = Duration::from_secs(1);
    let started = Instant::now();
    let mysql = MysqlConnection::connect(&o).await.err();
    let mysql_elapsed = started.elapsed();
    let started = Instant::now();
    let postgres = PostgresConnection::connect(&o).await.err();
    let postgres_elapsed = started.elapsed();
    holder.abort();

    let mysql = mysql.expect("MySQL handshake cannot complete");
    assert!(matches!(mysql, Error::Timeout(_)), "{mysql:?}");
    assert!(mysql_elapsed < Duration::from_secs(5), "{mysql_elapsed:?}");
    let postgres = postgres.expect("PostgreSQL startup cannot complete");
    assert!(matches!(postgres, Error::Timeout(_)), "{postgres:?}");
    assert!(
        postgres_elapsed < Duration::from_secs(5),
        "{postgres_elapsed:?}"
    );
}

// ------------------------------------------------------------- PostgreSQL

async fn postgres_connect(database: &str) -> sqlx::PgConnection {
    sqlx::PgConnection::connect(&format!("postgres://postgres@127.0.0.1:5432/{database}"))
        .await
        .expect("PostgreSQL connection")
}

#[tokio::test]
async fn postgres_inventory_and_capacity() {
    let p = prefix();
    let big = format!("{p}_big");
    let small = format!("{p}_small é-\"q");

    let mut root = postgres_connect("postgres").await;
    for db in [&big, &small] {
        sqlx::raw_sql(&format!("CREATE DATABASE {}", pg_ident(db)))
            .execute(&mut root)
            .await
            .unwrap();
    }
    {
        let mut conn = postgres_connect(&big).await;
        sqlx::raw_sql(
            "CREATE TABLE t AS SELECT repeat('x', 1000) AS v FROM generate_series(1, 2500)",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();
    }

    let targets = vec![big.clone(), small.clone(), format!("{p}_nope")];
    let measured = async {
        let mut conn =
            PostgresConnection::connect(&options(POSTGRES_PORT, "postgres", "", None)).await?;
        let inventory = conn.fetch_inventory().await?.databases;
        let mut attempts = Vec::new();
        for _ in 0..5 {
            let before = pg_expected_sizes(&mut root, [&big, &small]).await;
            let sizes = conn.fetch_capacity(&targets).await?;
            let after = pg_expected_sizes(&mut root, [&big, &small]).await;
            let stable = before == after;
            attempts.push((before, sizes));
            if stable {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let unknown_only = conn.fetch_capacity(&[format!("{p}_nope")]).await;
        conn.close().await;
        Ok::<_, Error>((inventory, attempts, unknown_only))
    }
    .await;

    for db in [&big, &small] {
        let _ = sqlx::raw_sql(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            pg_ident(db)
        ))
        .execute(&mut root)
        .await;
    }
    let _ = root.close().await;

    let (inventory, attempts, unknown_only) = measured.unwrap();
    let listed: BTreeMap<&str, bool> = inventory
        .iter()
        .map(|i| (i.name.as_str(), i.is_system))
        .collect();
    assert_eq!(listed.get(big.as_str()), Some(&false), "{listed:?}");
    assert_eq!(listed.get(small.as_str()), Some(&false), "{listed:?}");
    assert_eq!(listed.get("postgres"), Some(&true), "{listed:?}");
    // Closed to connections, it is listed all the same (and flagged, as a
    // template).
    assert_eq!(listed.get("template0"), Some(&true), "{listed:?}");
    if let Some(is_system) = listed.get("template1") {
        assert!(is_system, "template1 is a template");
    }

    let (expected, sizes) = attempts.last().unwrap();
    assert!(expected[&big] > expected[&small], "{expected:?}");
    assert_eq!(sizes_by_name(&sizes.sizes), *expected);
    for s in &sizes.sizes {
        assert_eq!(s.data_size_mb, Some(s.size_mb), "{s:?}");
        assert_eq!(s.log_size_mb, None, "{s:?}");
        assert_eq!(s.method.as_str(), "pg_database_size");
    }
    let nope = BTreeMap::from([(format!("{p}_nope"), UnmeasuredReason::Dropped)]);
    assert_eq!(reasons(sizes), nope);

    // No size for an unknown database: it is reported as gone, not as a
    // failure of the instance.
    let unknown_only = unknown_only.expect("an unknown database is not an error");
    assert!(unknown_only.sizes.is_empty());
    assert_eq!(reasons(&unknown_only), nope);
}

#[tokio::test]
async fn postgres_missing_database_is_connect_error() {
    let db = format!("{}_missing", prefix());
    let err = PostgresConnection::connect(&options(POSTGRES_PORT, "postgres", "", Some(&db)))
        .await
        .err()
        .expect("connecting to a missing database must fail");
    assert!(matches!(err, Error::Connect(_)), "{err:?}");
}

#[tokio::test]
async fn postgres_closed_port_is_connect_error() {
    let port = closed_port();
    let err = PostgresConnection::connect(&options(port, "postgres", "", None))
        .await
        .err()
        .expect("nothing listens there");
    assert!(matches!(err, Error::Connect(_)), "{err:?}");
}
