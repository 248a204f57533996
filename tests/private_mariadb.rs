//! What needs a MariaDB server of the test's own, because it changes or
//! measures something server-wide:
//! - InnoDB tables kept in the system tablespace (`ibdata1`), on a server
//!   started with `innodb_file_per_table=OFF`: they have no tablespace file
//!   of their own, so a size read from tablespace files alone leaves them
//!   out;
//! - how many tables a capacity sync opens, read from the server's global
//!   `Opened_tables`, which no other client moves there.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use chrono::NaiveDate;
use common::{ceil_mib, mariadb_exec, sync_on, Backend, PrivateMariaDb, World};
use dbfleet::domain::DbType;
use dbfleet::secret::PasswordRef;
use sqlx::MySqlConnection;

/// Bytes of the schema's InnoDB tables in the system tablespace, as root
/// reads them: data and index length of each table whose dictionary entry
/// is in space 0.
async fn system_tablespace_bytes(server: &PrivateMariaDb, schema: &str) -> i64 {
    let mut root = server.root().await;
    let bytes: Option<i64> = sqlx::query_scalar(
        "SELECT CAST(SUM(t.DATA_LENGTH + t.INDEX_LENGTH) AS SIGNED) \
         FROM information_schema.TABLES t \
         JOIN information_schema.INNODB_SYS_TABLES s \
           ON s.NAME = CONCAT(t.TABLE_SCHEMA, '/', t.TABLE_NAME) \
         WHERE t.TABLE_SCHEMA = ? AND s.SPACE = 0",
    )
    .bind(schema)
    .fetch_one(&mut root)
    .await
    .unwrap();
    bytes.unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_in_the_system_tablespace_count() {
    let server = PrivateMariaDb::start(&["--innodb-file-per-table=0"]).await;
    let world = World::on(Backend::Embedded).await;
    let (schema, user, password) = ("shared_ts", "mon", "mon-pw");
    let mut root = server.root().await;
    for sql in [
        format!("CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'"),
        format!("GRANT PROCESS, SHOW DATABASES, SHOW VIEW ON *.* TO '{user}'@'%'"),
        format!("CREATE DATABASE {schema}"),
        format!("CREATE TABLE {schema}.t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(1024)) ENGINE=InnoDB"),
    ] {
        mariadb_exec(&mut root, &sql).await;
    }
    for _ in 0..48 {
        let sql = format!(
            "INSERT INTO {schema}.t (v) SELECT REPEAT('x', 1000) FROM {schema}.seq_1_to_64"
        );
        mariadb_exec(&mut root, &sql).await;
    }
    mariadb_exec(&mut root, &format!("ANALYZE TABLE {schema}.t")).await;
    let var = format!("DBFT_SYSTS_PW_{}", world.tag);
    std::env::set_var(&var, password);
    let instance = world
        .add_instance(
            "private",
            DbType::Mysql,
            server.port,
            user,
            PasswordRef::Env(var),
        )
        .await;
    let day = NaiveDate::from_ymd_opt(2026, 4, 9).unwrap();

    let output = sync_on(&world, &instance, day).await;
    let rows = world.store.stats().databases(instance.id, day).await;
    let expected = system_tablespace_bytes(&server, schema).await;
    world.teardown().await;
    drop(server);

    assert!(expected >= 2 * 1024 * 1024, "3 MB of rows: {expected}");
    assert_eq!(output.databases, 1, "{output:?}");
    let rows = rows.unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].database_name, schema);
    assert_eq!(rows[0].size_mb, ceil_mib(expected), "{rows:?}");
}

async fn opened_tables(root: &mut MySqlConnection) -> i64 {
    let row: (String, String) = sqlx::query_as("SHOW GLOBAL STATUS LIKE 'Opened_tables'")
        .fetch_one(root)
        .await
        .unwrap();
    row.1.parse().unwrap()
}

/// A schema of many InnoDB tables and two MyISAM ones: sizing it opens the
/// MyISAM tables, not the InnoDB ones (their size is in the tablespace
/// view, which opens nothing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sizing_opens_only_the_tables_outside_the_tablespaces() {
    let server = PrivateMariaDb::start(&[]).await;
    let world = World::on(Backend::Embedded).await;
    let mut root = server.root().await;
    let schema = "many";
    let mut setup = vec![
        "CREATE USER 'mon'@'%' IDENTIFIED BY 'mon-pw'".to_string(),
        "GRANT PROCESS, SHOW DATABASES, SHOW VIEW ON *.* TO 'mon'@'%'".to_string(),
        format!("CREATE DATABASE {schema}"),
    ];
    for n in 0..200 {
        setup.push(format!(
            "CREATE TABLE {schema}.i{n} (id INT PRIMARY KEY) ENGINE=InnoDB"
        ));
    }
    for n in 0..2 {
        setup.push(format!("CREATE TABLE {schema}.m{n} (v INT) ENGINE=MyISAM"));
        setup.push(format!("INSERT INTO {schema}.m{n} VALUES (1), (2)"));
    }
    setup.push("FLUSH TABLES".to_string());
    for sql in &setup {
        mariadb_exec(&mut root, sql).await;
    }
    let var = format!("DBFT_OPEN_PW_{}", world.tag);
    std::env::set_var(&var, "mon-pw");
    let instance = world
        .add_instance(
            "private",
            DbType::Mysql,
            server.port,
            "mon",
            PasswordRef::Env(var),
        )
        .await;
    let day = NaiveDate::from_ymd_opt(2026, 4, 10).unwrap();

    let before = opened_tables(&mut root).await;
    let output = sync_on(&world, &instance, day).await;
    let after = opened_tables(&mut root).await;
    let rows = world.store.stats().databases(instance.id, day).await;
    world.teardown().await;
    drop(server);

    assert_eq!(output.databases, 1, "{output:?}");
    let rows = rows.unwrap();
    assert_eq!(
        rows[0].method.as_deref(),
        Some("tablespace+tables"),
        "{rows:?}"
    );
    let opened = after - before;
    assert!(
        (2..20).contains(&opened),
        "the two MyISAM tables (and a few of the server's own), not 200 InnoDB ones: {opened}"
    );
}
