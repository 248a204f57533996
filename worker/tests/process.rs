//! Black-box tests of the real `dbfleet-worker` binary: exit codes, SIGTERM,
//! SIGKILL and hostile messages, each in a world of its own (a fresh control
//! store, a unique broker prefix, a MariaDB account of its own). The
//! aggregator (`fleet::serve`) runs in the test process. Nothing here
//! restarts a shared service: the broker faults live in
//! `cargo bench -p dbfleet-worker --bench faults`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../tests/common/mod.rs"]
mod common;

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use common::{MariaUser, SlowLink, World, AMQP};
use dbfleet::domain::{BatchId, DbType, InstanceName};
use dbfleet::fleet;
use dbfleet::fleet::dispatcher::{self, Selection};
use dbfleet::secret::PasswordRef;
use dbfleet::store::{Batch, BatchStatus, NewInstance};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, ConnectionProperties};
use sqlx::Connection as _;
use tokio_util::sync::CancellationToken;

const WORKER_BIN: &str = env!("CARGO_BIN_EXE_dbfleet-worker");

fn repo_file(path: &str) -> PathBuf {
    common::repo_root().join(path)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// Poll `check` every 50 ms until it is `Some`, for at most `limit`.
async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A world with a MariaDB account holding one small database, `instances`
/// instances on `port` (3306 or a slow link to it), and `serve` running.
struct Setup {
    world: World,
    maria: MariaUser,
    shutdown: CancellationToken,
    serve: tokio::task::JoinHandle<()>,
    link: Option<SlowLink>,
    workers: Procs,
    logs: PathBuf,
}

impl Setup {
    async fn new(instances: usize, slow: bool) -> Self {
        let world = World::new().await;
        let maria = MariaUser::new().await;
        maria
            .create_database(&format!("{}_only", maria.prefix), 64)
            .await;
        let link = if slow {
            Some(SlowLink::start(3306, Duration::from_millis(25)).await)
        } else {
            None
        };
        let port = link.as_ref().map_or(3306, |l| l.port);
        for i in 0..instances {
            let new = NewInstance {
                tls: Default::default(),
                name: InstanceName::parse(&format!("p-{i:03}")).unwrap(),
                db_type: DbType::Mysql,
                host: "127.0.0.1".to_string(),
                port,
                database: None,
                username: maria.user.clone(),
                password: PasswordRef::Env(format!("DBFT_PROC_PW_{}", world.tag)),
                managed: false,
                labels: Default::default(),
                credential: None,
            };
            world.store.instances().add(&new).await.unwrap();
        }
        let shutdown = CancellationToken::new();
        let (settings, store, broker, token) = (
            world.settings.clone(),
            world.store.clone(),
            world.broker.clone(),
            shutdown.clone(),
        );
        let serve =
            tokio::spawn(
                async move { fleet::serve(&settings, store, broker, token).await.unwrap() },
            );
        let logs = std::env::temp_dir().join(format!("dbfleet-process-{}", world.tag));
        std::fs::create_dir_all(&logs).unwrap();
        Setup {
            world,
            maria,
            shutdown,
            serve,
            link,
            workers: Procs::default(),
            logs,
        }
    }

    /// Start a `dbfleet-worker`; its stderr goes to a file of its own.
    fn spawn_worker(&mut self, concurrency: u16) -> usize {
        self.spawn_worker_with(concurrency, &[])
    }

    /// [`Setup::spawn_worker`], logging at `level`.
    fn spawn_worker_logging(&mut self, concurrency: u16, level: &str) -> usize {
        self.spawn_worker_with(concurrency, &[("DBFLEET__LOG__LEVEL", level.to_string())])
    }

    /// [`Setup::spawn_worker`], with `overrides` of its environment.
    fn spawn_worker_with(&mut self, concurrency: u16, overrides: &[(&str, String)]) -> usize {
        let n = self.workers.len();
        let log = std::fs::File::create(self.logs.join(format!("w{n}.log"))).unwrap();
        let mut command = Command::new(WORKER_BIN);
        command
            .arg("--config")
            .arg(repo_file("config/dbfleet.yaml"))
            .env(
                "DBFLEET__STORE__URL",
                format!(
                    "postgres://postgres@127.0.0.1:5432/dbft_store_{}",
                    self.world.tag
                ),
            )
            .env("DBFLEET__STORE__MAX_CONNECTIONS", "3")
            .env("DBFLEET__BROKER__URL", AMQP)
            .env(
                "DBFLEET__BROKER__PREFIX",
                &self.world.settings.broker.prefix,
            )
            .env(
                "DBFLEET__FILTERS__PATH",
                repo_file("config/database_filters.yaml"),
            )
            .env("DBFLEET__WORKER__CONCURRENCY", concurrency.to_string())
            .env("DBFLEET__WORKER__NAME", format!("proc-w{n}"))
            .env("DBFLEET__WORKER__DRAIN_TIMEOUT", "20s")
            .env("DBFLEET__LOG__LEVEL", "warn")
            .env(
                format!("DBFT_PROC_PW_{}", self.world.tag),
                &self.maria.password,
            )
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        command.envs(overrides.iter().map(|(k, v)| (k, v)));
        self.workers.push(command.spawn().unwrap());
        n
    }

    fn log(&self, n: usize) -> String {
        std::fs::read_to_string(self.logs.join(format!("w{n}.log"))).unwrap_or_default()
    }

    fn queue(&self, name: &str) -> String {
        format!("{}.{name}", self.world.settings.broker.prefix)
    }

    /// Wait until the jobs queue has `n` consumers.
    async fn until_consumers(&self, n: u32) {
        let queue = self.queue("jobs");
        eventually(
            &format!("{n} consumer(s) on {queue}"),
            Duration::from_secs(20),
            || async { (queue_counts(&queue).await.1 == n).then_some(()) },
        )
        .await
    }

    async fn start_batch(&self) -> Batch {
        dispatcher::start_batch(
            &self.world.store,
            self.world.broker.as_ref(),
            &dispatcher::BatchRequest {
                params: &dbfleet::message::JobParams::default_for(
                    dbfleet::message::JobKind::CapacitySync,
                ),
                selection: Selection::AllActive,
                deadline: self.world.settings.job.deadline,
                requested_by: None,
                interactive: false,
            },
        )
        .await
        .unwrap()
    }

    async fn batch(&self, id: BatchId) -> Batch {
        self.world.store.batches().get(id).await.unwrap().unwrap()
    }

    async fn wait(&self, id: BatchId) -> Batch {
        let store = self.world.store.clone();
        tokio::time::timeout(
            Duration::from_secs(60),
            dispatcher::wait(&store, id, Duration::from_millis(50)),
        )
        .await
        .unwrap_or_else(|_| panic!("batch {id} did not end within 60 s"))
        .unwrap()
    }

    async fn teardown(mut self) {
        drop(std::mem::take(&mut self.workers));
        self.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(10), &mut self.serve).await;
        drop(self.link.take());
        let _ = std::fs::remove_dir_all(&self.logs);
        self.maria.teardown().await;
        // Queues (retry tiers included), exchanges and the store database.
        self.world.teardown().await;
    }
}

