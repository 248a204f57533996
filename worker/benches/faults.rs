//! The fault-injection suite: real `dbfleet-worker` processes against the
//! real PostgreSQL, MariaDB and RabbitMQ, one fault per scenario, each in a
//! world of its own (a fresh control-store database, a unique broker prefix,
//! a MariaDB account that sees only its own databases).
//!
//! Run: `cargo bench -p dbfleet-worker --bench faults` (all scenarios), or
//! name some: `cargo bench -p dbfleet-worker --bench faults -- sigkill dupes`.
//! Scenarios: `sigkill`, `broker-restart`, `hostile`, `black-hole`, `dupes`,
//! `sigterm`. It prints one table and exits non-zero if any scenario misses
//! its expectations. `broker-restart` stops and starts the local RabbitMQ
//! application (`rabbitmqctl stop_app` / `start_app`, as root): run it on a
//! machine where nothing else needs the broker at that moment.
//!
//! Workers are child processes of the real binary, configured through
//! `DBFLEET__…` variables on top of `config/dbfleet.yaml`; their logs go to
//! one file each under `$TMPDIR/dbfleet-faults-<pid>/`. The aggregator, the
//! dead-letter folder and the sweeper (`fleet::serve`) run in this process.
//!
//! Figures: "lost" counts jobs that never reached a terminal state, are
//! missing, or were failed by the deadline sweeper (no worker ever reported
//! them); "counted twice" counts anything above what the jobs can produce:
//! a batch total above the jobs created, `succeeded + failed` above the
//! total, counters that disagree with the job rows, job rows above the jobs,
//! records above the stored rows, and stored rows per day above the expected.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../tests/common/mod.rs"]
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use chrono::{NaiveDate, Utc};
use common::{Backend, MariaUser, World, AMQP, PG_ADMIN};
use dbfleet::broker::Outgoing;
use dbfleet::domain::{BatchId, DbType, InstanceName};
use dbfleet::fleet;
use dbfleet::fleet::dispatcher::{self, Selection};
use dbfleet::message::{ErrorClass, JobError, JobResult, JobStatus};
use dbfleet::secret::PasswordRef;
use dbfleet::store::{Batch, BatchStatus, JobRow, NewInstance};
use futures_util::{stream, FutureExt, StreamExt};
use lapin::options::{
    BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions, ExchangeDeleteOptions,
    QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, ConnectionProperties};
use rand::Rng;
use sqlx::{Connection, Executor, PgConnection};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

const WORKER_BIN: &str = env!("CARGO_BIN_EXE_dbfleet-worker");

/// Delay the slow link adds to every chunk, each way: with it, one job
/// (connect, session set-up, inventory, sizes) takes a few hundred ms, so
/// faults land while jobs are in flight.
const SLOW_LINK_DELAY: Duration = Duration::from_millis(25);

/// Databases each MariaDB account holds (name suffix, KiB of rows).
const DATABASES: &[(&str, usize)] = &[("a", 320), ("b", 64), ("c", 64)];

/// The message printed when the sweeper fails a job nobody reported.
const SWEPT: &str = "no result: ";

// ---------------------------------------------------------------------------
// Figures

#[derive(Debug, Clone)]
struct Row {
    scenario: &'static str,
    injected: String,
    jobs: i64,
    succeeded: i64,
    failed: i64,
    lost: i64,
    twice: i64,
    other: String,
    problems: Vec<String>,
}

impl Row {
    fn new(scenario: &'static str) -> Self {
        Row {
            scenario,
            injected: String::new(),
            jobs: 0,
            succeeded: 0,
            failed: 0,
            lost: 0,
            twice: 0,
            other: String::new(),
            problems: Vec::new(),
        }
    }

    fn expect(&mut self, ok: bool, problem: impl Into<String>) {
        if !ok {
            self.problems.push(problem.into());
        }
    }

    fn pass(&self) -> bool {
        self.problems.is_empty()
    }

    fn take_tally(&mut self, t: &Tally) {
        self.jobs = t.created;
        self.succeeded = t.succeeded;
        self.failed = t.failed;
        self.lost = t.lost;
        self.twice = t.twice;
        self.problems.extend(t.notes.iter().cloned());
    }
}

/// What a batch ended as, checked against the jobs created for it.
#[derive(Debug, Clone)]
struct Tally {
    status: BatchStatus,
    created: i64,
    succeeded: i64,
    failed: i64,
    lost: i64,
    twice: i64,
    /// Jobs delivered more than once (attempt > 1).
    redelivered: i64,
    notes: Vec<String>,
}

async fn tally(world: &World, id: BatchId, created: usize) -> Result<Tally> {
    let created = created as i64;
    let batch = world
        .store
        .batches()
        .get(id)
        .await?
        .ok_or_else(|| anyhow!("batch {id} not found"))?;
    let rows = world.store.batches().jobs(id).await?;
    let n_rows = rows.len() as i64;
    let distinct: BTreeSet<_> = rows.iter().map(|j| j.job_id).collect();
    let count = |s: &str| rows.iter().filter(|j| j.status == s).count() as i64;
    let (pending, ok, failed) = (count("pending"), count("succeeded"), count("failed"));
    let swept = rows
        .iter()
        .filter(|j| j.error.as_ref().is_some_and(|e| e.message.contains(SWEPT)))
        .count() as i64;
    let missing = (created - distinct.len() as i64).max(0);
    let mut notes = Vec::new();
    let lost = pending + swept + missing;
    if lost > 0 {
        notes.push(format!(
            "lost: {pending} pending, {swept} failed by the sweeper, {missing} missing"
        ));
    }
    let mut twice = 0;
    let mut above = |what: &str, value: i64, bound: i64| {
        if value > bound {
            twice += value - bound;
            notes.push(format!("counted twice: {what} = {value} > {bound}"));
        }
    };
    above("batch.total vs jobs created", batch.total, created);
    above(
        "succeeded + failed vs total",
        batch.succeeded + batch.failed,
        batch.total,
    );
    above("job rows vs jobs created", n_rows, created);
    above(
        "job rows vs distinct job ids",
        n_rows,
        distinct.len() as i64,
    );
    above("batch.succeeded vs succeeded rows", batch.succeeded, ok);
    above("batch.failed vs failed rows", batch.failed, failed);
    let records: i64 = rows.iter().map(|j| j.count("records")).sum();
    above(
        "batch.total_records vs job records",
        batch.summary.get("total_records"),
        records,
    );
    if batch.succeeded < ok || batch.failed < failed {
        notes.push(format!(
            "counters behind the rows: batch {}/{} vs rows {ok}/{failed}",
            batch.succeeded, batch.failed
        ));
    }
    Ok(Tally {
        status: batch.status,
        created,
        succeeded: batch.succeeded,
        failed: batch.failed,
        lost,
        twice,
        redelivered: rows.iter().filter(|j| j.attempt > 1).count() as i64,
        notes,
    })
}

// ---------------------------------------------------------------------------
// Worker processes

struct WorkerProc {
    name: String,
    child: Child,
}

