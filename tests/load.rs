//! Load protection, measured on the server itself: fifty instance records
//! of one MariaDB host, synced by two workers of eight slots each, never
//! hold more sessions on it at once than `job.max_per_host` — and without
//! the cap, the same batch does (so the measurement can see a breach).
//!
//! The records reach the server through a slow link, so each job holds
//! its session long enough to be counted; a sampler reads
//! `information_schema.PROCESSLIST` for the test's own account meanwhile.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod common;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{run_batch, Backend, Fleet, MariaUser, SlowLink, World};
use dbfleet::domain::DbType;
use dbfleet::secret::PasswordRef;
use dbfleet::store::BatchStatus;
use sqlx::Row;

on_both_backends!(fifty_records_of_one_host_never_run_more_than_the_cap_at_once);

const RECORDS: i64 = 50;
const CAP: i64 = 3;

/// The most sessions of `user` seen at once while `run` ran.
async fn peak_sessions<F: std::future::Future>(user: &str, run: F) -> (i64, F::Output) {
    let peak = Arc::new(AtomicI64::new(0));
    let sampler = {
        let (peak, user) = (peak.clone(), user.to_string());
        tokio::spawn(async move {
            let mut root = common::mariadb_root().await;
            loop {
                let sql = "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = ?";
                let row = sqlx::query(sql)
                    .bind(&user)
                    .fetch_one(&mut root)
                    .await
                    .unwrap();
                peak.fetch_max(row.get::<i64, _>(0), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let output = run.await;
    sampler.abort();
    (peak.load(Ordering::Relaxed), output)
}

/// A batch over [`RECORDS`] records of one host, by two workers; the peak
/// of sessions on the server.
async fn synced(backend: Backend, cap: i64, maria: &MariaUser, link: &SlowLink) -> i64 {
    let yaml = format!("worker:\n  concurrency: 8\njob:\n  max_per_host: {cap}\n");
    let world = World::with_yaml(backend, &yaml).await;
    let var = format!("DBFT_LOAD_PW_{}", world.tag);
    std::env::set_var(&var, &maria.password);
    for n in 0..RECORDS {
        let password = PasswordRef::Env(var.clone());
        world
            .add_instance(
                &format!("rec-{n:02}"),
                DbType::Mysql,
                link.port,
                &maria.user,
                password,
            )
            .await;
    }
    let fleet = Fleet::start(&world, 2);
    let (peak, report) = peak_sessions(&maria.user, run_batch(&world)).await;
    fleet.stop().await;
    let b = &report.batch;
    assert_eq!(b.status, BatchStatus::Success, "{report:#?}");
    assert_eq!((b.total, b.succeeded), (RECORDS, RECORDS));
    world.teardown().await;
    peak
}

async fn fifty_records_of_one_host_never_run_more_than_the_cap_at_once(backend: Backend) {
    let maria = MariaUser::new().await;
    maria
        .create_database(&format!("{}_load", maria.prefix), 16)
        .await;
    let link = SlowLink::start(3306, Duration::from_millis(5)).await;

    let capped = synced(backend, CAP, &maria, &link).await;
    assert!(
        capped <= CAP,
        "{capped} sessions at once on a host capped at {CAP}"
    );
    assert!(capped >= 1, "the sampler saw no session at all");
    let uncapped = synced(backend, 0, &maria, &link).await;
    assert!(
        uncapped > CAP,
        "without a cap, {uncapped} sessions at once: the test sees nothing"
    );

    drop(link);
    maria.teardown().await;
}
