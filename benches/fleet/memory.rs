//! Worker peak memory: one worker process running a batch at concurrency
//! 1, 4 and 16, against the bare loop at the same concurrency, each its
//! own process's maximum resident set (`/usr/bin/time`); and an idle worker
//! (started, given an empty batch, stopped), its fixed cost.

use tokio::runtime::Runtime;

use crate::batch::fleet;
use crate::support::{child, phases};
use crate::table::{Row, Series};

pub const CONCURRENCY: [usize; 3] = [1, 4, 16];

/// One run of the memory section, batches of `n` instances.
pub fn measure(rt: &Runtime, n: usize, series: &mut Series) {
    let idle = rt.block_on(fleet(0, 1, 16)).worker_rss[0];
    eprintln!("  idle worker: {idle:.1} MiB");
    series.push("rss_idle", 16, idle);
    for c in CONCURRENCY {
        let bare = child::measure(&phases::args("baseline", n, c));
        let worker = rt.block_on(fleet(n, 1, c)).worker_rss[0];
        eprintln!(
            "  concurrency {c}: worker {worker:.1} MiB, bare loop {:.1} MiB",
            bare.rss_mib
        );
        series.push("rss_worker", c, worker);
        series.push("rss_bare", c, bare.rss_mib);
    }
}

pub fn rows(series: &Series, n: usize) -> Vec<Row> {
    let idle = series.get("rss_idle", 16);
    let idle = Row::new(
        "worker peak RSS, idle (concurrency 16, no job)",
        0,
        "MiB",
        idle,
    );
    let loaded = CONCURRENCY.iter().map(|&c| {
        let figure = format!("worker peak RSS, concurrency {c} (batch of {n})");
        let worker = series.get("rss_worker", c);
        Row::new(&figure, n, "MiB", worker)
            .baseline("bare loop", worker, series.get("rss_bare", c))
            .target(if c == 16 { "≤ 1.5×" } else { "" })
    });
    std::iter::once(idle).chain(loaded).collect()
}
