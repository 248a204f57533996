//! The fleet run in this test process: workers and the aggregator on tokio
//! tasks, batches run to their end, single capacity syncs, and the
//! instances most tests register.

use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDate, Utc};
use dbfleet::domain::DbType;
use dbfleet::fleet::dispatcher::{self, BatchReport, Selection};
use dbfleet::jobs::{CapacitySync, Clock, Context, Failure, Job};
use dbfleet::message::capacity_sync;
use dbfleet::secret::PasswordRef;
use dbfleet::store::{Batch, Instance};
use tokio_util::sync::CancellationToken;

use super::{closed_port, within, MariaUser, World};

/// Workers and an aggregator running in this process until stopped.
pub struct Fleet {
    shutdown: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Fleet {
    /// Nothing running yet: add [`Fleet::serve`] and [`Fleet::worker`].
    pub fn new() -> Self {
        Self {
            shutdown: CancellationToken::new(),
            tasks: Vec::new(),
        }
    }

    /// `workers` workers (`worker-0`, `worker-1`, …), then the aggregator.
    pub fn start(world: &World, workers: usize) -> Self {
        let mut fleet = Self::new();
        for n in 0..workers {
            fleet.worker(world, &format!("worker-{n}"));
        }
        fleet.serve(world);
        fleet
    }

    /// The aggregator, the dead-letter folder and the sweeper.
    pub fn serve(&mut self, world: &World) {
        let (settings, store, broker, token) = (
            world.settings.clone(),
            world.store.clone(),
            world.broker.clone(),
            self.shutdown.clone(),
        );
        self.tasks.push(tokio::spawn(async move {
            dbfleet::fleet::serve(&settings, store, broker, token)
                .await
                .unwrap()
        }));
    }

    /// One worker named `name`.
    pub fn worker(&mut self, world: &World, name: &str) {
        let worker = Arc::new(dbfleet::fleet::worker(
            &world.settings,
            world.store.clone(),
            world.broker.clone(),
            world.filters.clone(),
            name.to_string(),
        ));
        let token = self.shutdown.clone();
        self.tasks
            .push(tokio::spawn(async move { worker.run(token).await }));
    }

    /// One worker named `name` in network zone `zone`, with a broker
    /// connection of its own (the zone is part of its topology).
    pub async fn worker_in_zone(&mut self, world: &World, name: &str, zone: &str) {
        let mut settings = world.settings.clone();
        settings.worker.zone = Some(zone.to_string());
        let broker = dbfleet::fleet::open_broker(&settings).await.unwrap();
        let worker = Arc::new(dbfleet::fleet::worker(
            &settings,
            world.store.clone(),
            broker,
            world.filters.clone(),
            name.to_string(),
        ));
        let token = self.shutdown.clone();
        self.tasks
            .push(tokio::spawn(async move { worker.run(token).await }));
    }

    /// Cancel everything and wait for each task to end cleanly.
    pub async fn stop(self) {
        self.shutdown.cancel();
        for task in self.tasks {
            task.await.unwrap();
        }
    }

    /// Like [`Fleet::stop`], each task bounded by [`within`].
    pub async fn stop_within(self, what: &str) {
        self.shutdown.cancel();
        for task in self.tasks {
            within(what, task).await.unwrap();
        }
    }
}

impl Default for Fleet {
    fn default() -> Self {
        Self::new()
    }
}

/// A batch of every active instance, waited for until it ends.
pub async fn run_batch_to_end(world: &World) -> Batch {
    let batch = dispatcher::start_batch(
        &world.store,
        world.broker.as_ref(),
        &dispatcher::BatchRequest {
            params: &dbfleet::message::JobParams::default_for(
                dbfleet::message::JobKind::CapacitySync,
            ),
            selection: Selection::AllActive,
            deadline: world.settings.job.deadline,
            requested_by: None,
            interactive: false,
        },
    )
    .await
    .unwrap();
    within(
        "batch end",
        dispatcher::wait(&world.store, batch.id, Duration::from_millis(100)),
    )
    .await
    .unwrap()
}

/// [`run_batch_to_end`], then the batch's report.
pub async fn run_batch(world: &World) -> BatchReport {
    let ended = run_batch_to_end(world).await;
    dispatcher::report(&world.store, ended.id).await.unwrap()
}

/// Today in the world's time zone.
pub fn today(world: &World) -> NaiveDate {
    Utc::now()
        .with_timezone(&world.settings.timezone)
        .date_naive()
}

/// One capacity sync of `instance` at `clock`, on the world's store,
/// filters and job settings, as a worker runs it.
pub async fn run_capacity_sync(
    world: &World,
    instance: &Instance,
    clock: Clock,
) -> Result<capacity_sync::Output, Failure> {
    let (settings, filters) = (&world.settings, &world.filters);
    let ctx = Context::new(instance, &world.store, filters, &settings.job, clock);
    let outcome = CapacitySync::run(&ctx, &capacity_sync::Params {}).await;
    // Filed whatever the outcome, as a worker does when the job ends.
    ctx.file().await.unwrap();
    outcome
}

/// One capacity sync of `instance` at noon (UTC) on `day`.
pub async fn sync_on(world: &World, instance: &Instance, day: NaiveDate) -> capacity_sync::Output {
    let now = day.and_hms_opt(12, 0, 0).unwrap().and_utc();
    run_capacity_sync(world, instance, Clock { now, today: day })
        .await
        .unwrap()
}

impl World {
    /// The MariaDB server as instance `name`, logging in as `maria`, its
    /// password read from the environment variable `DBFT_PW_<tag>`.
    pub async fn add_mariadb(&self, name: &str, maria: &MariaUser) -> Instance {
        let var = format!("DBFT_PW_{}", self.tag);
        std::env::set_var(&var, &maria.password);
        self.add_instance(
            name,
            DbType::Mysql,
            3306,
            &maria.user,
            PasswordRef::Env(var),
        )
        .await
    }

    /// A MySQL instance `name` on a loopback port where nothing listens.
    pub async fn add_unreachable(&self, name: &str) -> Instance {
        self.add_instance(
            name,
            DbType::Mysql,
            closed_port(),
            "root",
            PasswordRef::None,
        )
        .await
    }

    /// The PostgreSQL server as instance `name`, as `postgres` (trusted).
    pub async fn add_postgres(&self, name: &str) -> Instance {
        self.add_instance(
            name,
            DbType::Postgresql,
            5432,
            "postgres",
            PasswordRef::None,
        )
        .await
    }
}