/// Real `dbfleet-worker` processes, killed when dropped.
struct Workers {
    env: Vec<(String, String)>,
    log_dir: PathBuf,
    live: Vec<WorkerProc>,
    spawned: usize,
}

impl Workers {
    fn new(world: &World, env: &[(&str, String)], log_dir: &Path) -> Self {
        let root = common::repo_root();
        let mut all: Vec<(String, String)> = vec![
            ("DBFLEET__STORE__URL".into(), store_url(world)),
            ("DBFLEET__STORE__MAX_CONNECTIONS".into(), "4".into()),
            ("DBFLEET__BROKER__URL".into(), AMQP.into()),
            (
                "DBFLEET__BROKER__PREFIX".into(),
                world.settings.broker.prefix.clone(),
            ),
            (
                "DBFLEET__FILTERS__PATH".into(),
                root.join("config/database_filters.yaml")
                    .display()
                    .to_string(),
            ),
            ("DBFLEET__LOG__LEVEL".into(), "warn".into()),
            ("DBFLEET__LOG__FORMAT".into(), "pretty".into()),
        ];
        for (k, v) in env {
            all.retain(|(key, _)| key != k);
            all.push((k.to_string(), v.clone()));
        }
        std::fs::create_dir_all(log_dir).ok();
        Workers {
            env: all,
            log_dir: log_dir.to_path_buf(),
            live: Vec::new(),
            spawned: 0,
        }
    }

    fn spawn(&mut self) -> Result<()> {
        let name = format!("w{:02}", self.spawned);
        self.spawned += 1;
        let log = std::fs::File::create(self.log_dir.join(format!("{name}.log")))?;
        let child = Command::new(WORKER_BIN)
            .arg("--config")
            .arg(common::repo_root().join("config/dbfleet.yaml"))
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("DBFLEET__WORKER__NAME", &name)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("spawning dbfleet-worker")?;
        self.live.push(WorkerProc { name, child });
        Ok(())
    }

    fn spawn_n(&mut self, n: usize) -> Result<()> {
        (0..n).try_for_each(|_| self.spawn())
    }

    /// Workers that exited on their own: (name, status).
    fn exited(&mut self) -> Vec<(String, ExitStatus)> {
        self.live
            .iter_mut()
            .filter_map(|w| match w.child.try_wait() {
                Ok(Some(status)) => Some((w.name.clone(), status)),
                _ => None,
            })
            .collect()
    }

    /// SIGKILL the worker at `index`; returns its name.
    fn sigkill(&mut self, index: usize) -> Result<String> {
        let mut w = self.live.remove(index);
        w.child.kill()?; // SIGKILL on unix
        w.child.wait()?;
        Ok(w.name)
    }

    /// SIGTERM every live worker and wait for each to exit, up to `limit`:
    /// (name, exit status or None if still running at the limit, time to exit).
    async fn sigterm_all(
        &mut self,
        limit: Duration,
    ) -> Result<Vec<(String, Option<ExitStatus>, Duration)>> {
        let started = Instant::now();
        for w in &self.live {
            signal("-TERM", w.child.id())?;
        }
        let mut out = Vec::new();
        for mut w in std::mem::take(&mut self.live) {
            let status = loop {
                if let Some(status) = w.child.try_wait()? {
                    break Some(status);
                }
                if started.elapsed() > limit {
                    let _ = w.child.kill();
                    let _ = w.child.wait();
                    break None;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            };
            out.push((w.name, status, started.elapsed()));
        }
        Ok(out)
    }

    fn kill_all(&mut self) {
        for mut w in std::mem::take(&mut self.live) {
            let _ = w.child.kill();
            let _ = w.child.wait();
        }
    }

    /// Log lines at WARN or above of every worker this pool started.
    fn warnings(&self, max: usize) -> Vec<String> {
        let mut lines = Vec::new();
        for n in 0..self.spawned {
            let path = self.log_dir.join(format!("w{n:02}.log"));
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            for line in text.lines() {
                let plain = strip_ansi(line);
                if plain.contains("WARN") || plain.contains("ERROR") || plain.contains("panicked") {
                    lines.push(format!("w{n:02}: {plain}"));
                }
            }
        }
        lines.truncate(max);
        lines
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.kill_all();
    }
}

fn signal(sig: &str, pid: u32) -> Result<()> {
    let status = Command::new("kill")
        .arg(sig)
        .arg(pid.to_string())
        .status()?;
    if !status.success() {
        bail!("kill {sig} {pid} failed: {status}");
    }
    Ok(())
}

fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn store_url(world: &World) -> String {
    format!(
        "postgres://postgres@127.0.0.1:5432/dbft_store_{}",
        world.tag
    )
}

// ---------------------------------------------------------------------------
// A slow link and a black hole

/// A TCP proxy on loopback that delays every chunk by a fixed amount, each way.
struct SlowLink {
    port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl SlowLink {
    async fn start(upstream: u16, delay: Duration) -> Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let task = tokio::spawn(async move {
            loop {
                let Ok((inbound, _)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                tokio::spawn(async move {
                    let Ok(outbound) =
                        tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await
                    else {
                        return;
                    };
                    let _ = inbound.set_nodelay(true);
                    let _ = outbound.set_nodelay(true);
                    let (ri, wi) = inbound.into_split();
                    let (ro, wo) = outbound.into_split();
                    tokio::join!(pipe(ri, wo, delay), pipe(ro, wi, delay));
                });
            }
        });
        Ok(SlowLink { port, task })
    }
}

impl Drop for SlowLink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay: Duration,
) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                tokio::time::sleep(delay).await;
                if to.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown().await;
}

/// A port that accepts connections and never says a word.
struct BlackHole {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<usize>>,
}

impl BlackHole {
    fn start() -> Result<Self> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((socket, _)) => held.push(socket),
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
            held.len()
        });
        Ok(BlackHole {
            port,
            stop,
            thread: Some(thread),
        })
    }

    /// Stop; returns how many connections it swallowed.
    fn stop(&mut self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for BlackHole {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---------------------------------------------------------------------------
// The broker, from the outside

async fn amqp_channel() -> Result<(lapin::Connection, lapin::Channel)> {
    let conn = lapin::Connection::connect(AMQP, ConnectionProperties::default()).await?;
    let channel = conn.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    Ok((conn, channel))
}

/// (ready messages, consumers) of a queue, by passive declare.
async fn queue_counts(queue: &str) -> Result<(u32, u32)> {
    let (conn, channel) = amqp_channel().await?;
    let options = QueueDeclareOptions {
        passive: true,
        ..QueueDeclareOptions::default()
    };
    let q = channel
        .queue_declare(queue, options, FieldTable::default())
        .await;
    let _ = conn.close(200, "bye").await;
    let q = q?;
    Ok((q.message_count(), q.consumer_count()))
}

/// Ready plus unacknowledged messages of a queue, from `rabbitmqctl`.
async fn queue_depth(queue: &str) -> Result<u64> {
    let out = run_command(
        "rabbitmqctl",
        &["list_queues", "-q", "--vhost", "/", "name", "messages"],
        Duration::from_secs(60),
    )
    .await?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            (f.next() == Some(queue)).then(|| f.next().and_then(|n| n.parse().ok()))?
        })
        .next()
        .ok_or_else(|| anyhow!("queue {queue} not listed by rabbitmqctl"))
}

