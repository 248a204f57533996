//! A world of the benchmark's own on the local services: a control-store
//! database on PostgreSQL, a broker prefix on RabbitMQ, and `N` instances
//! registered from a CSV file the way `dbfleet instance import FILE` does
//! it; dropped whole at the end.
//!
//! The store's commits are read from `pg_stat_database`, which a server
//! backend updates lazily (at most once a second while busy, on exit at the
//! latest): [`World::settle`] waits until no backend is connected to the
//! store, so a reading taken then counts everything before it.

use std::sync::Arc;
use std::time::Duration;

use dbfleet::broker::Broker;
use dbfleet::config::{self, Settings};
use dbfleet::import::{self, Format};
use dbfleet::store::{ImportRow, Store};
use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
use sqlx::{Connection, Executor, PgConnection};

use crate::common::{broker_prefix, tag, AMQP, PG_ADMIN};
use crate::support::args;
use crate::support::phases::FILTERS;

pub struct World {
    pub tag: String,
    pub db: String,
    pub settings: Settings,
    pub broker: Arc<dyn Broker>,
}

impl World {
    /// A migrated store with `instances` instances and a declared topology.
    pub async fn create(instances: usize) -> Self {
        let tag = tag();
        let db = format!("dbft_bench_{tag}");
        admin(&format!("CREATE DATABASE \"{db}\"")).await;
        if args::flag("--log-statements") {
            let sql = format!("ALTER DATABASE \"{db}\" SET log_min_duration_statement = 0");
            admin(&sql).await;
        }
        let yaml = format!(
            "store:\n  url: {}\n  max_connections: 5\n\
             broker:\n  url: {AMQP}\n  prefix: {}\n\
             filters:\n  path: {FILTERS}\nlog:\n  level: warn\n",
            store_url(&db),
            broker_prefix(&tag),
        );
        let settings = config::load_from_str("bench.yaml", &yaml, Vec::new()).unwrap();
        let (store, _) = dbfleet::fleet::open_store_migrating(&settings)
            .await
            .unwrap();
        if instances > 0 {
            import_instances(&store, &tag, instances).await;
        }
        drop(store);
        let broker = dbfleet::fleet::open_broker(&settings).await.unwrap();
        Self {
            tag,
            db,
            settings,
            broker,
        }
    }

    /// A new handle on the store (its schema checked, as every process does).
    pub async fn store(&self) -> Store {
        dbfleet::fleet::open_store(&self.settings).await.unwrap()
    }

    /// Wait until no backend is connected to the store.
    pub async fn settle(&self) {
        let mut admin = PgConnection::connect(PG_ADMIN).await.unwrap();
        for _ in 0..600 {
            let connected: i64 =
                sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = $1")
                    .bind(&self.db)
                    .fetch_one(&mut admin)
                    .await
                    .unwrap();
            if connected == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = admin.close().await;
    }

    /// Transactions committed in the store so far (`xact_commit`).
    pub async fn commits(&self) -> i64 {
        let mut admin = PgConnection::connect(PG_ADMIN).await.unwrap();
        let commits =
            sqlx::query_scalar("SELECT xact_commit FROM pg_stat_database WHERE datname = $1")
                .bind(&self.db)
                .fetch_one(&mut admin)
                .await
                .unwrap();
        let _ = admin.close().await;
        commits
    }

    /// The broker's queues and exchanges, then the store's database.
    pub async fn teardown(self) {
        self.broker.close().await;
        let p = self.settings.broker.prefix.clone();
        let tiers = self.settings.broker.retry_delays.len();
        let conn = lapin::Connection::connect(AMQP, Default::default())
            .await
            .unwrap();
        let ch = conn.create_channel().await.unwrap();
        let queues = ["jobs", "interactive", "results", "dead"]
            .map(String::from)
            .into_iter();
        for q in queues.chain((0..tiers).map(|t| format!("retry.{t}"))) {
            let name = format!("{p}.{q}");
            let _ = ch.queue_delete(&name, QueueDeleteOptions::default()).await;
        }
        for x in [p.clone(), format!("{p}.dlx")] {
            let _ = ch
                .exchange_delete(&x, ExchangeDeleteOptions::default())
                .await;
        }
        let _ = conn.close(200, "bye").await;
        admin(&format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            self.db
        ))
        .await;
    }
}

pub fn store_url(db: &str) -> String {
    format!("postgres://postgres@127.0.0.1:5432/{db}")
}

pub async fn admin(sql: &str) {
    let mut admin = PgConnection::connect(PG_ADMIN).await.unwrap();
    admin.execute(sql).await.unwrap();
    let _ = admin.close().await;
}

/// Write the instances to a CSV file and import it, as `dbfleet instance
/// import FILE` does: half MariaDB (as root), half PostgreSQL (as postgres).
async fn import_instances(store: &Store, tag: &str, instances: usize) {
    let path = std::env::temp_dir().join(format!("dbfleet-bench-{tag}.csv"));
    let mut csv = String::from("name,engine,host,port,username\n");
    for n in 0..instances {
        csv += &match n % 2 {
            0 => format!("maria-{n},mariadb,127.0.0.1,3306,root\n"),
            _ => format!("pg-{n},postgresql,127.0.0.1,5432,postgres\n"),
        };
    }
    std::fs::write(&path, csv).unwrap();
    let rows = import::read(&path, Format::Csv, Default::default()).unwrap();
    let _ = std::fs::remove_file(&path);
    let rows: Vec<ImportRow> = rows
        .into_iter()
        .map(|row| {
            let instance = dbfleet::reconcile::new_instance(&row.instance, false);
            ImportRow {
                instance,
                active: row.instance.active,
            }
        })
        .collect();
    store
        .instances()
        .import(&rows, &Default::default())
        .await
        .unwrap();
}
