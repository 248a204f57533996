//! A batch over 200 declared instances on the embedded defaults (SQLite and
//! the in-process queue), against a baseline measured in the same run: the
//! same inventory, server identity and size queries as a capacity job, issued
//! straight through the adapters with
//! the same concurrency, with no store, no queue and no bookkeeping.
//!
//! Run: `cargo bench --bench batch` (optionally `-- --instances 200 --concurrency 4`).
//! Needs the local MariaDB and PostgreSQL (see README). Each phase runs in a
//! child process under `/usr/bin/time`, so wall time, peak RSS and CPU
//! time are each phase's own. The phases live in `support/phases.rs`, shared with the
//! fleet benchmark.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use support::{args, child, phases};

fn main() {
    let instances = args::number("--instances", 200);
    let concurrency = args::number("--concurrency", 4);
    if let Some(phase) = args::value("--phase") {
        return phases::run(&phase, instances, concurrency);
    }
    println!("batch over {instances} instances (half MariaDB, half PostgreSQL, local), concurrency {concurrency}");
    let base = child::measure(&phases::args("baseline", instances, concurrency));
    let run = child::measure(&phases::args("embedded", instances, concurrency));
    println!(
        "{:<40} {:>9} {:>14} {:>8} {:>10} {:>9}",
        "phase", "wall (s)", "peak RSS (MiB)", "CPU (s)", "databases", "ratio"
    );
    println!(
        "{:<40} {:>9.2} {:>14.1} {:>8.2} {:>10} {:>9}",
        "baseline: raw queries through adapters",
        base.secs,
        base.rss_mib,
        base.cpu_secs,
        base.databases,
        "1.00x"
    );
    println!(
        "{:<40} {:>9.2} {:>14.1} {:>8.2} {:>10} {:>8.2}x",
        "dbfleet run (SQLite + in-process queue)",
        run.secs,
        run.rss_mib,
        run.cpu_secs,
        run.databases,
        run.secs / base.secs
    );
    println!("peak memory ratio: {:.2}x", run.rss_mib / base.rss_mib);
    println!("CPU time ratio: {:.2}x", run.cpu_secs / base.cpu_secs);
}
