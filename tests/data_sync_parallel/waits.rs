//! The waits: a job that finds the definition's one source slot taken
//! waits for it rather than reading, and a table whose target lock
//! another session holds waits for it up to `lock_wait`, then fails
//! naming the holder. The runs say they wait in their log events, which
//! these tests read from a layer of their own.

use std::fmt::Write as _;
use std::sync::{Mutex, Once};
use std::time::Duration;

use dbfleet::adapters::sync::{Role, SyncSession};
use dbfleet::adapters::ConnectOptions;
use dbfleet::domain::DbType;
use dbfleet::store::BatchStatus;
use sqlx::MySqlConnection;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

use super::common::{self, eventually, within, Fleet, MariaUser, World};
use super::{definition, ended, history, maria, my_count, pg_count, pg_tables, reconcile};
use super::{start, world};

/// Every event at `info` or above this process logged: its fields as
/// `name=value` text.
static EVENTS: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;

impl<S: tracing::Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let mut line = String::new();
        event.record(&mut Fields(&mut line));
        EVENTS.lock().unwrap().push(line);
    }
}

struct Fields<'a>(&'a mut String);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, "{}={value:?} ", field.name());
    }
}

fn capture_events() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let layer = Capture.with_filter(tracing::level_filters::LevelFilter::INFO);
        tracing_subscriber::registry()
            .with(layer)
            .try_init()
            .unwrap();
    });
}

/// Whether an event logged so far has every one of `words`.
fn logged(words: &[&str]) -> bool {
    let events = EVENTS.lock().unwrap();
    events.iter().any(|e| words.iter().all(|w| e.contains(w)))
}

/// A MariaDB table `t1` of `rows` rows in `database`, created as root.
async fn my_table(maria_user: &MariaUser, database: &str, rows: u32) {
    maria_user
        .admin(&[
            format!("CREATE DATABASE `{database}`"),
            format!("CREATE TABLE `{database}`.t1 (id bigint PRIMARY KEY, v varchar(40) NOT NULL)"),
            format!(
                "INSERT INTO `{database}`.t1 SELECT seq, CONCAT('row ', seq) \
                 FROM `{database}`.seq_1_to_{rows}"
            ),
        ])
        .await;
}

/// A MariaDB source of `t1` and two empty PostgreSQL targets, each
/// target on an instance of its own: two jobs.
struct Shared {
    maria_user: MariaUser,
    source: String,
    into_a: String,
    into_b: String,
}

impl Shared {
    async fn new() -> Self {
        let tag = common::tag();
        let maria_user = MariaUser::new().await;
        let source = format!("{}_src", maria_user.prefix);
        my_table(&maria_user, &source, 200).await;
        let (into_a, into_b) = (format!("dbft_sca_{tag}"), format!("dbft_scb_{tag}"));
        pg_tables(&into_a, &[], 0).await;
        pg_tables(&into_b, &[], 0).await;
        Self {
            maria_user,
            source,
            into_a,
            into_b,
        }
    }

    async fn world(&self) -> World {
        let def = definition(
            "one-src",
            &format!("{{ instance: src-my, database: {} }}", self.source),
            &[
                format!("{{ instance: dst-a, database: {} }}", self.into_a),
                format!("{{ instance: dst-b, database: {} }}", self.into_b),
            ],
            &["t1"],
            "    source_connections: 1\n",
        );
        let world = world(&def).await;
        world.add_mariadb("src-my", &self.maria_user).await;
        world.add_postgres("dst-a").await;
        world.add_postgres("dst-b").await;
        reconcile(&world).await;
        world
    }

