//! A fresh, isolated world per integration test, on the real local services:
//! its own control-store database on PostgreSQL, its own broker prefix on
//! RabbitMQ, its own MariaDB user and databases. Nothing is shared with other
//! tests or earlier runs, and everything is dropped at the end.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

/// Each check runs on both pairs of backends: RabbitMQ with PostgreSQL, and
/// the in-process queue with SQLite. Each name is an `async fn(Backend)` of
/// the calling module, which has `Backend` in scope; a test binary gets the
/// macro with `#[macro_use] mod common;`.
#[allow(unused_macros)]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn rabbitmq_postgres() {
                super::$name(super::Backend::Fleet).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn memory_sqlite() {
                super::$name(super::Backend::Embedded).await
            }
        }
    )*};
}

pub mod backends;
pub mod fleet;
pub mod pki;
pub mod private_mariadb;
pub mod raw;
pub mod slow_link;
pub mod syncs;
pub mod tls_proxy;

#[allow(unused_imports)]
pub use self::backends::{
    ceil_mib, drop_pg_database, drop_pg_databases, grant_ident, ident, mariadb_exec,
    mariadb_expected_sizes, mariadb_root, mariadb_try_exec, pg_admin, pg_database,
    pg_expected_sizes, pg_ident, MIB,
};
#[allow(unused_imports)]
pub use self::fleet::{run_batch, run_batch_to_end, run_capacity_sync, sync_on, today, Fleet};
#[allow(unused_imports)]
pub use self::private_mariadb::PrivateMariaDb;
#[allow(unused_imports)]
pub use self::slow_link::SlowLink;

use std::sync::Arc;
use std::time::Duration;

use dbfleet::broker::Broker;
use dbfleet::config::{self, Settings};
use dbfleet::domain::{DbType, InstanceName};
use dbfleet::filters::DatabaseFilters;
use dbfleet::secret::PasswordRef;
use dbfleet::store::{Instance, NewInstance, Store};
use sqlx::{Connection, Executor, MySqlConnection, PgConnection};

pub const PG_ADMIN: &str = "postgres://postgres@127.0.0.1:5432/postgres";
pub const MARIADB_ADMIN: &str = "mysql://root@127.0.0.1:3306";
pub const AMQP: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// The workspace root, whichever package's tests include this module.
pub fn repo_root() -> std::path::PathBuf {
    let mut dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    while !dir.join("config/database_filters.yaml").exists() {
        assert!(
            dir.pop(),
            "no workspace root above {}",
            env!("CARGO_MANIFEST_DIR")
        );
    }
    dir
}

/// A short random tag for names: lower-case hex.
pub fn tag() -> String {
    format!("{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff)
}

/// The broker prefix of a world: `dbft-<unix seconds>-<tag>`. The time lets
/// `.ci/services` tell a killed run's leftover queues (hours old) from those
/// of a run going on now: retry and dead-letter queues never have consumers,
/// so "no consumer" alone would delete a live run's queues.
pub fn broker_prefix(tag: &str) -> String {
    let made = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    format!("dbft-{made}-{tag}")
}

/// Which pair of backends a world runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// PostgreSQL control store and RabbitMQ: the fleet deployment.
    Fleet,
    /// SQLite control store and the in-process queue: the embedded defaults.
    Embedded,
}

/// What a world changes from the defaults.
#[derive(Default)]
struct Custom<'a> {
    /// `""` or `:<password>`, after the user in the store's URL.
    store_password: &'a str,
    /// Appended to the store's URL (fleet only).
    store_query: &'a str,
    /// The broker's URL (fleet only); RabbitMQ on loopback by default.
    broker_url: Option<&'a str>,
    /// YAML lines added to the `broker:` section.
    broker: &'a str,
    /// YAML appended to the configuration.
    extra: &'a str,
}

pub struct World {
    pub tag: String,
    pub backend: Backend,
    pub settings: Settings,
    pub store: Store,
    pub broker: Arc<dyn Broker>,
    pub filters: Arc<DatabaseFilters>,
    store_db: String,
}

