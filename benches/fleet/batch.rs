//! One batch on the fleet deployment: a world of its own, `dbfleet serve`
//! in this process, `workers` worker processes sharing the concurrency, a
//! capacity sync of every instance from its dispatch to its last fold.
//!
//! Wall time runs from just before the dispatch to the batch's
//! `finished_at` (written by the fold that ended it). Commits are the
//! store's `xact_commit` over the whole run (the workers' and the control
//! plane's start-up schema checks, the dispatch, every job, every fold, the
//! sweeper), less this benchmark's own polls of the batch. CPU time is the
//! fleet's own: each worker process's whole life, and this process's (the
//! control plane's) from the dispatch to the batch's end.

use std::time::Duration;

use chrono::Utc;
use dbfleet::fleet::dispatcher::{self, BatchRequest, Selection};
use dbfleet::message::JobKind;
use dbfleet::store::{Batch, BatchStatus, Store};
use tokio::runtime::Runtime;
use tokio_util::sync::CancellationToken;

use crate::support::{child, phases};
use crate::table::{Row, Series};
use crate::worker;
use crate::world::World;

/// What one fleet batch measured.
#[derive(Debug, Clone)]
pub struct FleetRun {
    pub secs: f64,
    pub commits_per_job: f64,
    /// Peak RSS of each worker process, MiB.
    pub worker_rss: Vec<f64>,
    /// CPU seconds of the worker processes and the control plane.
    pub cpu_secs: f64,
    pub records: i64,
}

/// A batch over `instances` instances on `workers` worker processes of
/// `concurrency` job slots each.
pub async fn fleet(instances: usize, workers: usize, concurrency: usize) -> FleetRun {
    let world = World::create(instances).await;
    world.settle().await;
    let before = world.commits().await;
    let store = world.store().await;
    let shutdown = CancellationToken::new();
    let serve = {
        let (settings, store, broker) =
            (world.settings.clone(), store.clone(), world.broker.clone());
        let token = shutdown.clone();
        tokio::spawn(async move { dbfleet::fleet::serve(&settings, store, broker, token).await })
    };
    let running: Vec<_> = (0..workers)
        .map(|n| worker::spawn(&world, n, concurrency))
        .collect();
    worker::until_consumers(&world, workers as u32).await;
    let started = Utc::now();
    let own_cpu = child::own_cpu_secs();
    let (batch, polls) = run_batch(&world, &store).await;
    let control_plane_cpu = child::own_cpu_secs() - own_cpu;
    let usage: Vec<_> = running.into_iter().map(|w| w.stop()).collect();
    shutdown.cancel();
    serve.await.unwrap().unwrap();
    drop(store);
    world.settle().await;
    let commits = world.commits().await - before - polls;
    worker::remove_logs(&world, workers);
    world.teardown().await;
    let finished = batch.finished_at.unwrap();
    FleetRun {
        secs: (finished - started).to_std().unwrap().as_secs_f64(),
        commits_per_job: commits as f64 / instances.max(1) as f64,
        worker_rss: usage.iter().map(|u| u.rss_mib).collect(),
        cpu_secs: control_plane_cpu + usage.iter().map(|u| u.cpu_secs).sum::<f64>(),
        records: batch.summary.get("total_records"),
    }
}

/// Dispatch a capacity sync of every instance and poll it to its end; the
/// batch and the number of polls (one commit each).
async fn run_batch(world: &World, store: &Store) -> (Batch, i64) {
    let request = BatchRequest {
        params: &dbfleet::message::JobParams::default_for(JobKind::CapacitySync),
        selection: Selection::AllActive,
        deadline: world.settings.batch.deadline,
        requested_by: Some("bench"),
        interactive: false,
    };
    let batch = dispatcher::start_batch(store, world.broker.as_ref(), &request)
        .await
        .unwrap();
    let mut polls = 0;
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = store.batches().get(batch.id).await.unwrap().unwrap();
        polls += 1;
        if now.status.is_terminal() {
            assert_eq!(now.status, BatchStatus::Success, "{now:?}");
            return (now, polls);
        }
    }
}