    /// Until one job reads (blocked, holding the slot) and the other says
    /// it waits for the slot.
    async fn one_reads_one_waits(&self, observer: &mut MySqlConnection) {
        let waiting = |db: &str| logged(&["waiting for a source slot", "definition=one-src", db]);
        within("one job reading, the other waiting for the slot", async {
            loop {
                let (readers, slot) = my_readers(observer, &self.source).await;
                let one_reads = readers.len() == 1 && slot == Some(readers[0]);
                if one_reads && (waiting(&self.into_a) || waiting(&self.into_b)) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await
    }

    async fn teardown(self) {
        common::drop_pg_databases(&[self.into_a, self.into_b]).await;
        self.maria_user.teardown().await;
    }
}

/// The definition's one source slot is held by a job frozen mid-read (the
/// source table is locked); the other job of the batch says it waits for
/// a slot, and meanwhile only one session reads: the slot's. Both finish
/// once the table is free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_source_connection_lets_one_job_read_at_a_time() {
    capture_events();
    let ends = Shared::new().await;
    let world = ends.world().await;
    let fleet = Fleet::start(&world, 2);
    let mut holder = maria(&ends.source).await;
    sqlx::raw_sql("LOCK TABLES t1 WRITE")
        .execute(&mut holder)
        .await
        .unwrap();
    let batch = start(&world, "one-src").await;
    let mut observer = maria(&ends.source).await;
    ends.one_reads_one_waits(&mut observer).await;
    // The waiting job's table shows running; still only the slot reads.
    let runs = history(&world, "one-src").await;
    assert_eq!(runs.len(), 2, "{runs:#?}");
    assert!(runs.iter().all(|r| r.status == "running"), "{runs:#?}");
    assert_eq!(my_readers(&mut observer, &ends.source).await.0.len(), 1);
    sqlx::raw_sql("UNLOCK TABLES")
        .execute(&mut holder)
        .await
        .unwrap();

    let done = ended(&world, batch).await;
    fleet.stop().await;
    assert_eq!(done.status, BatchStatus::Success, "{done:?}");
    assert_eq!(pg_count(&ends.into_a, "t1").await, 200);
    assert_eq!(pg_count(&ends.into_b, "t1").await, 200);
    world.teardown().await;
    ends.teardown().await;
}

/// The connections reading `database` blocked by the table lock, and the
/// connection holding the definition `one-src`'s slot 0.
async fn my_readers(observer: &mut MySqlConnection, database: &str) -> (Vec<i64>, Option<i64>) {
    let readers: Vec<i64> = sqlx::query_scalar(
        "SELECT CAST(ID AS SIGNED) FROM information_schema.PROCESSLIST \
         WHERE DB = ? AND STATE LIKE 'Waiting for table%lock'",
    )
    .bind(database)
    .fetch_all(&mut *observer)
    .await
    .unwrap();
    let slot: Option<i64> = sqlx::query_scalar(
        "SELECT CAST(IS_USED_LOCK(CONCAT('dbfleet-sync-src:', \
           SHA1(CONCAT(?, '/', 'one-src')), ':', 0)) AS SIGNED)",
    )
    .bind(database)
    .fetch_one(&mut *observer)
    .await
    .unwrap();
    (readers, slot)
}

/// A session of its own holding the sync lock of `t1` in `database`.
async fn hold_t1(engine: DbType, database: &str) -> SyncSession {
    let options = ConnectOptions {
        host: "127.0.0.1".to_string(),
        port: engine.default_port(),
        username: match engine {
            DbType::Postgresql => "postgres",
            DbType::Mysql => "root",
        }
        .to_string(),
        password: String::new().into(),
        database: Some(database.to_string()),
        connect_timeout: Duration::from_secs(10),
        statement_timeout: Duration::from_secs(60),
        lock_timeout: Duration::from_secs(10),
        tls: Default::default(),
    };
    let mut holder = SyncSession::open(engine, &options, Role::Target)
        .await
        .unwrap();
    assert!(holder.try_lock("t1").await.unwrap());
    holder
}

/// A PostgreSQL source of `t1`, and an empty target database on each
/// engine.
struct Ends {
    source: String,
    into_pg: String,
    into_my: String,
    maria_user: MariaUser,
}

impl Ends {
    async fn new() -> Self {
        let tag = common::tag();
        let (source, into_pg) = (format!("dbft_lws_{tag}"), format!("dbft_lwt_{tag}"));
        pg_tables(&source, &["t1"], 100).await;
        pg_tables(&into_pg, &[], 0).await;
        let maria_user = MariaUser::new().await;
        let into_my = format!("{}_copy", maria_user.prefix);
        maria_user
            .admin(&[format!("CREATE DATABASE `{into_my}`")])
            .await;
        Self {
            source,
            into_pg,
            into_my,
            maria_user,
        }
    }

    /// The definition `name` of `t1` into both targets, with `lock_wait`.
    fn definition(&self, name: &str, lock_wait: &str) -> String {
        definition(
            name,
            &format!("{{ instance: src-pg, database: {} }}", self.source),
            &[
                format!("{{ instance: dst-pg, database: {} }}", self.into_pg),
                format!("{{ instance: dst-my, database: {} }}", self.into_my),
            ],
            &["t1"],
            &format!("    lock_wait: {lock_wait}\n"),
        )
    }

    async fn teardown(self) {
        common::drop_pg_databases(&[self.source, self.into_pg]).await;
        self.maria_user.teardown().await;
    }
}

/// Both targets' `t1` held by another session: with `lock_wait: 1s` each
/// job fails saying who holds it and how long it waited; with `2m` they
/// say they wait, show running, and sync once the holders let go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_target_table_delays_the_run() {
    capture_events();
    let ends = Ends::new().await;
    let syncs = ends.definition("hasty", "1s") + &ends.definition("patient", "2m");
    let world = world(&syncs).await;
    world.add_postgres("src-pg").await;
    world.add_postgres("dst-pg").await;
    world.add_mariadb("dst-my", &ends.maria_user).await;
    reconcile(&world).await;
    let fleet = Fleet::start(&world, 2);
    let holders = vec![
        hold_t1(DbType::Postgresql, &ends.into_pg).await,
        hold_t1(DbType::Mysql, &ends.into_my).await,
    ];
    a_short_wait_fails_naming_the_holder(&world, &ends).await;
    a_long_wait_syncs_once_released(&world, &ends, holders).await;
    fleet.stop().await;
    assert_eq!(pg_count(&ends.into_pg, "t1").await, 100);
    assert_eq!(my_count(&ends.into_my, "t1").await, 100);
    world.teardown().await;
    ends.teardown().await;
}

async fn a_short_wait_fails_naming_the_holder(world: &World, ends: &Ends) {
    let hasty = ended(world, start(world, "hasty").await).await;
    assert_eq!(hasty.status, BatchStatus::Failed, "{hasty:?}");
    let runs = history(world, "hasty").await;
    for (target, holder) in [
        (format!("dst-pg/{}", ends.into_pg), "session "),
        (format!("dst-my/{}", ends.into_my), "connection "),
    ] {
        let run = runs.iter().find(|r| r.target == target).unwrap();
        let error = run.error.as_deref().unwrap();
        let expected = format!("another sync of t1 into {target} is running, held by {holder}");
        assert!(error.contains(&expected), "{error}");
        assert!(
            error.ends_with("; gave up after waiting 1s (`lock_wait`)"),
            "{error}"
        );
    }
}

async fn a_long_wait_syncs_once_released(world: &World, ends: &Ends, holders: Vec<SyncSession>) {
    let batch = start(world, "patient").await;
    eventually("both jobs waiting for their target table", || {
        let both = [&ends.into_pg, &ends.into_my]
            .iter()
            .all(|db| logged(&["waiting for the target table", "definition=patient", db]));
        async move { both.then_some(()) }
    })
    .await;
    let runs = history(world, "patient").await;
    assert_eq!(runs.len(), 2, "{runs:#?}");
    assert!(runs.iter().all(|r| r.status == "running"), "{runs:#?}");
    for mut holder in holders {
        holder.unlock("t1").await.unwrap();
        holder.close().await;
    }
    let done = ended(world, batch).await;
    assert_eq!(done.status, BatchStatus::Success, "{done:?}");
}
