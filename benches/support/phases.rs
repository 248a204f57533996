//! The two sides of a batch over declared instances, half pointing at the
//! local MariaDB and half at the local PostgreSQL: the bare loop (the same
//! inventory, server identity and size queries as a capacity job, straight
//! through the adapters, with the same concurrency, and nothing else) and
//! `dbfleet run` on the embedded defaults (SQLite and the in-process
//! queue). Each runs in a child process
//! ([`super::child::measure`] of [`args`]), which calls [`run`].

use std::sync::Arc;
use std::time::Instant;

use dbfleet::adapters::{ConnectOptions, Connection};
use dbfleet::config::{self, Settings};
use futures_util::{stream, StreamExt};
use secrecy::SecretString;

/// The filter file of every benchmark: the configuration's, plus the
/// benchmarks' own databases.
pub const FILTERS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/benches/support/database_filters.yaml"
);

/// The arguments that make a child run `phase` (`baseline` or `embedded`).
pub fn args(phase: &str, instances: usize, concurrency: usize) -> Vec<String> {
    [
        "--phase",
        phase,
        "--instances",
        &instances.to_string(),
        "--concurrency",
        &concurrency.to_string(),
    ]
    .map(String::from)
    .to_vec()
}

/// In the child: run `phase` and print `<seconds> <databases sized>`.
pub fn run(phase: &str, instances: usize, concurrency: usize) {
    let data_dir = std::env::temp_dir().join(format!("dbfleet-bench-{}", std::process::id()));
    let settings = settings(instances, concurrency, data_dir.to_str().unwrap());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let started = Instant::now();
    let databases = runtime.block_on(async {
        match phase {
            "baseline" => baseline(&settings).await,
            "embedded" => embedded(&settings).await,
            other => panic!("unknown phase {other}"),
        }
    });
    println!("{:.3} {databases}", started.elapsed().as_secs_f64());
    let _ = std::fs::remove_dir_all(data_dir);
}

/// `instances` declared instances, alternately MariaDB (as root) and
/// PostgreSQL (as postgres), on the embedded defaults.
pub fn settings(instances: usize, concurrency: usize, data_dir: &str) -> Settings {
    let filters = FILTERS;
    let mut yaml = format!(
        "data_dir: {data_dir}\nfilters:\n  path: {filters}\n\
         worker:\n  concurrency: {concurrency}\nlog:\n  level: error\ninstances:\n"
    );
    for n in 0..instances {
        if n % 2 == 0 {
            yaml += &format!(
                "  - {{ name: maria-{n}, engine: mariadb, host: 127.0.0.1, username: root }}\n"
            );
        } else {
            yaml += &format!(
                "  - {{ name: pg-{n}, engine: postgresql, host: 127.0.0.1, username: postgres }}\n"
            );
        }
    }
    config::load_from_str("bench.yaml", &yaml, Vec::new()).unwrap()
}

/// The floor: the same remote queries as a capacity job (the inventory,
/// the server's identity, the sizes), nothing else; the databases sized.
pub async fn baseline(settings: &Settings) -> usize {
    let filters = Arc::new(dbfleet::fleet::load_filters(settings).unwrap());
    let concurrency = usize::from(settings.worker.concurrency);
    let sized: Vec<usize> = stream::iter(settings.instances.clone())
        .map(|i| {
            let filters = filters.clone();
            let job = settings.job.clone();
            async move {
                let options = ConnectOptions {
                    tls: i.tls.clone(),
                    host: i.host.clone(),
                    port: i.port,
                    username: i.username.clone(),
                    password: SecretString::from(String::new()),
                    database: None,
                    connect_timeout: job.connect_timeout,
                    statement_timeout: job.statement_timeout,
                    lock_timeout: job.lock_timeout,
                };
                let mut conn = Connection::connect(i.db_type, &options).await.unwrap();
                let listed = conn.fetch_inventory().await.unwrap();
                let names = listed
                    .databases
                    .iter()
                    .filter(|d| !d.is_system || i.db_type == dbfleet::domain::DbType::Mysql)
                    .map(|d| d.name.as_str());
                let (targets, _) = filters.partition(i.db_type.as_str(), names);
                // A capacity job reads it too, to flag instances that share
                // a server.
                let _identity = conn.server_identity().await;
                let sizes = conn.fetch_capacity(&targets).await.unwrap();
                conn.close().await;
                sizes.sizes.len()
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    sized.iter().sum()
}

/// `dbfleet run`: migrate, reconcile, one batch to its end; the records filed.
pub async fn embedded(settings: &Settings) -> usize {
    let outcome = dbfleet::fleet::embedded::run(
        settings,
        &dbfleet::message::JobParams::default_for(dbfleet::message::JobKind::CapacitySync),
        dbfleet::fleet::dispatcher::Selection::AllActive,
        |_| {},
    )
    .await
    .unwrap();
    let batch = outcome.report.batch;
    assert_eq!(
        batch.status,
        dbfleet::store::BatchStatus::Success,
        "{batch:?}"
    );
    assert_eq!(batch.total as usize, settings.instances.len());
    usize::try_from(batch.summary.get("total_records")).unwrap()
}
