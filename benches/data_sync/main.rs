//! The data sync benchmark: a full copy of one table by dbfleet's engine
//! against the fastest plain copy with the same driver, measured in the
//! same run on the local PostgreSQL and MariaDB.
//!
//! Run: `cargo bench --bench data_sync` (200,000 rows, 3 runs), or
//! `cargo bench --bench data_sync -- --rows 1000000 --runs 3`.
//!
//! Cases, in this order in every run, each target table emptied first:
//! - PG→PG: binary `COPY` piped from source to target (the baseline), then
//!   `run_table` in mode full, batch 5,000, no verification; then one
//!   verification pass over that copy, and the engine's keyset read alone
//!   (where a copy's time goes: reading or writing);
//! - PG→MariaDB: one read written as prepared multi-row `INSERT`s of 5,000
//!   rows (the baseline), then `run_table` the same way.
//!
//! Each case times from connecting to the last commit and records the
//! process's peak memory growth (`rss.rs`). The databases (`world.rs`) are
//! dropped at the end, after a failure too. Progress goes to stderr, the
//! table to stdout.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

// Shared with the other benchmarks; this one reads numbers only.
#[allow(dead_code)]
#[path = "../support/args.rs"]
mod args;

mod baseline;
mod engine;
mod report;
mod rss;
mod world;

use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::time::Instant;

use dbfleet::domain::DbType;
use report::{Against, Line, Sample, Series};
use world::World;

const COPY: &str = "PG→PG: binary COPY pipe";
const SYNC_PG: &str = "PG→PG: dbfleet full sync";
const VERIFY: &str = "PG→PG: dbfleet verification pass";
const SCAN: &str = "PG→PG: dbfleet keyset read alone";
const INSERT: &str = "PG→MariaDB: prepared multi-row INSERT";
const SYNC_MY: &str = "PG→MariaDB: dbfleet full sync";

fn main() {
    let rows = args::number("--rows", 200_000);
    let runs = args::number("--runs", 3).max(1);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let world = rt.block_on(World::create());
    let measured = catch_unwind(AssertUnwindSafe(|| {
        rt.block_on(measure(&world, rows, runs))
    }));
    rt.block_on(world.drop());
    let series = measured.unwrap_or_else(|e| resume_unwind(e));
    println!(
        "{rows} rows, {runs} run(s); peak memory: {}",
        rss::Peak::method()
    );
    report::print(&series, rows, &lines());
}

async fn measure(world: &World, rows: usize, runs: usize) -> Series {
    eprintln!("filling {rows} rows");
    world.fill(rows).await;
    let mut series = Series::default();
    for run in 1..=runs {
        eprintln!("run {run}/{runs}");
        one_run(world, rows as u64, &mut series).await;
    }
    series
}

/// Every case once, each target table emptied before its copy, and each
/// copy checked complete.
async fn one_run(world: &World, rows: u64, series: &mut Series) {
    world.truncate().await;
    timed(series, COPY, rows, baseline::copy_pipe(world)).await;
    assert_eq!(baseline::pg_count(world).await, rows);
    world.truncate().await;
    timed(
        series,
        SYNC_PG,
        rows,
        engine::full(world, DbType::Postgresql),
    )
    .await;
    assert_eq!(baseline::pg_count(world).await, rows);
    timed(series, VERIFY, None, engine::verify(world)).await;
    timed(series, SCAN, rows, engine::scan(world)).await;
    world.truncate().await;
    timed(series, INSERT, rows, baseline::insert_into_mariadb(world)).await;
    assert_eq!(baseline::my_count(world).await, rows);
    world.truncate().await;
    timed(series, SYNC_MY, rows, engine::full(world, DbType::Mysql)).await;
    assert_eq!(baseline::my_count(world).await, rows);
}

/// Runs one case, checks the rows it reports (when it reports rows), and
/// records its time and peak memory growth.
async fn timed(
    series: &mut Series,
    case: &'static str,
    rows: impl Into<Option<u64>>,
    work: impl Future<Output = u64>,
) {
    let peak = rss::Peak::start();
    let start = Instant::now();
    let done = work.await;
    let seconds = start.elapsed().as_secs_f64();
    let rss_mib = peak.stop();
    if let Some(rows) = rows.into() {
        assert_eq!(done, rows, "{case}");
    }
    eprintln!("  {case}: {seconds:.2} s, peak +{rss_mib:.1} MiB");
    series.push(case, Sample { seconds, rss_mib });
}

fn lines() -> Vec<Line> {
    let line = |case, against, target| Line {
        case,
        against,
        target,
    };
    vec![
        line(COPY, Against::None, ""),
        line(SYNC_PG, Against::Rate(COPY), "≥ 0.70×"),
        line(VERIFY, Against::Time(SYNC_PG), ""),
        line(SCAN, Against::Time(SYNC_PG), ""),
        line(INSERT, Against::None, ""),
        line(SYNC_MY, Against::Rate(INSERT), "≥ 0.80×"),
    ]
}