/// Worker processes, killed when dropped: a failed assertion must not leave
/// any behind.
#[derive(Default)]
struct Procs(Vec<Child>);

impl std::ops::Deref for Procs {
    type Target = Vec<Child>;
    fn deref(&self) -> &Vec<Child> {
        &self.0
    }
}

impl std::ops::DerefMut for Procs {
    fn deref_mut(&mut self) -> &mut Vec<Child> {
        &mut self.0
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Wait for a child to exit, for at most `limit`.
async fn exit_of(child: &mut Child, limit: Duration) -> ExitStatus {
    eventually("the worker to exit", limit, || {
        let status = child.try_wait().unwrap();
        async move { status }
    })
    .await
}

/// (ready messages, consumers) of a queue, by passive declare.
async fn queue_counts(queue: &str) -> (u32, u32) {
    let conn = lapin::Connection::connect(AMQP, ConnectionProperties::default())
        .await
        .unwrap();
    let channel = conn.create_channel().await.unwrap();
    let options = QueueDeclareOptions {
        passive: true,
        ..QueueDeclareOptions::default()
    };
    let q = channel
        .queue_declare(queue, options, FieldTable::default())
        .await
        .unwrap();
    let _ = conn.close(200, "bye").await;
    (q.message_count(), q.consumer_count())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_and_exits_0_and_the_batch_still_succeeds() {
    let mut s = Setup::new(12, true).await;
    let first = s.spawn_worker(2);
    s.until_consumers(1).await;
    let batch = s.start_batch().await;
    // Stop it while it is working: after the first result, before the last.
    eventually("a first job done", Duration::from_secs(30), || async {
        let b = s.batch(batch.id).await;
        (b.succeeded + b.failed > 0).then_some(())
    })
    .await;
    sigterm(&s.workers[first]);
    let status = exit_of(&mut s.workers[first], Duration::from_secs(30)).await;
    assert_eq!(status.code(), Some(0), "{}", s.log(first));
    if !s.batch(batch.id).await.status.is_terminal() {
        s.spawn_worker(2);
    }
    let ended = s.wait(batch.id).await;
    assert_eq!(ended.status, BatchStatus::Success, "{ended:?}");
    assert_eq!((ended.total, ended.succeeded, ended.failed), (12, 12, 0));
    s.teardown().await;
}

#[test]
fn a_bad_config_exits_2_and_names_each_key() {
    let dir = std::env::temp_dir().join(format!("dbfleet-proc-{}", common::tag()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.yaml");
    std::fs::write(&file, "worker:\n  concurency: 3\n").unwrap();
    let out = Command::new(WORKER_BIN)
        .arg("--config")
        .arg(&file)
        .env("DBFLEET__JOB__DEADLINE", "soon")
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("worker.concurency"), "{err}");
    assert!(err.contains("job.deadline"), "{err}");
    assert!(err.contains("DBFLEET__JOB__DEADLINE"), "{err}");
}

#[test]
fn without_a_shared_broker_it_exits_2_and_says_why() {
    let dir = std::env::temp_dir().join(format!("dbfleet-proc-{}", common::tag()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("no-broker.yaml");
    std::fs::write(
        &file,
        format!("data_dir: {}\nlog:\n  level: warn\n", dir.display()),
    )
    .unwrap();
    let unset = Command::new(WORKER_BIN)
        .arg("--config")
        .arg(&file)
        .output()
        .unwrap();
    let memory = Command::new(WORKER_BIN)
        .arg("--config")
        .arg(repo_file("config/dbfleet.yaml"))
        .env("DBFLEET__BROKER__URL", "memory://")
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    for out in [unset, memory] {
        let err = stderr(&out);
        // A configuration problem, as for every command that needs a broker.
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains("needs a shared broker"), "{err}");
        assert!(err.contains("broker.url"), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkilled_worker_loses_nothing_and_counts_nothing_twice() {
    const JOBS: usize = 20;
    let mut s = Setup::new(JOBS, true).await;
    let batch = s.start_batch().await;
    let doomed = s.spawn_worker(4);
    // It holds jobs once it has taken them off the queue (prefetch 4).
    let jobs = s.queue("jobs");
    eventually(
        "the worker to take jobs",
        Duration::from_secs(20),
        || async {
            let (ready, consumers) = queue_counts(&jobs).await;
            (consumers == 1 && ready <= (JOBS - 4) as u32).then_some(())
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = s.batch(batch.id).await;
    s.workers[doomed].kill().unwrap(); // SIGKILL
    s.workers[doomed].wait().unwrap();
    assert_eq!(before.status, BatchStatus::Running, "killed too late");

    s.spawn_worker(4);
    let ended = s.wait(batch.id).await;
    let rows = s.world.store.batches().jobs(batch.id).await.unwrap();
    assert_eq!(ended.status, BatchStatus::Success, "{ended:?}");
    assert_eq!(
        (ended.total, ended.succeeded, ended.failed),
        (JOBS as i64, JOBS as i64, 0)
    );
    assert_eq!(rows.len(), JOBS);
    assert!(rows
        .iter()
        .all(|j| j.status == "succeeded" && j.count("records") == 1));
    assert_eq!(
        ended.summary.get("total_records"),
        JOBS as i64,
        "one database per instance"
    );
    assert!(
        rows.iter().any(|j| j.attempt > 1),
        "no job was in flight on the killed worker: {:?}",
        rows.iter().map(|j| j.attempt).collect::<Vec<_>>()
    );
    s.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_messages_are_dead_lettered_and_the_worker_lives_on() {
    const MALFORMED: usize = 100;
    let mut s = Setup::new(5, false).await;
    let worker = s.spawn_worker(2);
    s.until_consumers(1).await;

    let conn = lapin::Connection::connect(AMQP, ConnectionProperties::default())
        .await
        .unwrap();
    let channel = conn.create_channel().await.unwrap();
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let jobs = s.queue("jobs");
    let bodies: [&[u8]; 5] = [
        b"not json",
        b"",
        b"\xff\xfe\xfd",
        br#"{"no":"schema"}"#,
        br#"{"schema":"dbfleet.job.v2","job_id":"x"}"#,
    ];
    let mut batch = None;
    for n in 0..MALFORMED {
        if n == MALFORMED / 2 {
            batch = Some(s.start_batch().await);
        }
        let props = BasicProperties::default().with_message_id(format!("bad-{n}").into());
        let confirm = channel
            .basic_publish(
                "",
                &jobs,
                BasicPublishOptions::default(),
                bodies[n % bodies.len()],
                props,
            )
            .await
            .unwrap()
            .await
            .unwrap();
        assert!(confirm.is_ack());
    }
    let _ = conn.close(200, "bye").await;

    let batch = batch.unwrap();
    let ended = s.wait(batch.id).await;
    assert_eq!(ended.status, BatchStatus::Success, "{ended:?}");
    assert_eq!((ended.total, ended.succeeded), (5, 5));
    let letters = eventually("100 dead letters", Duration::from_secs(30), || async {
        let letters = s.world.store.dead_letters().list(true, 1000).await.unwrap();
        (letters.len() >= MALFORMED).then_some(letters)
    })
    .await;
    assert_eq!(letters.len(), MALFORMED);
    assert!(letters.iter().all(|d| !d.reason.is_empty()));
    assert!(
        s.workers[worker].try_wait().unwrap().is_none(),
        "the worker died: {}",
        s.log(worker)
    );
    sigterm(&s.workers[worker]);
    let status = exit_of(&mut s.workers[worker], Duration::from_secs(30)).await;
    assert_eq!(status.code(), Some(0), "{}", s.log(worker));
    s.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_started_before_the_broker_waits_then_consumes() {
    let mut s = Setup::new(3, false).await;
    // The broker as the worker sees it: a port where nothing listens yet.
    let port = common::closed_port();
    let broker = format!("amqp://guest:guest@127.0.0.1:{port}/%2f");
    let n = s.spawn_worker_with(2, &[("DBFLEET__BROKER__URL", broker)]);
    eventually(
        "the worker to say the broker is not ready",
        Duration::from_secs(20),
        || async {
            s.log(n)
                .contains("the broker is not ready; waiting")
                .then_some(())
        },
    )
    .await;
    assert!(
        s.workers[n].try_wait().unwrap().is_none(),
        "it waits instead of exiting: {}",
        s.log(n)
    );
    // The broker becomes reachable: the worker subscribes and works.
    let _broker = SlowLink::listen_on(port, 5672, Duration::ZERO).await;
    s.until_consumers(1).await;
    let batch = s.start_batch().await;
    let ended = s.wait(batch.id).await;
    assert_eq!(
        (ended.status, ended.succeeded),
        (BatchStatus::Success, 3),
        "{}",
        s.log(n)
    );
    s.teardown().await;
}

/// Only `dbfleet migrate` changes the schema: a worker runs with a store
/// role that has data rights only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_runs_with_a_data_only_store_role() {
    let mut s = Setup::new(2, false).await;
    let role = format!("dbft_dml_{}", s.world.tag);
    let store_db = format!("dbft_store_{}", s.world.tag);
    let mut admin = common::pg_admin().await;
    let create = format!("CREATE ROLE {} LOGIN", common::pg_ident(&role));
    sqlx::raw_sql(&create).execute(&mut admin).await.unwrap();
    let url = format!("postgres://postgres@127.0.0.1:5432/{store_db}");
    let mut store = sqlx::PgConnection::connect(&url).await.unwrap();
    let quoted = common::pg_ident(&role);
    for sql in [
        format!("REVOKE CREATE ON SCHEMA public FROM PUBLIC, {quoted}"),
        format!("GRANT USAGE ON SCHEMA public TO {quoted}"),
        format!("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {quoted}"),
        format!("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {quoted}"),
    ] {
        sqlx::raw_sql(&sql).execute(&mut store).await.unwrap();
    }
    store.close().await.unwrap();

    let dml = format!("postgres://{role}@127.0.0.1:5432/{store_db}");
    let n = s.spawn_worker_with(2, &[("DBFLEET__STORE__URL", dml)]);
    s.until_consumers(1).await;
    let batch = s.start_batch().await;
    let ended = s.wait(batch.id).await;
    assert_eq!(
        (ended.status, ended.succeeded),
        (BatchStatus::Success, 2),
        "{}",
        s.log(n)
    );
    assert!(!s.log(n).contains("permission denied"), "{}", s.log(n));

    drop(std::mem::take(&mut s.workers));
    let drop_role = format!("DROP OWNED BY {quoted}; DROP ROLE {quoted}");
    let mut store = sqlx::PgConnection::connect(&url).await.unwrap();
    let _ = sqlx::raw_sql(&drop_role).execute(&mut store).await;
    store.close().await.unwrap();
    s.teardown().await;
}

/// A worker stopped by SIGTERM after a batch logs nothing above info, with
/// lapin's own lines switched on: every connection is closed, and lapin's
/// IO threads have stopped, before the runtime goes. Its log is a file, so
/// plain text; and no database notice reaches it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_stop_logs_nothing_above_info() {
    let mut s = Setup::new(3, false).await;
    let worker = s.spawn_worker_logging(2, "info,lapin=info");
    s.until_consumers(1).await;
    let batch = s.start_batch().await;
    let ended = s.wait(batch.id).await;
    assert_eq!(ended.status, BatchStatus::Success, "{ended:?}");
    sigterm(&s.workers[worker]);
    let status = exit_of(&mut s.workers[worker], Duration::from_secs(30)).await;
    let log = s.log(worker);
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(log.contains("worker stopped"), "{log}");
    // The jobs' own warnings are about the instance (the test account may
    // not list every database of a shared server), not about the stop.
    let loud: Vec<&str> = log
        .lines()
        .filter(|l| !l.contains(" job{"))
        .filter(|l| l.contains(" ERROR ") || l.contains(" WARN ") || l.contains("being shutdown"))
        .collect();
    assert!(loud.is_empty(), "{log}");
    assert!(
        !log.contains('\u{1b}'),
        "colour codes in a log file: {log:?}"
    );
    assert!(!log.contains("sqlx::postgres::notice"), "{log}");
    s.teardown().await;
}

/// A running worker's `/healthz`, `/readyz` and `/metrics`, read with a real
/// HTTP client: ready once it consumes, its jobs counted by kind, outcome
/// and engine, and no id of a job, batch or instance among the series.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_serves_its_health_readiness_and_metrics() {
    let mut s = Setup::new(6, false).await;
    let addr = format!("127.0.0.1:{}", common::closed_port());
    s.spawn_worker_with(2, &[("DBFLEET__TELEMETRY__METRICS_ADDR", addr.clone())]);
    let http = reqwest::Client::new();
    let get = |path: &str| {
        let request = http.get(format!("http://{addr}{path}")).send();
        async move {
            let response = request.await.ok()?;
            Some((response.status().as_u16(), response.text().await.ok()?))
        }
    };
    eventually("the worker ready", Duration::from_secs(30), || async {
        get("/readyz").await.filter(|(status, _)| *status == 200)
    })
    .await;
    assert_eq!(get("/healthz").await, Some((200, "ok\n".to_string())));

    let batch = s.start_batch().await;
    let ended = s.wait(batch.id).await;
    assert_eq!(ended.status, BatchStatus::Success, "{ended:?}");
    let (status, text) = get("/metrics").await.unwrap();
    assert_eq!(status, 200);
    for series in [
        r#"dbfleet_jobs_total{kind="capacity_sync",outcome="succeeded",class="none"} 6"#,
        r#"dbfleet_job_duration_seconds_count{kind="capacity_sync",engine="mysql"} 6"#,
        "dbfleet_jobs_in_flight 0",
        "dbfleet_dead_letters_total 0",
        "dbfleet_publish_confirm_seconds_count 6",
        r#"dbfleet_remote_query_duration_seconds_count{engine="mysql",phase="connect"} 6"#,
        r#"dbfleet_remote_query_duration_seconds_count{engine="mysql",phase="sizes"} 6"#,
    ] {
        assert!(text.contains(series), "{series} missing from\n{text}");
    }
    for id in [batch.id.to_string(), "p-000".to_string()] {
        assert!(!text.contains(&id), "{id} in the metrics:\n{text}");
    }
    s.teardown().await;
}

/// `/readyz` follows the broker: not ready while the worker's connection is
/// gone (the broker stopped, a network cut), ready again once it has
/// subscribed anew; `/healthz` stays up throughout, so the orchestrator
/// takes the pod out of service instead of restarting it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_is_not_ready_while_the_broker_is_away() {
    let mut s = Setup::new(1, false).await;
    let port = common::closed_port();
    let link = SlowLink::listen_on(port, 5672, Duration::ZERO).await;
    let broker = format!("amqp://guest:guest@127.0.0.1:{port}/%2f");
    let addr = format!("127.0.0.1:{}", common::closed_port());
    let env = [
        ("DBFLEET__BROKER__URL", broker),
        ("DBFLEET__TELEMETRY__METRICS_ADDR", addr.clone()),
    ];
    s.spawn_worker_with(1, &env);
    let http = reqwest::Client::new();
    let readyz = |want: u16| {
        let request = http.get(format!("http://{addr}/readyz")).send();
        async move {
            let response = request.await.ok()?;
            let status = response.status().as_u16();
            let body = response.text().await.ok()?;
            (status == want).then_some(body)
        }
    };
    let wait = Duration::from_secs(30);
    eventually("ready through the link", wait, || readyz(200)).await;

    link.cut();
    let why = eventually("not ready with the broker away", wait, || readyz(503)).await;
    assert!(why.starts_with("not ready"), "{why}");
    let health = http
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200, "alive while not ready");

    let _back = SlowLink::listen_on(port, 5672, Duration::ZERO).await;
    eventually("ready once the broker is back", wait, || readyz(200)).await;
    s.teardown().await;
}