impl World {
    pub async fn new() -> Self {
        Self::with_yaml(Backend::Fleet, "").await
    }

    pub async fn on(backend: Backend) -> Self {
        Self::with_yaml(backend, "").await
    }

    /// `extra` is YAML appended to the generated configuration.
    pub async fn with_yaml(backend: Backend, extra: &str) -> Self {
        Self::build(
            backend,
            Custom {
                extra,
                ..Custom::default()
            },
        )
        .await
    }

    /// Like [`World::on`], with `broker` (YAML lines indented by two
    /// spaces) added to the `broker:` section.
    pub async fn with_broker_yaml(backend: Backend, broker: &str) -> Self {
        Self::build(
            backend,
            Custom {
                broker,
                ..Custom::default()
            },
        )
        .await
    }

    /// A fleet world whose control-store URL ends with `query`
    /// (`?sslmode=require`), and whose broker is `broker_url` with the
    /// `broker` YAML lines (indented by two spaces) added.
    pub async fn fleet_with(store_query: &str, broker_url: Option<&str>, broker: &str) -> Self {
        let custom = Custom {
            store_query,
            broker_url,
            broker,
            ..Custom::default()
        };
        Self::build(Backend::Fleet, custom).await
    }

    /// Like [`World::on`], with `password` in the control store's URL (the
    /// local PostgreSQL trusts any password, so the URL still works).
    pub async fn with_store_password(backend: Backend, password: &str) -> Self {
        let store_password = format!(":{password}");
        let custom = Custom {
            store_password: &store_password,
            ..Custom::default()
        };
        Self::build(backend, custom).await
    }

    async fn build(backend: Backend, custom: Custom<'_>) -> Self {
        let Custom {
            store_password,
            store_query,
            broker_url: fleet_broker,
            broker,
            extra,
        } = custom;
        let tag = tag();
        let store_db = format!("dbft_store_{tag}");
        let (store_url, broker_url) = match backend {
            Backend::Fleet => {
                let mut admin = PgConnection::connect(PG_ADMIN).await.unwrap();
                let sql = format!("CREATE DATABASE \"{store_db}\"");
                admin.execute(sql.as_str()).await.unwrap();
                let _ = admin.close().await;
                let url = format!(
                    "postgres://postgres{store_password}@127.0.0.1:5432/{store_db}{store_query}"
                );
                (url, fleet_broker.unwrap_or(AMQP).to_string())
            }
            Backend::Embedded => {
                let dir = std::env::temp_dir().join(&store_db);
                let url = format!("sqlite:{}/store.sqlite", dir.display());
                (url, "memory://".to_string())
            }
        };
        let yaml = format!(
            "store:\n  url: {store_url}\n  max_connections: 5\n\
             broker:\n  url: {broker_url}\n  prefix: {}\n{broker}\
             filters:\n  path: {}/config/database_filters.yaml\n{extra}",
            broker_prefix(&tag),
            repo_root().display()
        );
        let settings = config::load_from_str("test.yaml", &yaml, Vec::new()).unwrap();
        let (store, _) = dbfleet::fleet::open_store_migrating(&settings)
            .await
            .unwrap();
        let broker = dbfleet::fleet::open_broker(&settings).await.unwrap();
        let filters = Arc::new(dbfleet::fleet::load_filters(&settings).unwrap());
        Self {
            tag,
            backend,
            settings,
            store,
            broker,
            filters,
            store_db,
        }
    }

    /// The name of the world's control-store database.
    pub fn store_db(&self) -> &str {
        &self.store_db
    }

    pub async fn add_instance(
        &self,
        name: &str,
        db_type: DbType,
        port: u16,
        user: &str,
        password: PasswordRef,
    ) -> Instance {
        self.add_instance_tls(name, db_type, port, user, password, Default::default())
            .await
    }

