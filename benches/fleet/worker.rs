//! `dbfleet-worker` processes for a world: children of this executable
//! (`--phase worker`) that do what the binary's `main` does (load
//! `config/dbfleet.yaml` with `DBFLEET__…` overrides from the environment,
//! open the store and the broker, run a worker), stopping when their stdin
//! closes instead of on SIGTERM. The binary is argument parsing around
//! these same library calls; a bench of the root package cannot name
//! another package's binary.

use std::sync::Arc;

use dbfleet::fleet;
use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;

use crate::common::{repo_root, AMQP};
use crate::support::child::{stdin_closed, Timed};
use crate::support::phases::FILTERS;
use crate::world::{store_url, World};

/// In the child: a worker until stdin closes.
pub async fn run() {
    let path = repo_root().join("config/dbfleet.yaml");
    let settings = dbfleet::config::load(&path, std::env::vars()).unwrap();
    let _traces = dbfleet::telemetry::init(&settings.log, &settings.telemetry, "dbfleet-worker");
    let filters = Arc::new(fleet::load_filters(&settings).unwrap());
    let store = fleet::open_store(&settings).await.unwrap();
    let broker = fleet::open_broker(&settings).await.unwrap();
    let name = settings.worker.name.clone().unwrap_or_default();
    let worker = Arc::new(fleet::worker(
        &settings,
        store,
        broker.clone(),
        filters,
        name,
    ));
    worker.run(stdin_closed()).await;
    broker.close().await;
}

/// Start worker `n` of `world` with `concurrency` job slots.
pub fn spawn(world: &World, n: usize, concurrency: usize) -> Timed {
    let env = |k: &str, v: String| (format!("DBFLEET__{k}"), v);
    let envs = vec![
        env("STORE__URL", store_url(&world.db)),
        env("STORE__MAX_CONNECTIONS", "5".into()),
        env("BROKER__URL", AMQP.into()),
        env("BROKER__PREFIX", world.settings.broker.prefix.clone()),
        env("FILTERS__PATH", FILTERS.into()),
        env("WORKER__CONCURRENCY", concurrency.to_string()),
        env("WORKER__NAME", format!("bench-w{n}")),
        env("LOG__LEVEL", "warn".into()),
    ];
    let log_path = std::env::temp_dir().join(format!("dbfleet-bench-{}-w{n}.log", world.tag));
    let log = std::fs::File::create(log_path).unwrap();
    Timed::spawn(&["--phase".into(), "worker".into()], &envs, log)
}

/// Wait until the jobs queue has `n` consumers.
pub async fn until_consumers(world: &World, n: u32) {
    let queue = format!("{}.jobs", world.settings.broker.prefix);
    let conn = lapin::Connection::connect(AMQP, Default::default())
        .await
        .unwrap();
    let channel = conn.create_channel().await.unwrap();
    let passive = QueueDeclareOptions {
        passive: true,
        ..QueueDeclareOptions::default()
    };
    for _ in 0..600 {
        let q = channel
            .queue_declare(&queue, passive, FieldTable::default())
            .await
            .unwrap();
        if q.consumer_count() >= n {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let _ = conn.close(200, "bye").await;
}

/// Remove the workers' logs of a run that went well.
pub fn remove_logs(world: &World, workers: usize) {
    for n in 0..workers {
        let path = std::env::temp_dir().join(format!("dbfleet-bench-{}-w{n}.log", world.tag));
        let _ = std::fs::remove_file(path);
    }
}
