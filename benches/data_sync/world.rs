//! The benchmark's databases on the local servers: a PostgreSQL source
//! holding `items`, and an empty `items` of the same shape on a PostgreSQL
//! target and on a MariaDB target, all three dropped at the end.
//!
//! The target tables are created here, not by the sync, so dbfleet and
//! its baselines write into the same table with the same indexes (the
//! primary key and `(updated_at, id)`, as on the source): index upkeep is
//! a large part of what a bulk write costs.

use std::time::Duration;

use dbfleet::adapters::sync::{Role, SyncSession};
use dbfleet::adapters::ConnectOptions;
use dbfleet::domain::DbType;
use sqlx::{Connection, MySqlConnection, PgConnection};

const PG_ADMIN: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const MY_ADMIN: &str = "mysql://root@127.0.0.1:3306";

/// The table every case copies.
pub const TABLE: &str = "items";

pub struct World {
    pub source: String,
    pub pg_target: String,
    pub my_target: String,
}

impl World {
    /// Three empty databases with unique names.
    pub async fn create() -> Self {
        let tag = format!("{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff);
        let world = World {
            source: format!("dbft_syncbench_src_{tag}"),
            pg_target: format!("dbft_syncbench_pg_{tag}"),
            my_target: format!("dbft_syncbench_my_{tag}"),
        };
        let mut pg = PgConnection::connect(PG_ADMIN).await.unwrap();
        for db in [&world.source, &world.pg_target] {
            exec_pg(&mut pg, &format!("CREATE DATABASE \"{db}\"")).await;
        }
        let mut my = MySqlConnection::connect(MY_ADMIN).await.unwrap();
        let sql = format!(
            "CREATE DATABASE `{}` CHARACTER SET utf8mb4",
            world.my_target
        );
        sqlx::raw_sql(&sql).execute(&mut my).await.unwrap();
        world
    }

    /// `rows` rows in the source (about 150 bytes each, like the
    /// reference measurements), and the empty target tables.
    pub async fn fill(&self, rows: usize) {
        let mut src = self.pg(&self.source).await;
        exec_pg(&mut src, &pg_table()).await;
        let insert = format!(
            "INSERT INTO items SELECT g, 'item ' || g, g % 10, (g % 1000000) / 100.0, \
               repeat(md5(g::text), 3), \
               timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second' \
             FROM generate_series(1, {rows}) g"
        );
        exec_pg(&mut src, &insert).await;
        exec_pg(&mut src, "VACUUM ANALYZE items").await;
        exec_pg(&mut self.pg(&self.pg_target).await, &pg_table()).await;
        let mut my = self.my().await;
        let create = "CREATE TABLE items (id bigint PRIMARY KEY, name text, status int, \
              amount decimal(12,2), payload text, updated_at datetime(6), \
              KEY items_updated (updated_at, id)) ENGINE InnoDB DEFAULT CHARSET utf8mb4";
        sqlx::raw_sql(create).execute(&mut my).await.unwrap();
    }

    /// Empties both target tables.
    pub async fn truncate(&self) {
        exec_pg(&mut self.pg(&self.pg_target).await, "TRUNCATE items").await;
        let mut my = self.my().await;
        sqlx::raw_sql("TRUNCATE TABLE items")
            .execute(&mut my)
            .await
            .unwrap();
    }

    pub async fn pg(&self, db: &str) -> PgConnection {
        let url = format!("postgres://postgres@127.0.0.1:5432/{db}");
        PgConnection::connect(&url).await.unwrap()
    }

    /// A connection to the MariaDB target, in UTC as dbfleet's are.
    pub async fn my(&self) -> MySqlConnection {
        let url = format!("mysql://root@127.0.0.1:3306/{}", self.my_target);
        let mut c = MySqlConnection::connect(&url).await.unwrap();
        sqlx::raw_sql("SET time_zone = '+00:00'")
            .execute(&mut c)
            .await
            .unwrap();
        c
    }

    /// A sync session, as a job opens it.
    pub async fn session(&self, engine: DbType, db: &str, role: Role) -> SyncSession {
        let options = ConnectOptions {
            host: "127.0.0.1".to_string(),
            port: engine.default_port(),
            username: match engine {
                DbType::Postgresql => "postgres",
                DbType::Mysql => "root",
            }
            .to_string(),
            password: String::new().into(),
            database: Some(db.to_string()),
            connect_timeout: Duration::from_secs(10),
            statement_timeout: Duration::from_secs(600),
            lock_timeout: Duration::from_secs(10),
            tls: Default::default(),
        };
        SyncSession::open(engine, &options, role).await.unwrap()
    }

    /// Drops the three databases; errors are ignored, so it can run after
    /// a failure whatever state it left.
    pub async fn drop(&self) {
        if let Ok(mut pg) = PgConnection::connect(PG_ADMIN).await {
            for db in [&self.source, &self.pg_target] {
                let sql = format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)");
                let _ = sqlx::raw_sql(&sql).execute(&mut pg).await;
            }
        }
        if let Ok(mut my) = MySqlConnection::connect(MY_ADMIN).await {
            let sql = format!("DROP DATABASE IF EXISTS `{}`", self.my_target);
            let _ = sqlx::raw_sql(&sql).execute(&mut my).await;
        }
    }
}

/// The shape of the reference measurements' table.
fn pg_table() -> String {
    "CREATE TABLE items (id bigint PRIMARY KEY, name text, status int, amount numeric(12,2), \
       payload text, updated_at timestamptz); \
     CREATE INDEX items_updated ON items (updated_at, id)"
        .to_string()
}

async fn exec_pg(c: &mut PgConnection, sql: &str) {
    sqlx::raw_sql(sql)
        .execute(c)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}
