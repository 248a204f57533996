//! Fold throughput: a batch of `N` pending jobs, then `N` succeeded
//! results folded the way the results folder folds them (groups of
//! `folder::FOLD_BATCH` through `Batches::record_results`, one transaction
//! each), on PostgreSQL and on SQLite, each store a fresh one of its own.
//! The results carry a typical capacity-sync output (12 databases). A batch
//! under 2,000 jobs is folded as many times as it takes to fold 2,000.

use std::time::Instant;

use chrono::Utc;
use dbfleet::config::StoreSettings;
use dbfleet::domain::{BatchId, JobId};
use dbfleet::fleet::folder::FOLD_BATCH;
use dbfleet::message::{capacity_sync, JobKind, JobOutput, JobStatus};
use dbfleet::store::{BatchStatus, FinishedJob, NewJob, Origin, Store};
use secrecy::SecretString;

use crate::common::tag;
use crate::table::{Row, Series};
use crate::world::{admin, store_url};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// Results folded per second over a batch of `jobs`.
pub async fn fold(backend: Backend, jobs: usize) -> f64 {
    let tag = tag();
    let (url, place) = match backend {
        Backend::Postgres => {
            let db = format!("dbft_bench_fold_{tag}");
            admin(&format!("CREATE DATABASE \"{db}\"")).await;
            (store_url(&db), db)
        }
        Backend::Sqlite => {
            let dir = std::env::temp_dir().join(format!("dbfleet-bench-fold-{tag}"));
            let url = format!("sqlite:{}/store.sqlite", dir.display());
            (url, dir.display().to_string())
        }
    };
    let settings = StoreSettings {
        url: Some(SecretString::from(url)),
        max_connections: 5,
    };
    let store = Store::connect(&settings).await.unwrap();
    store.migrate().await.unwrap();
    let rate = fold_into(&store, jobs).await;
    drop(store);
    match backend {
        Backend::Postgres => admin(&format!("DROP DATABASE \"{place}\" WITH (FORCE)")).await,
        Backend::Sqlite => std::fs::remove_dir_all(place).unwrap(),
    }
    rate
}

/// Results folded at least, whatever the batch size: a small batch is
/// folded several times over (a batch each time), so its rate is not one
/// transaction's luck.
const AT_LEAST: usize = 2000;

async fn fold_into(store: &Store, jobs: usize) -> f64 {
    let mut results = Vec::new();
    let mut batches = Vec::new();
    for _ in 0..AT_LEAST.div_ceil(jobs) {
        let (batch, folding) = pending_batch(store, jobs).await;
        batches.push(batch);
        results.push(folding);
    }
    let started = Instant::now();
    for group in results.iter().flat_map(|r| r.chunks(FOLD_BATCH)) {
        store.batches().record_results(group).await.unwrap();
    }
    let secs = started.elapsed().as_secs_f64();
    for batch in batches {
        let after = store.batches().get(batch).await.unwrap().unwrap();
        assert_eq!(after.status, BatchStatus::Success, "{after:?}");
    }
    results.iter().map(Vec::len).sum::<usize>() as f64 / secs
}

/// A batch of `jobs` pending jobs, and a succeeded result for each.
async fn pending_batch(store: &Store, jobs: usize) -> (BatchId, Vec<FinishedJob>) {
    let batch = BatchId::new();
    let deadline = Utc::now() + chrono::Duration::hours(6);
    let new: Vec<NewJob> = (0..jobs)
        .map(|n| NewJob {
            job_id: JobId::new(),
            instance_id: None,
            target: format!("i-{n}"),
            deadline,
        })
        .collect();
    let summary = dbfleet::jobs::empty_summary(JobKind::CapacitySync);
    store
        .batches()
        .create(batch, "capacity_sync", &Origin::by("bench"), &new, &summary)
        .await
        .unwrap();
    (batch, new.iter().map(|j| result(batch, j)).collect())
}

/// A succeeded capacity sync of `job`.
fn result(batch: BatchId, job: &NewJob) -> FinishedJob {
    let output = JobOutput::CapacitySync(capacity_sync::Output {
        databases: 12,
        records: 12,
        total_size_mb: 480,
        server_identity: Some("server_uuid:bench@3306".into()),
        ..capacity_sync::Output::default()
    });
    let now = Utc::now();
    FinishedJob {
        job_id: job.job_id,
        batch_id: batch,
        kind: "capacity_sync".into(),
        instance_id: None,
        target: job.target.clone(),
        requested_by: Some("bench".into()),
        status: JobStatus::Succeeded,
        error: None,
        warnings: Vec::new(),
        tally: dbfleet::jobs::tally(&output),
        output: Some(output.to_json()),
        attempt: 1,
        worker: "bench".into(),
        started_at: now,
        finished_at: now,
    }
}

/// One run of the fold section at every size, on both stores.
pub fn measure(rt: &tokio::runtime::Runtime, sizes: &[usize], series: &mut Series) {
    for &n in sizes {
        let pg = rt.block_on(fold(Backend::Postgres, n));
        let sqlite = rt.block_on(fold(Backend::Sqlite, n));
        eprintln!("  N={n}: folded {pg:.0}/s on PostgreSQL, {sqlite:.0}/s on SQLite");
        series.push("fold_pg", n, pg);
        series.push("fold_sqlite", n, sqlite);
        // Cost per result, µs.
        series.push("cost_pg", n, 1e6 / pg);
        series.push("cost_sqlite", n, 1e6 / sqlite);
    }
}

/// Rates at each size, then the cost per result at the largest size
/// against the smallest.
pub fn rows(series: &Series, sizes: &[usize]) -> Vec<Row> {
    let mut rows = Vec::new();
    for &n in sizes {
        rows.push(
            Row::new(
                "results folded: PostgreSQL",
                n,
                "results/s",
                series.get("fold_pg", n),
            )
            .target("≥ 5000/s"),
        );
        rows.push(Row::new(
            "results folded: SQLite",
            n,
            "results/s",
            series.get("fold_sqlite", n),
        ));
    }
    let (small, large) = (sizes[0], sizes[sizes.len() - 1]);
    if small == large {
        return rows;
    }
    for (name, store) in [("cost_pg", "PostgreSQL"), ("cost_sqlite", "SQLite")] {
        let figure = format!("fold cost per result: {store}");
        rows.push(
            Row::new(&figure, large, "µs", series.get(name, large))
                .baseline(
                    &format!("N={small}"),
                    series.get(name, large),
                    series.get(name, small),
                )
                .target("flat (≈ 1×)"),
        );
    }
    rows
}
