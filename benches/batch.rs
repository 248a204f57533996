//! A batch over 200 declared instances on the embedded defaults (SQLite and
//! the in-process queue), against a baseline measured in the same run: the
//! same inventory and size queries issued straight through the adapters with
//! the same concurrency, with no store, no queue and no bookkeeping.
//!
//! Run: `cargo bench --bench batch` (optionally `-- --instances 200 --concurrency 4`).
//! Needs the local MariaDB and PostgreSQL (see README). Each phase runs in a
//! child process under `/usr/bin/time`, so wall time and peak RSS are each
//! phase's own.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use dbfleet::adapters::{ConnectOptions, Connection};
use dbfleet::config::{self, Settings};
use futures_util::{stream, StreamExt};
use secrecy::SecretString;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn settings(instances: usize, concurrency: usize, data_dir: &str) -> Settings {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut yaml = format!(
        "data_dir: {data_dir}\nfilters:\n  path: {root}/config/database_filters.yaml\n\
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

/// The floor: the same remote queries, nothing else.
async fn baseline(settings: &Settings) -> usize {
    let filters = Arc::new(dbfleet::fleet::load_filters(settings).unwrap());
    let concurrency = usize::from(settings.worker.concurrency);
    let sized: Vec<usize> = stream::iter(settings.instances.clone())
        .map(|i| {
            let filters = filters.clone();
            let job = settings.job.clone();
            async move {
                let options = ConnectOptions {
                    tls: Default::default(),
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

async fn embedded(settings: &Settings) -> usize {
    let outcome = dbfleet::fleet::embedded::run(
        settings,
        dbfleet::message::JobKind::CapacitySync,
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

/// Run one phase in a child under `/usr/bin/time`; (wall s, peak RSS MiB, databases).
fn measure(phase: &str, instances: usize, concurrency: usize) -> (f64, f64, usize) {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("/usr/bin/time")
        .args(["-f", "TIME %e %M"])
        .arg(exe)
        .args([
            "--phase",
            phase,
            "--instances",
            &instances.to_string(),
            "--concurrency",
            &concurrency.to_string(),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{phase} failed:\n{stderr}");
    let line = stderr.lines().find(|l| l.starts_with("TIME ")).unwrap();
    let mut fields = line.split_whitespace().skip(1);
    let _wall: f64 = fields.next().unwrap().parse().unwrap();
    let rss_kib: f64 = fields.next().unwrap().parse().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut fields = stdout.split_whitespace();
    let secs: f64 = fields.next().unwrap().parse().unwrap();
    let databases: usize = fields.next().unwrap().parse().unwrap();
    (secs, rss_kib / 1024.0, databases)
}

fn main() {
    let instances = arg("--instances", 200);
    let concurrency = arg("--concurrency", 4);
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--phase") {
        let phase = args[i + 1].clone();
        let data_dir = std::env::temp_dir().join(format!("dbfleet-bench-{}", std::process::id()));
        let settings = settings(instances, concurrency, data_dir.to_str().unwrap());
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let started = Instant::now();
        let databases = runtime.block_on(async {
            match phase.as_str() {
                "baseline" => baseline(&settings).await,
                _ => embedded(&settings).await,
            }
        });
        println!("{:.3} {databases}", started.elapsed().as_secs_f64());
        let _ = std::fs::remove_dir_all(data_dir);
        return;
    }
    println!("batch over {instances} instances (half MariaDB, half PostgreSQL, local), concurrency {concurrency}");
    let (base_s, base_mb, base_dbs) = measure("baseline", instances, concurrency);
    let (run_s, run_mb, run_dbs) = measure("embedded", instances, concurrency);
    println!(
        "{:<40} {:>9} {:>14} {:>10} {:>9}",
        "phase", "wall (s)", "peak RSS (MiB)", "databases", "ratio"
    );
    println!(
        "{:<40} {:>9.2} {:>14.1} {:>10} {:>9}",
        "baseline: raw queries through adapters", base_s, base_mb, base_dbs, "1.00x"
    );
    println!(
        "{:<40} {:>9.2} {:>14.1} {:>10} {:>8.2}x",
        "dbfleet run (SQLite + in-process queue)",
        run_s,
        run_mb,
        run_dbs,
        run_s / base_s
    );
    println!("peak memory ratio: {:.2}x", run_mb / base_mb);
}