    /// [`World::add_instance`] with these TLS settings.
    pub async fn add_instance_tls(
        &self,
        name: &str,
        db_type: DbType,
        port: u16,
        user: &str,
        password: PasswordRef,
        tls: dbfleet::tls::TlsSettings,
    ) -> Instance {
        let new = NewInstance {
            tls,
            name: InstanceName::parse(name).unwrap(),
            db_type,
            host: "127.0.0.1".to_string(),
            port,
            database: None,
            username: user.to_string(),
            password,
            managed: false,
            labels: dbfleet::labels::Labels::default(),
            credential: None,
        };
        self.store.instances().add(&new).await.unwrap()
    }

    /// Delete the broker objects (queues, retry tiers included, and
    /// exchanges) and the control-store database.
    pub async fn teardown(self) {
        if self.backend == Backend::Embedded {
            drop(self.store);
            let _ = std::fs::remove_dir_all(std::env::temp_dir().join(&self.store_db));
            return;
        }
        let conn = lapin::Connection::connect(AMQP, lapin::ConnectionProperties::default()).await;
        if let Ok(conn) = conn {
            if let Ok(ch) = conn.create_channel().await {
                let p = &self.settings.broker.prefix;
                let tiers = self.settings.broker.retry_delays.len();
                let retry = (0..tiers).map(|tier| format!("retry.{tier}"));
                let queues = ["jobs", "interactive", "results", "dead"].map(String::from);
                for q in queues.into_iter().chain(retry) {
                    let _ = ch
                        .queue_delete(&format!("{p}.{q}"), Default::default())
                        .await;
                }
                for x in [p.to_string(), format!("{p}.dlx")] {
                    let _ = ch.exchange_delete(&x, Default::default()).await;
                }
            }
            let _ = conn.close(200, "bye").await;
        }
        drop(self.store);
        if let Ok(mut admin) = PgConnection::connect(PG_ADMIN).await {
            let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.store_db);
            let _ = admin.execute(sql.as_str()).await;
        }
    }
}

impl World {
    /// Delete the queues of these network zones (jobs, interactive lane,
    /// retry tiers), which [`World::teardown`] does not know of.
    pub async fn delete_zone_queues(&self, zones: &[&str]) {
        let Ok(conn) = lapin::Connection::connect(AMQP, Default::default()).await else {
            return;
        };
        if let Ok(ch) = conn.create_channel().await {
            let b = &self.settings.broker;
            for zone in zones {
                let t = dbfleet::broker::Topology::new(&b.prefix, b.delivery_limit)
                    .with_retry_delays(b.retry_delays.clone())
                    .in_zone(Some(zone));
                let tiers = (0..b.retry_delays.len()).map(|tier| t.retry_queue(tier));
                let lanes = [
                    dbfleet::broker::Queue::Jobs,
                    dbfleet::broker::Queue::Interactive,
                ];
                for queue in tiers.chain(lanes.map(|lane| t.queue(lane))) {
                    let _ = ch.queue_delete(&queue, Default::default()).await;
                }
            }
        }
        let _ = conn.close(200, "bye").await;
    }
}

/// A MariaDB account that sees only its own databases (`<prefix>_…` and
/// `tmp_<prefix>…`), so inventories are exact even on a shared server.
pub struct MariaUser {
    pub user: String,
    pub password: String,
    pub prefix: String,
}

impl MariaUser {
    pub async fn new() -> Self {
        let tag = tag();
        let user = format!("dbft_{tag}");
        let password = format!("pw-{}", self::tag());
        let mut admin = MySqlConnection::connect(MARIADB_ADMIN).await.unwrap();
        for sql in [
            format!("CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'"),
            format!("CREATE USER '{user}'@'localhost' IDENTIFIED BY '{password}'"),
        ] {
            admin.execute(sql.as_str()).await.unwrap();
        }
        for host in ["%", "localhost"] {
            for sql in [
                format!("GRANT ALL ON `{user}\\_%`.* TO '{user}'@'{host}'"),
                format!("GRANT ALL ON `tmp\\_{user}%`.* TO '{user}'@'{host}'"),
                format!("GRANT PROCESS ON *.* TO '{user}'@'{host}'"),
            ] {
                admin.execute(sql.as_str()).await.unwrap();
            }
        }
        Self {
            prefix: user.clone(),
            user,
            password,
        }
    }