/// Run a command, killing it if it takes longer than `limit`.
async fn run_command(
    program: &str,
    args: &[&str],
    limit: Duration,
) -> Result<std::process::Output> {
    let child = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(limit, child)
        .await
        .map_err(|_| anyhow!("`{program} {}` took more than {limit:?}", args.join(" ")))?
        .with_context(|| format!("running {program}"))
}

async fn rabbitmqctl(args: &[&str]) -> Result<()> {
    let out = run_command("rabbitmqctl", args, Duration::from_secs(120)).await?;
    if !out.status.success() {
        bail!(
            "rabbitmqctl {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// The node answers `rabbitmq-diagnostics ping` (which it does even with
/// the application stopped) and accepts an AMQP connection and a channel.
async fn broker_answers() -> bool {
    let pinged = run_command(
        "rabbitmq-diagnostics",
        &["-q", "ping"],
        Duration::from_secs(15),
    )
    .await
    .is_ok_and(|o| o.status.success());
    if !pinged {
        return false;
    }
    let amqp = async {
        let (conn, _channel) = amqp_channel().await?;
        let _ = conn.close(200, "bye").await;
        anyhow::Ok(())
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(10), amqp).await,
        Ok(Ok(()))
    )
}

/// Stop the broker application, wait, start it, wait until it answers.
/// Returns the time it was unavailable.
async fn restart_broker(pause: Duration) -> Result<Duration> {
    let started = Instant::now();
    rabbitmqctl(&["stop_app"]).await?;
    tokio::time::sleep(pause).await;
    rabbitmqctl(&["start_app"]).await?;
    let deadline = Instant::now() + Duration::from_secs(120);
    while !broker_answers().await {
        if Instant::now() > deadline {
            bail!("the broker did not answer 120 s after start_app");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok(started.elapsed())
}

// ---------------------------------------------------------------------------
// A scenario's fixture: everything it starts, torn down even on failure

struct Fixture {
    log_dir: PathBuf,
    world: Option<World>,
    maria: Option<MariaUser>,
    workers: Option<Workers>,
    serve: Option<(
        CancellationToken,
        tokio::task::JoinHandle<Result<(), String>>,
    )>,
    links: Vec<SlowLink>,
    extra_queues: Vec<String>,
    /// Set once the scenario stopped the broker application: start it again.
    broker_touched: bool,
}

impl Fixture {
    fn new(name: &'static str, log_root: &Path) -> Self {
        Fixture {
            log_dir: log_root.join(name),
            world: None,
            maria: None,
            workers: None,
            serve: None,
            links: Vec::new(),
            extra_queues: Vec::new(),
            broker_touched: false,
        }
    }

    /// A fresh world (`extra` is YAML for the in-process settings) and a
    /// MariaDB account holding [`DATABASES`].
    async fn world(&mut self, extra: &str) -> Result<()> {
        let world = tokio::time::timeout(
            Duration::from_secs(60),
            World::with_yaml(Backend::Fleet, extra),
        )
        .await
        .map_err(|_| {
            anyhow!("creating a world took more than 60 s: is every service answering?")
        })?;
        self.world = Some(world);
        let maria = MariaUser::new().await;
        for (suffix, kib) in DATABASES {
            maria
                .create_database(&format!("{}_{suffix}", maria.prefix), *kib)
                .await;
        }
        self.maria = Some(maria);
        Ok(())
    }

    fn w(&self) -> &World {
        self.world.as_ref().expect("world")
    }

    fn password_var(&self) -> String {
        format!("DBFT_FAULTS_PW_{}", self.w().tag)
    }

    /// `n` MariaDB instances on `port` (3306, or a slow link in front of it).
    async fn add_instances(&self, prefix: &str, n: usize, port: u16) -> Result<()> {
        let maria = self.maria.as_ref().expect("maria");
        let var = self.password_var();
        for i in 0..n {
            let new = NewInstance {
                tls: Default::default(),
                name: InstanceName::parse(&format!("{prefix}-{i:04}")).expect("name"),
                db_type: DbType::Mysql,
                host: "127.0.0.1".to_string(),
                port,
                database: None,
                username: maria.user.clone(),
                password: PasswordRef::Env(var.clone()),
                managed: false,
                labels: Default::default(),
                credential: None,
            };
            self.w().store.instances().add(&new).await?;
        }
        Ok(())
    }

    async fn slow_link(&mut self) -> Result<u16> {
        let link = SlowLink::start(3306, SLOW_LINK_DELAY).await?;
        let port = link.port;
        self.links.push(link);
        Ok(port)
    }

    /// Worker processes (not started yet) with these overrides.
    fn workers(&mut self, concurrency: u16, env: &[(&str, String)]) -> &mut Workers {
        let maria = self.maria.as_ref().expect("maria");
        let mut all = vec![("DBFLEET__WORKER__CONCURRENCY", concurrency.to_string())];
        all.extend(env.iter().cloned());
        let mut pool = Workers::new(self.w(), &all, &self.log_dir);
        // The password reference the instances carry, resolved by each worker.
        pool.env.push((self.password_var(), maria.password.clone()));
        self.workers = Some(pool);
        self.workers.as_mut().expect("workers")
    }

    fn pool(&mut self) -> &mut Workers {
        self.workers.as_mut().expect("workers")
    }

    /// `fleet::serve` (aggregator, dead-letter folder, sweeper) on a task.
    fn serve(&mut self) {
        let world = self.w();
        let (settings, store, broker) = (
            world.settings.clone(),
            world.store.clone(),
            world.broker.clone(),
        );
        let token = CancellationToken::new();
        let shutdown = token.clone();
        let handle = tokio::spawn(async move {
            fleet::serve(&settings, store, broker, shutdown)
                .await
                .map_err(|e| e.to_string())
        });
        self.serve = Some((token, handle));
    }

    /// `None` while `serve` runs; why it stopped otherwise.
    async fn serve_stopped(&mut self) -> Option<String> {
        let (_, handle) = self.serve.as_mut()?;
        if !handle.is_finished() {
            return None;
        }
        let (_, handle) = self.serve.take()?;
        Some(match handle.await {
            Ok(Ok(())) => "serve returned".to_string(),
            Ok(Err(e)) => format!("serve failed: {e}"),
            Err(e) => format!("serve panicked: {e}"),
        })
    }

    async fn start_batch(&self) -> Result<Batch> {
        let world = self.w();
        Ok(dispatcher::start_batch(
            &world.store,
            world.broker.as_ref(),
            &dispatcher::BatchRequest {
                params: &dbfleet::message::JobParams::default_for(
                    dbfleet::message::JobKind::CapacitySync,
                ),
                selection: Selection::AllActive,
                deadline: world.settings.job.deadline,
                requested_by: Some("faults"),
                interactive: false,
            },
        )
        .await?)
    }

    /// Wait for the batch to end; on timeout, the batch as it is.
    async fn wait(&self, id: BatchId, timeout: Duration) -> Result<(Batch, bool)> {
        let store = self.w().store.clone();
        match tokio::time::timeout(
            timeout,
            dispatcher::wait(&store, id, Duration::from_millis(100)),
        )
        .await
        {
            Ok(batch) => Ok((batch?, false)),
            Err(_) => Ok((
                store
                    .batches()
                    .get(id)
                    .await?
                    .ok_or_else(|| anyhow!("batch gone"))?,
                true,
            )),
        }
    }

    async fn progress(&self, id: BatchId) -> Result<(i64, BatchStatus)> {
        let b = self
            .w()
            .store
            .batches()
            .get(id)
            .await?
            .ok_or_else(|| anyhow!("batch gone"))?;
        Ok((b.succeeded + b.failed, b.status))
    }

    /// Wait until at least `done` jobs of the batch are decided.
    async fn until_done(&self, id: BatchId, done: i64, timeout: Duration) -> Result<BatchStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            let (n, status) = self.progress(id).await?;
            if n >= done || status.is_terminal() {
                return Ok(status);
            }
            if Instant::now() > deadline {
                bail!("{done} jobs not done after {timeout:?} ({n} were)");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn pg(&self) -> Result<PgConnection> {
        Ok(PgConnection::connect(&store_url(self.w())).await?)
    }

    /// Every stored `database_size_stats` row: (instance, database, size, date).
    async fn stats(&self) -> Result<BTreeSet<(i64, String, i64, NaiveDate)>> {
        let mut pg = self.pg().await?;
        let rows: Vec<(i64, String, i64, NaiveDate)> = sqlx::query_as(
            "SELECT instance_id, database_name, size_mb, collected_date FROM database_size_stats",
        )
        .fetch_all(&mut pg)
        .await?;
        Ok(rows.into_iter().collect())
    }

    /// Stored stat rows beyond one per (instance, database, date).
    async fn duplicate_stats(&self) -> Result<i64> {
        let mut pg = self.pg().await?;
        Ok(sqlx::query_scalar(
            "SELECT COALESCE(SUM(n - 1), 0)::BIGINT FROM (SELECT count(*) AS n FROM database_size_stats \
             GROUP BY instance_id, database_name, collected_date) d",
        )
        .fetch_one(&mut pg)
        .await?)
    }

    /// Everything the scenario started, stopped and deleted.
    async fn finish(&mut self) {
        if let Some((token, handle)) = self.serve.take() {
            token.cancel();
            let _ = tokio::time::timeout(Duration::from_secs(15), handle).await;
        }
        if let Some(mut pool) = self.workers.take() {
            pool.kill_all();
        }
        self.links.clear();
        if self.broker_touched {
            if !broker_answers().await {
                let _ = rabbitmqctl(&["start_app"]).await;
            }
            self.broker_touched = false;
        }
        let names = self
            .world
            .take()
            .map(|w| world_names(w, &self.extra_queues));
        let maria = self.maria.take();
        cleanup(names, maria).await;
    }
}

impl Drop for Fixture {
    /// The failure path (a panic in the scenario): the same clean-up, blocking.
    fn drop(&mut self) {
        if let Some((token, handle)) = self.serve.take() {
            token.cancel();
            handle.abort();
        }
        if let Some(mut pool) = self.workers.take() {
            pool.kill_all();
        }
        self.links.clear();
        if self.broker_touched {
            let _ = Command::new("rabbitmqctl").arg("start_app").output();
        }
        let names = self
            .world
            .take()
            .map(|w| world_names(w, &self.extra_queues));
        let maria = self.maria.take();
        if names.is_none() && maria.is_none() {
            return;
        }
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(cleanup(names, maria));
        })
        .join();
    }
}

/// (store database, queues, exchanges) of a world; drops the world.
fn world_names(world: World, extra_queues: &[String]) -> (String, Vec<String>, Vec<String>) {
    let p = world.settings.broker.prefix.clone();
    let mut queues: Vec<String> = ["jobs", "interactive", "results", "dead"]
        .iter()
        .map(|q| format!("{p}.{q}"))
        .collect();
    queues.extend((0..world.settings.broker.retry_delays.len()).map(|t| format!("{p}.retry.{t}")));
    queues.extend(extra_queues.iter().cloned());
    let store_db = format!("dbft_store_{}", world.tag);
    drop(world);
    (store_db, queues, vec![p.clone(), format!("{p}.dlx")])
}

async fn cleanup(names: Option<(String, Vec<String>, Vec<String>)>, maria: Option<MariaUser>) {
    if let Some((store_db, queues, exchanges)) = names {
        if let Ok(conn) = lapin::Connection::connect(AMQP, ConnectionProperties::default()).await {
            for q in &queues {
                if let Ok(ch) = conn.create_channel().await {
                    let _ = ch.queue_delete(q, QueueDeleteOptions::default()).await;
                }
            }
            for x in &exchanges {
                if let Ok(ch) = conn.create_channel().await {
                    let _ = ch
                        .exchange_delete(x, ExchangeDeleteOptions::default())
                        .await;
                }
            }
            let _ = conn.close(200, "bye").await;
        }
        if let Ok(mut admin) = PgConnection::connect(PG_ADMIN).await {
            let sql = format!("DROP DATABASE IF EXISTS \"{store_db}\" WITH (FORCE)");
            let _ = admin.execute(sql.as_str()).await;
        }
    }
    if let Some(maria) = maria {
        maria.teardown().await;
    }
}

// ---------------------------------------------------------------------------
// 1. SIGKILL

async fn sigkill(fx: &mut Fixture) -> Result<Row> {
    const INSTANCES: usize = 300;
    const KILLS: usize = 12;
    let mut row = Row::new("sigkill");
    fx.world("").await?;
    let port = fx.slow_link().await?;
    fx.add_instances("k", INSTANCES, port).await?;
    fx.serve();
    fx.workers(2, &[]).spawn_n(3)?;

    // The fault-free reference, in the same world.
    let started = Instant::now();
    let clean = fx.start_batch().await?;
    let (_, timed_out) = fx.wait(clean.id, Duration::from_secs(600)).await?;
    let clean_secs = started.elapsed();
    let reference = tally(fx.w(), clean.id, INSTANCES).await?;
    if timed_out || reference.status != BatchStatus::Success {
        bail!(
            "the fault-free batch did not succeed: {:?} {:?}",
            reference.status,
            reference.notes
        );
    }
    let before = fx.stats().await?;

    // The same batch, with SIGKILLs at random moments.
    let mut moments: Vec<f64> = {
        let mut rng = rand::thread_rng();
        (0..KILLS).map(|_| rng.gen_range(0.05..0.8)).collect()
    };
    moments.sort_by(f64::total_cmp);
    let started = Instant::now();
    let faulty = fx.start_batch().await?;
    let (mut mid_batch, mut victims) = (0, Vec::new());
    for at in moments {
        let when = clean_secs.mul_f64(at);
        if let Some(rest) = when.checked_sub(started.elapsed()) {
            tokio::time::sleep(rest).await;
        }
        let (_, status) = fx.progress(faulty.id).await?;
        let pool = fx.pool();
        let index = rand::thread_rng().gen_range(0..pool.live.len());
        victims.push(pool.sigkill(index)?);
        pool.spawn()?;
        if !status.is_terminal() {
            mid_batch += 1;
        }
    }
    let (_, timed_out) = fx.wait(faulty.id, Duration::from_secs(600)).await?;
    let faulty_secs = started.elapsed();
    let t = tally(fx.w(), faulty.id, INSTANCES).await?;
    let after = fx.stats().await?;
    let expected_rows = INSTANCES * DATABASES.len();
    let stats_twice =
        (after.len() as i64 - expected_rows as i64).max(0) + fx.duplicate_stats().await?;
    let changed = before.symmetric_difference(&after).count();

    row.injected = format!("{KILLS} SIGKILLs of a random worker (3 x conc 2), each replaced");
    row.take_tally(&t);
    row.twice += stats_twice;
    row.other = format!(
        "{mid_batch}/{KILLS} kills mid-batch; {} jobs redelivered; stats {}/{} rows identical; {:.0}s vs {:.0}s fault-free",
        t.redelivered,
        after.intersection(&before).count(),
        expected_rows,
        faulty_secs.as_secs_f64(),
        clean_secs.as_secs_f64()
    );
    row.expect(!timed_out, "the faulty batch did not end within 600 s");
    row.expect(
        t.status == BatchStatus::Success,
        format!("batch ended {:?}", t.status),
    );
    row.expect(
        mid_batch >= 10,
        format!("only {mid_batch} kills landed mid-batch"),
    );
    row.expect(
        before.len() == expected_rows,
        format!(
            "fault-free run stored {} rows, expected {expected_rows}",
            before.len()
        ),
    );
    row.expect(
        changed == 0,
        format!("{changed} stat rows differ from the fault-free run"),
    );
    row.expect(
        stats_twice == 0,
        format!("{stats_twice} stat rows counted twice"),
    );
    if let Some(why) = fx.serve_stopped().await {
        row.problems.push(why);
    }
    if !row.pass() {
        row.problems.extend(fx.pool().warnings(20));
    }
    let _ = victims;
    Ok(row)
}

// ---------------------------------------------------------------------------
// 2. Broker restart

async fn broker_restart(fx: &mut Fixture) -> Result<Row> {
    const INSTANCES: usize = 200;
    const RESTARTS: [f64; 3] = [0.15, 0.40, 0.65];
    let mut row = Row::new("broker-restart");
    if !broker_answers().await {
        bail!("the broker does not answer before the scenario");
    }
    fx.world("").await?;
    let port = fx.slow_link().await?;
    fx.add_instances("r", INSTANCES, port).await?;
    fx.serve();
    fx.workers(2, &[]).spawn_n(3)?;

    let batch = fx.start_batch().await?;
    let mut downtimes = Vec::new();
    let mut mid_batch = 0;
    for share in RESTARTS {
        let target = (INSTANCES as f64 * share) as i64;
        let status = fx
            .until_done(batch.id, target, Duration::from_secs(600))
            .await?;
        if !status.is_terminal() {
            mid_batch += 1;
        }
        fx.broker_touched = true;
        downtimes.push(restart_broker(Duration::from_secs(2)).await?);
    }
    let (_, timed_out) = fx.wait(batch.id, Duration::from_secs(600)).await?;
    let t = tally(fx.w(), batch.id, INSTANCES).await?;
    let exited = fx.pool().exited();

    row.injected = "3 x rabbitmqctl stop_app, 2 s, start_app".to_string();
    row.take_tally(&t);
    row.other = format!(
        "{mid_batch}/3 restarts mid-batch, down {} s; {} jobs redelivered; {} of 3 workers alive",
        downtimes
            .iter()
            .map(|d| format!("{:.0}", d.as_secs_f64()))
            .collect::<Vec<_>>()
            .join("+"),
        t.redelivered,
        3 - exited.len()
    );
    row.expect(
        !timed_out,
        "the batch did not end within 600 s of the last restart",
    );
    row.expect(
        t.status == BatchStatus::Success,
        format!("batch ended {:?}", t.status),
    );
    row.expect(
        mid_batch == 3,
        format!("only {mid_batch} restarts mid-batch"),
    );
    for (name, status) in &exited {
        row.problems.push(format!("worker {name} exited: {status}"));
    }
    if let Some(why) = fx.serve_stopped().await {
        row.problems.push(why);
    }
    if !row.pass() {
        row.problems.extend(fx.pool().warnings(20));
    }
    Ok(row)
}

// ---------------------------------------------------------------------------
// 3. Hostile messages

/// The `n`-th hostile body and what it is.
fn hostile(n: usize) -> (&'static str, Vec<u8>) {
    let job = |schema: &str| {
        serde_json::json!({
            "schema": schema,
            "job_id": uuid::Uuid::now_v7(),
            "kind": "capacity_sync",
            "instance_id": 1,
            "deadline": Utc::now() + chrono::Duration::minutes(10),
            "enqueued_at": Utc::now(),
        })
    };
    if n % 100 == 99 {
        // Ten of them: 1 MiB of JSON-looking bytes.
        let mut body = b"{\"schema\":\"dbfleet.job.v1\",\"pad\":\"".to_vec();
        body.resize(1024 * 1024, b'x');
        return ("huge 1 MiB", body);
    }
    match n % 9 {
        0 => ("not JSON", format!("this is not json #{n}").into_bytes()),
        1 => (
            "no schema",
            serde_json::to_vec(&serde_json::json!({"job_id": n, "kind": "capacity_sync"})).unwrap(),
        ),
        2 => (
            "job v2",
            serde_json::to_vec(&job("dbfleet.job.v2")).unwrap(),
        ),
        3 => (
            "wrong types",
            serde_json::to_vec(&serde_json::json!({
                "schema": "dbfleet.job.v1", "job_id": 12345, "kind": ["capacity_sync"],
                "instance_id": "one", "deadline": true, "enqueued_at": null,
            }))
            .unwrap(),
        ),
        4 => ("empty", Vec::new()),
        5 => (
            "invalid UTF-8",
            vec![0xff, 0xfe, b'{', 0xc3, 0x28, b'}', (n % 256) as u8],
        ),
        6 => ("JSON array", format!("[1, 2, {n}]").into_bytes()),
        7 => (
            "result on jobs",
            serde_json::to_vec(&job("dbfleet.result.v1")).unwrap(),
        ),
        _ => (
            "truncated job",
            serde_json::to_vec(&job("dbfleet.job.v1"))
                .map(|b| b[..b.len() / 2].to_vec())
                .unwrap(),
        ),
    }
}

async fn publish_hostile(
    channel: &lapin::Channel,
    queue: &str,
    range: std::ops::Range<usize>,
) -> Result<()> {
    for n in range {
        let (_, body) = hostile(n);
        let props = BasicProperties::default()
            .with_message_id(format!("hostile-{n:04}").into())
            .with_delivery_mode(2);
        let confirm = channel
            .basic_publish("", queue, BasicPublishOptions::default(), &body, props)
            .await?
            .await?;
        if !confirm.is_ack() {
            bail!("hostile message {n} not confirmed");
        }
    }
    Ok(())
}

async fn hostile_messages(fx: &mut Fixture) -> Result<Row> {
    const INSTANCES: usize = 60;
    const HOSTILE: usize = 1000;
    let mut row = Row::new("hostile");
    fx.world("").await?;
    fx.add_instances("h", INSTANCES, 3306).await?;
    fx.serve();
    fx.workers(2, &[]).spawn_n(3)?;

    let queue = format!("{}.jobs", fx.w().settings.broker.prefix);
    let (conn, channel) = amqp_channel().await?;
    publish_hostile(&channel, &queue, 0..400).await?;
    let (batch, published) = tokio::join!(
        fx.start_batch(),
        publish_hostile(&channel, &queue, 400..HOSTILE)
    );
    let _ = conn.close(200, "bye").await;
    let (batch, ()) = (batch?, published?);
    let (_, timed_out) = fx.wait(batch.id, Duration::from_secs(300)).await?;
    let t = tally(fx.w(), batch.id, INSTANCES).await?;

    // Every hostile message is kept as a dead letter, once, with a reason.
    let deadline = Instant::now() + Duration::from_secs(180);
    let letters = loop {
        let letters = fx.w().store.dead_letters().list(true, 10_000).await?;
        if letters.len() >= HOSTILE || Instant::now() > deadline {
            break letters;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    // Anything more would show up by now.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let letters = if letters.len() >= HOSTILE {
        fx.w().store.dead_letters().list(true, 10_000).await?
    } else {
        letters
    };
    let ids: BTreeSet<&str> = letters
        .iter()
        .filter_map(|d| d.message_id.as_deref())
        .filter(|id| id.starts_with("hostile-"))
        .collect();
    let without_reason = letters
        .iter()
        .filter(|d| d.reason.trim().is_empty())
        .count();
    let huge_kept = letters
        .iter()
        .filter(|d| d.body.len() == 1024 * 1024)
        .count();
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    for d in &letters {
        // The kind of reason, without its details ("unsupported schema `x`").
        let kind = d.reason.split([':', '`']).next().unwrap_or_default();
        let kind = kind.trim().to_string();
        *reasons.entry(kind).or_default() += 1;
    }
    let exited = fx.pool().exited();

    row.injected = format!("{HOSTILE} malformed/unknown-version messages on the jobs queue");
    row.take_tally(&t);
    row.twice += (letters.len() as i64 - HOSTILE as i64).max(0);
    row.lost += (HOSTILE as i64 - ids.len() as i64).max(0);
    row.other = format!(
        "{} dead letters ({} distinct, {} without reason, {huge_kept}/10 1 MiB bodies whole, {} kinds of reason); {} of 3 workers alive",
        letters.len(),
        ids.len(),
        without_reason,
        reasons.len(),
        3 - exited.len()
    );
    row.expect(!timed_out, "the real batch did not end within 300 s");
    row.expect(
        t.status == BatchStatus::Success,
        format!("real batch ended {:?}", t.status),
    );
    row.expect(
        letters.len() == HOSTILE && ids.len() == HOSTILE,
        format!(
            "{} dead letters, {} distinct hostile ids, expected {HOSTILE}",
            letters.len(),
            ids.len()
        ),
    );
    row.expect(
        without_reason == 0,
        format!("{without_reason} without a reason"),
    );
    row.expect(
        huge_kept == 10,
        format!("{huge_kept}/10 huge bodies kept whole"),
    );
    for (name, status) in &exited {
        row.problems.push(format!("worker {name} exited: {status}"));
    }
    if let Some(why) = fx.serve_stopped().await {
        row.problems.push(why);
    }
    if !row.pass() {
        row.problems
            .push(format!("dead-letter reasons: {reasons:?}"));
        row.problems.extend(fx.pool().warnings(10));
    }
    Ok(row)
}

// ---------------------------------------------------------------------------
// 4. Black-hole instance

async fn black_hole(fx: &mut Fixture) -> Result<Row> {
    const GOOD: usize = 4;
    let deadline = Duration::from_secs(10);
    let mut row = Row::new("black-hole");
    let job_yaml =
        "job:\n  deadline: 10s\n  connect_timeout: 3s\n  statement_timeout: 5s\n  lock_timeout: 2s\n";
    fx.world(job_yaml).await?;
    let mut hole = BlackHole::start()?;
    fx.add_instances("good", GOOD, 3306).await?;
    fx.add_instances("hole", 1, hole.port).await?;
    fx.serve();
    let job_env = [
        ("DBFLEET__JOB__DEADLINE", "10s".to_string()),
        ("DBFLEET__JOB__CONNECT_TIMEOUT", "3s".to_string()),
        ("DBFLEET__JOB__STATEMENT_TIMEOUT", "5s".to_string()),
        ("DBFLEET__JOB__LOCK_TIMEOUT", "2s".to_string()),
    ];
    fx.workers(2, &job_env).spawn_n(2)?;

    let dispatched = Instant::now();
    let batch = fx.start_batch().await?;
    let limit = Instant::now() + Duration::from_secs(120);
    let (hole_job, took) = loop {
        let jobs = fx.w().store.batches().jobs(batch.id).await?;
        let job = jobs
            .into_iter()
            .find(|j| j.instance.starts_with("hole-"))
            .ok_or_else(|| anyhow!("no job for the black hole"))?;
        if job.status != "pending" || Instant::now() > limit {
            break (job, dispatched.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let (_, timed_out) = fx.wait(batch.id, Duration::from_secs(120)).await?;
    let t = tally(fx.w(), batch.id, GOOD + 1).await?;
    let swallowed = hole.stop();

    let class = hole_job.error.as_ref().map(|e| e.class);
    row.injected = "an instance that accepts TCP and never answers".to_string();
    row.take_tally(&t);
    row.other = format!(
        "black hole failed `{}` after {:.1} s (deadline 10 s, connect timeout 3 s); {swallowed} connection(s) swallowed",
        class.map(ErrorClass::as_str).unwrap_or(hole_job.status.as_str()),
        took.as_secs_f64()
    );
    row.expect(!timed_out, "the batch did not end within 120 s");
    row.expect(
        t.status == BatchStatus::PartialSuccess,
        format!("batch ended {:?}", t.status),
    );
    row.expect(
        hole_job.status == "failed" && class == Some(ErrorClass::Timeout),
        format!(
            "black-hole job {} with {:?}",
            hole_job.status, hole_job.error
        ),
    );
    row.expect(
        took < deadline,
        format!("black-hole result after {took:?}, deadline {deadline:?}"),
    );
    row.expect(
        t.succeeded == GOOD as i64,
        format!("{} of {GOOD} good instances succeeded", t.succeeded),
    );
    // The sweeper's `timeout` would be a lost job: the worker must report it.
    if let Some(why) = fx.serve_stopped().await {
        row.problems.push(why);
    }
    if !row.pass() {
        row.problems.extend(fx.pool().warnings(10));
    }
    Ok(row)
}

// ---------------------------------------------------------------------------
// 5. Duplicate results

fn job_rows_json(rows: &[JobRow]) -> BTreeMap<String, serde_json::Value> {
    rows.iter()
        .map(|j| (j.job_id.to_string(), serde_json::to_value(j).unwrap()))
        .collect()
}

fn counters_json(b: &Batch) -> serde_json::Value {
    serde_json::json!({
        "status": b.status, "total": b.total, "succeeded": b.succeeded, "failed": b.failed,
        "total_records": b.summary.get("total_records"), "total_size_mb": b.summary.get("total_size_mb"),
        "finished_at": b.finished_at,
    })
}

/// The `n`-th duplicate of a captured result, and what kind it is.
fn duplicate(original: &JobResult, n: usize) -> (&'static str, JobResult) {
    let mut d = original.clone();
    let hour = chrono::Duration::hours(1);
    match n % 5 {
        0 => ("exact copy", d),
        1 => {
            d.finished_at = original.finished_at - hour;
            d.started_at = original.started_at - hour;
            d.attempt += 1;
            d.worker = "duplicate".into();
            ("older copy", d)
        }
        2 => {
            d.status = JobStatus::Failed;
            d.error = Some(JobError {
                class: ErrorClass::Internal,
                message: "a late failure of a job that succeeded".into(),
            });
            d.output = None;
            d.finished_at = Utc::now() + hour;
            ("newer failure", d)
        }
        3 => {
            d.status = JobStatus::Failed;
            d.error = Some(JobError {
                class: ErrorClass::Connect,
                message: "an old failure".into(),
            });
            d.output = None;
            d.finished_at = original.finished_at - hour;
            ("older failure", d)
        }
        _ => {
            if let Some(dbfleet::message::JobOutput::CapacitySync(c)) = &mut d.output {
                c.records += 100;
                c.databases += 100;
                c.total_size_mb += 1000;
            }
            d.finished_at = original.finished_at - hour;
            ("older, other counters", d)
        }
    }
}

async fn duplicate_results(fx: &mut Fixture) -> Result<Row> {
    const INSTANCES: usize = 60;
    const DUPLICATES: usize = 1000;
    let mut row = Row::new("dupes");
    fx.world("").await?;
    fx.add_instances("d", INSTANCES, 3306).await?;

    // Capture every result as the workers publish it.
    let prefix = fx.w().settings.broker.prefix.clone();
    let capture = format!("{prefix}.capture");
    fx.extra_queues.push(capture.clone());
    let (conn, channel) = amqp_channel().await?;
    channel
        .queue_declare(
            &capture,
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await?;
    channel
        .queue_bind(
            &capture,
            &prefix,
            "result.#",
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;

    fx.serve();
    fx.workers(2, &[]).spawn_n(2)?;
    let batch = fx.start_batch().await?;
    let (_, timed_out) = fx.wait(batch.id, Duration::from_secs(300)).await?;
    if timed_out {
        bail!("the batch did not end within 300 s");
    }
    let store = fx.w().store.clone();
    let before_batch = store
        .batches()
        .get(batch.id)
        .await?
        .ok_or_else(|| anyhow!("batch"))?;
    let before_jobs = job_rows_json(&store.batches().jobs(batch.id).await?);

    let mut originals = Vec::new();
    while let Some(message) = channel
        .basic_get(&capture, BasicGetOptions { no_ack: true })
        .await?
    {
        originals.push(JobResult::decode(&message.delivery.data)?);
    }
    channel
        .queue_delete(&capture, QueueDeleteOptions::default())
        .await?;
    let _ = conn.close(200, "bye").await;
    if originals.len() < INSTANCES {
        bail!("captured {} results for {INSTANCES} jobs", originals.len());
    }

    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    let duplicates: Vec<JobResult> = (0..DUPLICATES)
        .map(|n| {
            let (kind, d) = duplicate(&originals[(n / 5) % originals.len()], n);
            *kinds.entry(kind).or_default() += 1;
            d
        })
        .collect();
    let broker = fx.w().broker.clone();
    let published: Vec<_> = stream::iter(duplicates)
        .map(|d| {
            let broker = broker.clone();
            async move { broker.publish(Outgoing::result(&d)).await }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let refused = published.iter().filter(|r| r.is_err()).count();
    if refused > 0 {
        bail!("{refused} duplicates not confirmed by the broker");
    }

    // Wait until the aggregator has folded (and acked) every one of them.
    let results = format!("{prefix}.results");
    let limit = Instant::now() + Duration::from_secs(180);
    let mut empty_polls = 0;
    while empty_polls < 2 {
        if Instant::now() > limit {
            bail!("the results queue was not drained within 180 s");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (ready, _) = queue_counts(&results).await?;
        let depth = if ready == 0 {
            queue_depth(&results).await?
        } else {
            u64::from(ready)
        };
        empty_polls = if depth == 0 { empty_polls + 1 } else { 0 };
    }
    let after_batch = store
        .batches()
        .get(batch.id)
        .await?
        .ok_or_else(|| anyhow!("batch"))?;
    let after_jobs = job_rows_json(&store.batches().jobs(batch.id).await?);
    let t = tally(fx.w(), batch.id, INSTANCES).await?;
    let changed_jobs = before_jobs
        .iter()
        .filter(|(id, row)| after_jobs.get(*id) != Some(*row))
        .count();
    let counters_same = counters_json(&before_batch) == counters_json(&after_batch);
    let letters = store.dead_letters().list(true, 10_000).await?.len();

    row.injected = format!(
        "{DUPLICATES} duplicate results ({})",
        kinds
            .iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    row.take_tally(&t);
    row.twice += i64::from(!counters_same) + changed_jobs as i64;
    row.other = format!(
        "counters {}; {changed_jobs} job rows changed; {letters} dead letters",
        if counters_same {
            "unchanged"
        } else {
            "CHANGED"
        }
    );
    row.expect(
        before_batch.status == BatchStatus::Success,
        format!("batch ended {:?}", before_batch.status),
    );
    row.expect(
        counters_same,
        format!(
            "counters before {} after {}",
            counters_json(&before_batch),
            counters_json(&after_batch)
        ),
    );
    row.expect(
        changed_jobs == 0,
        format!("{changed_jobs} job rows changed"),
    );
    row.expect(letters == 0, format!("{letters} duplicates dead-lettered"));
    if let Some(why) = fx.serve_stopped().await {
        row.problems.push(why);
    }
    Ok(row)
}

// ---------------------------------------------------------------------------
// 6. SIGTERM drain

async fn sigterm(fx: &mut Fixture) -> Result<Row> {
    const INSTANCES: usize = 120;
    const WORKERS: usize = 3;
    let drain = Duration::from_secs(20);
    let margin = Duration::from_secs(10);
    let mut row = Row::new("sigterm");
    fx.world("").await?;
    let port = fx.slow_link().await?;
    fx.add_instances("t", INSTANCES, port).await?;
    fx.serve();
    fx.workers(2, &[("DBFLEET__WORKER__DRAIN_TIMEOUT", "20s".to_string())])
        .spawn_n(WORKERS)?;

    let batch = fx.start_batch().await?;
    let status = fx
        .until_done(batch.id, (INSTANCES / 4) as i64, Duration::from_secs(300))
        .await?;
    let (done_at_term, _) = fx.progress(batch.id).await?;
    let exits = fx.pool().sigterm_all(drain + margin).await?;
    let (done_after, status_after) = fx.progress(batch.id).await?;
    fx.pool().spawn_n(WORKERS)?;
    let (_, timed_out) = fx.wait(batch.id, Duration::from_secs(600)).await?;
    let t = tally(fx.w(), batch.id, INSTANCES).await?;

    let zero = exits
        .iter()
        .filter(|(_, s, _)| s.and_then(|s| s.code()) == Some(0))
        .count();
    let slowest = exits.iter().map(|(_, _, d)| *d).max().unwrap_or_default();
    row.injected = format!("SIGTERM to all {WORKERS} workers mid-batch, then {WORKERS} fresh ones");
    row.take_tally(&t);
    row.other = format!(
        "{zero}/{WORKERS} exited 0, slowest in {:.1} s (drain 20 s); {done_at_term} -> {done_after} jobs done while draining; {} redelivered",
        slowest.as_secs_f64(),
        t.redelivered
    );
    row.expect(
        !status.is_terminal() && !status_after.is_terminal(),
        "the batch was not running when the workers stopped",
    );
    for (name, status, took) in &exits {
        row.expect(
            status.and_then(|s| s.code()) == Some(0) && *took <= drain + margin,
            format!("worker {name}: {status:?} after {took:?}"),
        );
    }
    row.expect(!timed_out, "the batch did not end within 600 s");
    row.expect(
        t.status == BatchStatus::Success,
        format!("batch ended {:?}", t.status),
    );
    if let Some(why) = fx.serve_stopped().await {
        row.problems.push(why);
    }
    if !row.pass() {
        row.problems.extend(fx.pool().warnings(20));
    }
    Ok(row)
}

// ---------------------------------------------------------------------------

const SCENARIOS: &[&str] = &[
    "sigkill",
    "broker-restart",
    "hostile",
    "black-hole",
    "dupes",
    "sigterm",
];

/// Resolves on Ctrl-C or SIGTERM.
async fn interrupted() {
    dbfleet::lifecycle::wait_for_signal().await
}

/// No scenario may take longer than this, whatever hangs.
const SCENARIO_LIMIT: Duration = Duration::from_secs(30 * 60);

async fn run_scenario(name: &'static str, log_root: PathBuf) -> Row {
    // Not spawned: the dispatcher's future is not provably `Send`. A panic
    // is caught here; the fixture's `Drop` cleans up on the way out.
    let task = std::panic::AssertUnwindSafe(async move {
        let mut fx = Fixture::new(name, &log_root);
        let scenario = async {
            match name {
                "sigkill" => sigkill(&mut fx).await,
                "broker-restart" => broker_restart(&mut fx).await,
                "hostile" => hostile_messages(&mut fx).await,
                "black-hole" => black_hole(&mut fx).await,
                "dupes" => duplicate_results(&mut fx).await,
                _ => sigterm(&mut fx).await,
            }
        };
        let outcome = tokio::time::timeout(SCENARIO_LIMIT, scenario)
            .await
            .unwrap_or_else(|_| {
                Err(anyhow!(
                    "the scenario did not end within {SCENARIO_LIMIT:?}"
                ))
            });
        let warnings = fx
            .workers
            .as_ref()
            .map(|w| w.warnings(20))
            .unwrap_or_default();
        fx.finish().await;
        outcome.map_err(|e| (e, warnings))
    })
    .catch_unwind();
    match task.await {
        Ok(Ok(row)) => row,
        Ok(Err((e, warnings))) => {
            let mut row = Row::new(name);
            row.injected = "(did not run to the end)".into();
            row.problems.push(format!("error: {e:#}"));
            row.problems.extend(warnings);
            row
        }
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            let mut row = Row::new(name);
            row.injected = "(did not run to the end)".into();
            row.problems.push(format!("panicked: {message}"));
            row
        }
    }
}

fn print_table(rows: &[Row]) {
    let header = [
        "scenario",
        "what was injected",
        "jobs",
        "succeeded",
        "failed",
        "lost",
        "counted twice",
        "other figure",
        "verdict",
    ];
    println!();
    println!("| {} |", header.join(" | "));
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | --- |");
    for r in rows {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.scenario,
            r.injected,
            r.jobs,
            r.succeeded,
            r.failed,
            r.lost,
            r.twice,
            r.other,
            if r.pass() { "PASS" } else { "FAIL" }
        );
    }
    for r in rows.iter().filter(|r| !r.pass()) {
        println!();
        println!("{} FAILED:", r.scenario);
        for p in &r.problems {
            println!("  - {p}");
        }
    }
}

fn main() {
    let wanted: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    for w in &wanted {
        if !SCENARIOS.contains(&w.as_str()) {
            eprintln!("unknown scenario `{w}`; known: {}", SCENARIOS.join(", "));
            std::process::exit(2);
        }
    }
    let log_root = std::env::temp_dir().join(format!("dbfleet-faults-{}", std::process::id()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("runtime");
    let rows = runtime.block_on(async {
        let log = dbfleet::config::LogSettings {
            format: dbfleet::config::LogFormat::Pretty,
            level: std::env::var("DBFLEET_FAULTS_LOG").unwrap_or_else(|_| "error,lapin=off".into()),
        };
        let telemetry = dbfleet::config::TelemetrySettings::default();
        let _traces = dbfleet::telemetry::init(&log, &telemetry, "dbfleet-faults");
        println!(
            "fault-injection suite: {} against the local services; worker logs in {}",
            WORKER_BIN,
            log_root.display()
        );
        let mut rows = Vec::new();
        if !broker_answers().await {
            println!("RabbitMQ does not accept connections on 127.0.0.1:5672: start it first (see README)");
            return rows;
        }
        for name in SCENARIOS {
            if !wanted.is_empty() && !wanted.iter().any(|w| w == name) {
                continue;
            }
            let started = Instant::now();
            println!("--- {name}");
            // On Ctrl-C or SIGTERM, dropping the scenario drops its fixture,
            // whose `Drop` kills the workers and deletes the world.
            let row = tokio::select! {
                row = run_scenario(name, log_root.clone()) => row,
                () = interrupted() => {
                    let mut row = Row::new(name);
                    row.injected = "(interrupted)".into();
                    row.problems.push("interrupted by a signal; cleaned up".into());
                    rows.push(row);
                    break;
                }
            };
            println!(
                "    {} in {:.0} s: {}",
                if row.pass() { "PASS" } else { "FAIL" },
                started.elapsed().as_secs_f64(),
                row.other
            );
            rows.push(row);
        }
        rows
    });
    runtime.shutdown_timeout(Duration::from_secs(5));
    print_table(&rows);
    let passed = rows.iter().filter(|r| r.pass()).count();
    let failed = rows.len() - passed;
    println!();
    println!(
        "{} scenario(s), {passed} passed, {failed} failed",
        rows.len()
    );
    std::process::exit(i32::from(failed > 0 || rows.is_empty()));
}
