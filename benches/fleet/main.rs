//! The fleet benchmark: what dbfleet costs on top of the work itself, as
//! ratios against baselines measured in the same run, on the local
//! PostgreSQL, MariaDB and RabbitMQ.
//!
//! Run: `cargo bench --bench fleet` (sizes 100, 1,000 and 10,000, 3 runs),
//! or smaller: `cargo bench --bench fleet -- --sizes 100,1000 --runs 3`.
//! Flags: `--sizes`, `--runs`, `--concurrency` (total job slots, 4),
//! `--rss-instances` (batch size of the memory section, the smallest size),
//! `--only batch,dispatch,fold,memory` (the sections, all by default),
//! `--log-statements` (every statement on the run's own store databases goes
//! to the PostgreSQL server log with its duration: for a small profiling run).
//!
//! Sections, each run interleaving them so baselines and figures share the
//! machine's weather:
//! - `batch` (`batch.rs`): a capacity sync of `N` instances (half the local
//!   MariaDB, half the local PostgreSQL) on the fleet (PostgreSQL store,
//!   RabbitMQ, `serve` here, 1 or 2 worker processes) and with `dbfleet run`,
//!   against the bare loop through the adapters; store commits per job;
//!   each side's own CPU per job (its processes, not the servers');
//! - `dispatch` (`dispatch.rs`): publishing `N` jobs against raw lapin;
//! - `fold` (`fold.rs`): results folded per second, PostgreSQL and SQLite;
//! - `memory` (`memory.rs`): worker peak RSS against the bare loop's.
//!
//! Every measurement makes its own world (`world.rs`: a store database, a
//! broker prefix) and drops it. Progress goes to stderr, the table to stdout.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../tests/common/mod.rs"]
mod common;
#[path = "../support/mod.rs"]
mod support;

mod batch;
mod dispatch;
mod fold;
mod memory;
mod table;
mod worker;
mod world;

use support::{args, phases};
use table::{Row, Series};

fn main() {
    let concurrency = args::number("--concurrency", 4);
    if let Some(phase) = args::value("--phase") {
        return child(&phase, concurrency);
    }
    let sizes = args::numbers("--sizes", &[100, 1000, 10_000]);
    let runs = args::number("--runs", 3);
    let rss_instances = args::number("--rss-instances", sizes[0]);
    let only = args::value("--only").unwrap_or("batch,dispatch,fold,memory".into());
    let on = |section: &str| only.split(',').any(|s| s == section);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut series = Series::default();
    for run in 1..=runs {
        eprintln!("run {run}/{runs}");
        for &n in sizes.iter().filter(|_| on("batch")) {
            batch::measure(&rt, n, concurrency, &mut series);
        }
        for &n in sizes.iter().filter(|_| on("dispatch")) {
            dispatch::measure(&rt, n, &mut series);
        }
        if on("fold") {
            fold::measure(&rt, &sizes, &mut series);
        }
        if on("memory") {
            memory::measure(&rt, rss_instances, &mut series);
        }
    }
    let mut rows: Vec<Row> = Vec::new();
    for &n in sizes.iter().filter(|_| on("batch")) {
        rows.extend(batch::rows(&series, n, concurrency));
        rows.extend(batch::cpu_rows(&series, n));
    }
    for &n in sizes.iter().filter(|_| on("dispatch")) {
        rows.extend(dispatch::rows(&series, n));
    }
    if on("fold") {
        rows.extend(fold::rows(&series, &sizes));
    }
    if on("memory") {
        rows.extend(memory::rows(&series, rss_instances));
    }
    println!("sizes {sizes:?}, {runs} run(s), concurrency {concurrency} in all");
    table::print(&rows);
}

/// In a child process: one phase.
fn child(phase: &str, concurrency: usize) {
    match phase {
        "worker" => tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(worker::run()),
        _ => phases::run(phase, args::number("--instances", 200), concurrency),
    }
}