    /// Run statements as root.
    pub async fn admin(&self, statements: &[String]) {
        let mut admin = MySqlConnection::connect(MARIADB_ADMIN).await.unwrap();
        for sql in statements {
            admin.execute(sql.as_str()).await.unwrap();
        }
    }

    /// Create a database holding roughly `kib` KiB of InnoDB data.
    pub async fn create_database(&self, name: &str, kib: usize) {
        let mut statements = vec![
            format!("CREATE DATABASE `{name}`"),
            format!(
                "CREATE TABLE `{name}`.t (id INT AUTO_INCREMENT PRIMARY KEY, v TEXT) ENGINE=InnoDB"
            ),
        ];
        let rows = kib.div_ceil(64);
        for _ in 0..rows {
            statements.push(format!(
                "INSERT INTO `{name}`.t (v) SELECT REPEAT('x', 1024) FROM `{name}`.seq_1_to_64"
            ));
        }
        self.admin(&statements).await;
    }

    pub async fn drop_database(&self, name: &str) {
        self.admin(&[format!("DROP DATABASE IF EXISTS `{name}`")])
            .await;
    }

    /// Every database of this user, then the user itself.
    pub async fn teardown(self) {
        let mut admin = MySqlConnection::connect(MARIADB_ADMIN).await.unwrap();
        let rows: Vec<(Vec<u8>,)> = sqlx::query_as(
            "SELECT CAST(SCHEMA_NAME AS BINARY) FROM information_schema.SCHEMATA \
             WHERE SCHEMA_NAME LIKE CONCAT(?, '%') OR SCHEMA_NAME LIKE CONCAT('tmp_', ?, '%')",
        )
        .bind(&self.prefix)
        .bind(&self.prefix)
        .fetch_all(&mut admin)
        .await
        .unwrap_or_default();
        for (name,) in rows {
            let name = String::from_utf8_lossy(&name).replace('`', "``");
            let _ = admin
                .execute(format!("DROP DATABASE `{name}`").as_str())
                .await;
        }
        for host in ["%", "localhost"] {
            let _ = admin
                .execute(format!("DROP USER IF EXISTS '{}'@'{host}'", self.user).as_str())
                .await;
        }
    }

    /// Sizes as the reference computes them, straight from the server:
    /// InnoDB tablespace bytes by schema, ceil to MiB, minimum 1.
    pub async fn expected_sizes_mb(&self) -> std::collections::BTreeMap<String, i64> {
        let mut admin = MySqlConnection::connect(MARIADB_ADMIN).await.unwrap();
        let rows: Vec<(Vec<u8>, i64)> = sqlx::query_as(
            "SELECT CAST(NAME AS BINARY), CAST(FILE_SIZE AS SIGNED) \
             FROM information_schema.INNODB_SYS_TABLESPACES",
        )
        .fetch_all(&mut admin)
        .await
        .unwrap();
        let mut bytes = std::collections::BTreeMap::<String, i64>::new();
        for (name, size) in rows {
            let name = String::from_utf8_lossy(&name).to_string();
            let schema = name.split('/').next().unwrap().to_string();
            *bytes.entry(schema).or_default() += size.max(0);
        }
        bytes.into_iter().map(|(k, b)| (k, ceil_mib(b))).collect()
    }
}

/// A port on loopback where nothing listens.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Poll `check` until it returns something, bounded by [`within`].
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    within(what, async {
        loop {
            if let Some(found) = check().await {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
}

/// Run `f` with a generous upper bound, so a hang fails the test instead of CI.
pub async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(180), f)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}