/// One run of the batch section at size `n`: the bare loop, `dbfleet run`,
/// and the fleet with one and two worker processes, `concurrency` in all.
pub fn measure(rt: &Runtime, n: usize, concurrency: usize, series: &mut Series) {
    let bare = child::measure(&phases::args("baseline", n, concurrency));
    let embedded = child::measure(&phases::args("embedded", n, concurrency));
    let one = rt.block_on(fleet(n, 1, concurrency));
    let two = rt.block_on(fleet(n, 2, (concurrency / 2).max(1)));
    eprintln!(
        "  N={n}: bare {:.2}s ({} databases), embedded {:.2}s ({} records), \
         fleet×1 {:.2}s ({} records, {:.2} commits/job), fleet×2 {:.2}s ({:.2} commits/job)",
        bare.secs,
        bare.databases,
        embedded.secs,
        embedded.databases,
        one.secs,
        one.records,
        one.commits_per_job,
        two.secs,
        two.commits_per_job
    );
    series.push("bare", n, bare.secs);
    series.push("embedded", n, embedded.secs);
    series.push("fleet1", n, one.secs);
    series.push("fleet2", n, two.secs);
    series.push("commits1", n, one.commits_per_job);
    series.push("commits2", n, two.commits_per_job);
    series.push("sized_bare", n, bare.databases as f64);
    series.push("sized_fleet1", n, one.records as f64);
    let per_job = |cpu_secs: f64| cpu_secs * 1000.0 / n.max(1) as f64;
    series.push("cpu_bare", n, per_job(bare.cpu_secs));
    series.push("cpu_embedded", n, per_job(embedded.cpu_secs));
    series.push("cpu_fleet1", n, per_job(one.cpu_secs));
    series.push("cpu_fleet2", n, per_job(two.cpu_secs));
}

/// The batch section's CPU rows at size `n`: each side's own processes,
/// per job, against the bare loop's process.
pub fn cpu_rows(series: &Series, n: usize) -> Vec<Row> {
    let bare = series.get("cpu_bare", n);
    let row = |name: &'static str, figure: &str| {
        Row::new(figure, n, "ms", series.get(name, n)).baseline(
            "bare loop",
            series.get(name, n),
            bare,
        )
    };
    vec![
        Row::new("own CPU per job: bare loop", n, "ms", bare),
        row("cpu_embedded", "own CPU per job: `dbfleet run`"),
        row(
            "cpu_fleet1",
            "own CPU per job: fleet, 1 worker + control plane",
        ),
        row(
            "cpu_fleet2",
            "own CPU per job: fleet, 2 workers + control plane",
        ),
    ]
}

/// The batch section's rows at size `n`.
pub fn rows(series: &Series, n: usize, concurrency: usize) -> Vec<Row> {
    let bare = series.get("bare", n);
    let fleet_target = if n <= 100 { "≤ 1.20×" } else { "≤ 1.10×" };
    let half = (concurrency / 2).max(1);
    let fleet1_sized = series.get("sized_fleet1", n);
    let wall = |name: &'static str, figure: String, target: &str| {
        Row::new(&figure, n, "s", series.get(name, n))
            .baseline("bare loop", series.get(name, n), bare)
            .target(target)
    };
    vec![
        Row::new(
            &format!("batch wall: bare loop, concurrency {concurrency}"),
            n,
            "s",
            bare,
        ),
        wall(
            "fleet1",
            format!("batch wall: fleet, 1 worker × {concurrency}"),
            fleet_target,
        ),
        wall(
            "fleet2",
            format!("batch wall: fleet, 2 workers × {half}"),
            fleet_target,
        ),
        wall(
            "embedded",
            "batch wall: `dbfleet run` (embedded)".into(),
            if n == 1000 { "≤ 1.15×" } else { "" },
        ),
        Row::new(
            "work check: databases sized, fleet × 1",
            n,
            "dbs",
            fleet1_sized,
        )
        .baseline("bare loop", fleet1_sized, series.get("sized_bare", n))
        .target("1.00×"),
        Row::new(
            "store commits per job: fleet, 1 worker",
            n,
            "commits",
            series.get("commits1", n),
        )
        .target("≤ 3"),
        Row::new(
            "store commits per job: fleet, 2 workers",
            n,
            "commits",
            series.get("commits2", n),
        )
        .target("≤ 3"),
    ]
}
