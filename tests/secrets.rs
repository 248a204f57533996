//! Passwords never leak: a full batch with distinctive passwords, then
//! every log line (TRACE, sqlx and lapin included), every message published
//! on the broker, the JSON batch report, the instances as listed, and the
//! `Debug` text of the settings and of every error are scanned for them.
//!
//! Private keys never leak either: a PostgreSQL instance over TLS with a
//! client certificate and its real key, and one whose key file holds a
//! distinctive non-key (its connection fails, and the error is scanned).
//!
//! The passwords: the MariaDB account's real one (through `PasswordRef::Env`),
//! a wrong one (through `PasswordRef::File`, so an authentication error is
//! produced and scanned), and on the fleet backends the control store URL's
//! (the local PostgreSQL trusts any password, so the URL still works). The
//! broker URL cannot carry one: RabbitMQ only knows `guest`/`guest` here.
//! The CLI binary is not reachable from this package's tests
//! (`CARGO_BIN_EXE_dbfleet` exists only in `dispatcher/tests`).
//!
//! Nothing in this file ever hands a secret to a logged statement: the
//! account's password is set from a hash computed with a bound parameter.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use common::{mariadb_root, run_batch_to_end, Backend, Fleet, MariaUser, World, AMQP};
use dbfleet::config::{self, Settings};
use dbfleet::domain::DbType;
use dbfleet::fleet;
use dbfleet::fleet::dispatcher;
use dbfleet::message::ErrorClass;
use dbfleet::secret::PasswordRef;
use dbfleet::store::BatchStatus;
use dbfleet::tls::{TlsMode, TlsSettings};
use lapin::options::{BasicGetOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use sqlx::{Connection as _, Executor as _};

// ------------------------------------------------------------ log capture

/// Everything every subscriber-visible event of this test binary wrote.
static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Install, once for the whole binary, a TRACE subscriber writing to memory
/// (with the `log` bridge, so crates logging through `log` are caught too).
fn capture_logs() -> Arc<Mutex<Vec<u8>>> {
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = buffer.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || LogWriter(sink.clone()))
            .try_init()
            .expect("this test binary installs the only global subscriber");
        buffer
    })
    .clone()
}

fn captured_logs() -> String {
    let buffer = capture_logs();
    let bytes = buffer.lock().unwrap_or_else(|e| e.into_inner());
    String::from_utf8_lossy(&bytes).into_owned()
}

// ---------------------------------------------------------------- secrets

/// A distinctive secret: `<label>-<32 hex>-pa55`.
fn secret(label: &str) -> String {
    format!("{label}-{}-pa55", uuid::Uuid::new_v4().simple())
}

/// Every place in `text` where one of `secrets` shows, whole or by its
/// random core (so a truncated or re-framed copy is caught too).
fn leaks(text: &str, secrets: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for secret in secrets {
        let core = secret.split('-').nth(1).unwrap_or(secret);
        for needle in [*secret, core] {
            for (at, _) in text.match_indices(needle) {
                let mut start = at.saturating_sub(120);
                while !text.is_char_boundary(start) {
                    start -= 1;
                }
                let mut end = (at + needle.len() + 120).min(text.len());
                while !text.is_char_boundary(end) {
                    end += 1;
                }
                found.push(format!("`{needle}` in …{}…", &text[start..end]));
            }
        }
    }
    found
}

/// Scan each labelled text; fail with every leak found.
fn assert_no_leak(texts: &[(&str, &str)], secrets: &[&str]) {
    let found: Vec<String> = texts
        .iter()
        .flat_map(|(label, text)| {
            leaks(text, secrets)
                .into_iter()
                .map(move |l| format!("{label}: {l}"))
        })
        .collect();
    assert!(found.is_empty(), "secrets leaked:\n{}", found.join("\n"));
}

// ----------------------------------------------------------------- broker

/// A queue of our own bound to every routing key of the world's exchanges:
/// it receives a copy of every job, result and dead letter.
struct Spy {
    connection: lapin::Connection,
    channel: lapin::Channel,
    queue: String,
}

impl Spy {
    async fn bind(settings: &Settings) -> Self {
        let connection = lapin::Connection::connect(AMQP, lapin::ConnectionProperties::default())
            .await
            .unwrap();
        let channel = connection.create_channel().await.unwrap();
        let prefix = &settings.broker.prefix;
        let queue = format!("{prefix}.spy");
        channel
            .queue_declare(
                &queue,
                QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        for exchange in [prefix.clone(), format!("{prefix}.dlx")] {
            channel
                .queue_bind(
                    &queue,
                    &exchange,
                    "#",
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .unwrap();
        }
        Self {
            connection,
            channel,
            queue,
        }
    }

    /// Every message copied so far: routing key, headers and body as text.
    async fn drain(self) -> Vec<String> {
        let mut messages = Vec::new();
        while let Some(got) = self
            .channel
            .basic_get(&self.queue, BasicGetOptions { no_ack: true })
            .await
            .unwrap()
        {
            let d = got.delivery;
            messages.push(format!(
                "routing_key={} properties={:?} body={}",
                d.routing_key,
                d.properties,
                String::from_utf8_lossy(&d.data)
            ));
        }
        let _ = self.connection.close(200, "bye").await;
        messages
    }
}

/// Give the MariaDB account `password` without the password ever being
/// part of a statement's text (which sqlx logs): the server hashes it from
/// a bound parameter, and the account is set from the hash.
async fn set_mariadb_password(maria: &MariaUser, password: &str) {
    let mut root = mariadb_root().await;
    let hash: String = sqlx::query_scalar("SELECT CAST(PASSWORD(?) AS CHAR)")
        .bind(password)
        .fetch_one(&mut root)
        .await
        .unwrap();
    assert!(hash.starts_with('*') && !hash.contains(password));
    for host in ["%", "localhost"] {
        let sql = format!(
            "ALTER USER '{}'@'{host}' IDENTIFIED BY PASSWORD '{hash}'",
            maria.user
        );
        root.execute(sql.as_str()).await.unwrap();
    }
    let _ = root.close().await;
}

// ------------------------------------------------------------------ tests

on_both_backends!(no_password_reaches_logs_messages_reports_or_errors);

async fn no_password_reaches_logs_messages_reports_or_errors(backend: Backend) {
    capture_logs();
    let right = secret("S3cr3t");
    let wrong = secret("Wr0ng");
    let store_password = secret("St0re");

    let world = World::with_store_password(backend, &store_password).await;
    let spy = match backend {
        Backend::Fleet => Some(Spy::bind(&world.settings).await),
        Backend::Embedded => None,
    };

    let maria = MariaUser::new().await;
    maria
        .create_database(&format!("{}_app", maria.prefix), 64)
        .await;
    set_mariadb_password(&maria, &right).await;

    let var = format!("DBFT_SECRET_{}", world.tag);
    std::env::set_var(&var, &right);
    world
        .add_instance(
            "maria",
            DbType::Mysql,
            3306,
            &maria.user,
            PasswordRef::Env(var),
        )
        .await;
    let dir = std::env::temp_dir().join(format!("dbft-secrets-{}", world.tag));
    std::fs::create_dir_all(&dir).unwrap();
    let wrong_file = dir.join("password");
    std::fs::write(&wrong_file, format!("{wrong}\n")).unwrap();
    world
        .add_instance(
            "maria-wrong",
            DbType::Mysql,
            3306,
            &maria.user,
            PasswordRef::File(wrong_file),
        )
        .await;

    let pki = common::pki::Pki::new();
    let key_secret = key_material(&pki.path("client.key"));
    let bad_key = secret("K3y");
    let bad_key_file = dir.join("bad.key");
    let armored = format!("-----BEGIN PRIVATE KEY-----\n{bad_key}\n-----END PRIVATE KEY-----\n");
    std::fs::write(&bad_key_file, armored).unwrap();
    add_client_cert(&world, "pg-client-cert", &pki, pki.path("client.key")).await;
    add_client_cert(&world, "pg-bad-key", &pki, bad_key_file).await;

    let fleet = Fleet::start(&world, 1);
    let ended = run_batch_to_end(&world).await;
    fleet.stop().await;
    let report = dispatcher::report(&world.store, ended.id).await.unwrap();
    let instances = world.store.instances().list().await.unwrap();
    let messages = match spy {
        Some(spy) => spy.drain().await,
        None => Vec::new(),
    };

    // Everything an operator or a log shipper can see.
    let report_json = serde_json::to_string(&report).unwrap();
    let report_debug = format!("{report:?}");
    let settings_debug = format!("{:?}", world.settings);
    let errors_debug: Vec<String> = report
        .jobs
        .iter()
        .filter_map(|j| j.error.as_ref())
        .map(|e| format!("{e:?} / {}", e.message))
        .collect();
    let instances_json = serde_json::to_string(&instances).unwrap();
    let instances_debug = format!("{instances:?}");

    let _ = std::fs::remove_dir_all(&dir);
    maria.teardown().await;
    world.teardown().await;
    let logs = captured_logs();

    // The batch ran as intended: one success, one authentication failure.
    assert_eq!(
        report.batch.status,
        BatchStatus::PartialSuccess,
        "{report:?}"
    );
    let jobs: BTreeMap<&str, _> = report
        .jobs
        .iter()
        .map(|j| (j.instance.as_str(), j))
        .collect();
    assert_eq!(jobs["maria"].status, "succeeded", "{report:?}");
    assert_eq!(jobs["maria-wrong"].status, "failed", "{report:?}");
    assert_eq!(jobs["pg-client-cert"].status, "succeeded", "{report:?}");
    assert_eq!(jobs["pg-bad-key"].status, "failed", "{report:?}");
    let auth = jobs["maria-wrong"].error.as_ref().unwrap();
    assert_eq!(auth.class, ErrorClass::Auth, "{auth:?}");
    assert!(!auth.message.is_empty());

    // The capture works: there is something to scan, and it is what we think.
    assert!(logs.contains("job"), "no job log line captured");
    assert!(
        logs.contains("job failed") && logs.contains(&auth.message),
        "the auth failure is logged with its message"
    );
    assert!(
        logs.contains("sqlx::query"),
        "sqlx's own events are captured"
    );
    assert!(settings_debug.contains("store"), "{settings_debug}");
    if backend == Backend::Fleet {
        assert!(
            messages.len() >= 4,
            "two jobs and two results at least: {messages:#?}"
        );
        assert!(
            messages.iter().any(|m| m.contains(&auth.message)),
            "the failed result carries the error: {messages:#?}"
        );
        assert!(logs.contains("lapin"), "lapin's own events are captured");
    }

    let mut texts: Vec<(&str, &str)> = vec![
        ("logs", &logs),
        ("report JSON", &report_json),
        ("report Debug", &report_debug),
        ("settings Debug", &settings_debug),
        ("instances JSON", &instances_json),
        ("instances Debug", &instances_debug),
    ];
    texts.extend(errors_debug.iter().map(|e| ("error Debug", e.as_str())));
    texts.extend(messages.iter().map(|m| ("broker message", m.as_str())));
    let secrets = [&right, &wrong, &store_password, &key_secret, &bad_key];
    assert_no_leak(&texts, &secrets.map(String::as_str));
}

/// A distinctive part of a PEM private key: its first line of base64.
fn key_material(path: &std::path::Path) -> String {
    let pem = std::fs::read_to_string(path).unwrap();
    let line = pem.lines().find(|l| !l.starts_with("-----")).unwrap();
    assert!(line.len() >= 40, "{line}");
    line.to_string()
}

/// The local PostgreSQL, over TLS, with a client certificate and `key`:
/// the driver reads the key file, so its contents are in the process.
async fn add_client_cert(world: &World, name: &str, pki: &common::pki::Pki, key: PathBuf) {
    let tls = TlsSettings {
        cert_file: Some(pki.path("client.pem")),
        key_file: Some(key),
        ..TlsSettings::mode(TlsMode::Require)
    };
    let none = PasswordRef::None;
    world
        .add_instance_tls(name, DbType::Postgresql, 5432, "postgres", none, tls)
        .await;
}

/// The scan itself can fail: a secret written to the log is found.
#[test]
fn a_planted_secret_is_found_in_the_captured_logs() {
    capture_logs();
    let planted = secret("Pl4nted");
    tracing::warn!(password = %planted, "a careless log line");
    let logs = captured_logs();
    let found = leaks(&logs, &[&planted]);
    assert!(!found.is_empty(), "the planted secret was not found");
    let caught = std::panic::catch_unwind(|| assert_no_leak(&[("logs", &logs)], &[&planted]));
    assert!(caught.is_err(), "assert_no_leak must fail on a leak");
}

/// Opening the control store or the broker fails (down, unknown database,
/// unknown role, refused login) without echoing the password of its URL, in
/// the error or in any log line; a bad option is refused when the
/// configuration loads, without echoing it either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_to_open_the_store_or_the_broker_echoes_no_password() {
    capture_logs();
    let password = secret("Url");
    let closed = common::closed_port();
    let missing_db = format!("dbft_missing_{}", common::tag());
    let pg = |rest: &str| format!("postgres://postgres:{password}@127.0.0.1:{rest}");
    let amqp = |port: u16| format!("amqp://guest:{password}@127.0.0.1:{port}/%2f");
    let nobody = format!(
        "postgres://dbft_nobody_{}:{password}@127.0.0.1:5432/x",
        common::tag()
    );
    let stores = [
        pg(&format!("{closed}/x")),
        pg(&format!("5432/{missing_db}")),
        nobody,
    ];
    // RabbitMQ refuses the wrong password (ACCESS_REFUSED), or nothing listens.
    let brokers = [amqp(5672), amqp(closed)];

    let settings = |store_url: &str, broker_url: &str| {
        let yaml = format!(
            "store:\n  url: '{store_url}'\nbroker:\n  url: '{broker_url}'\n  prefix: {}\n\
             filters:\n  path: {}/config/database_filters.yaml\n",
            common::broker_prefix(&common::tag()),
            common::repo_root().display()
        );
        config::load_from_str("secrets.yaml", &yaml, Vec::new()).unwrap()
    };
    let mut errors = Vec::new();
    let bad_option = format!("store:\n  url: '{}'\n", pg("5432/x?sslmode=bogus"));
    let refused = config::load_from_str("secrets.yaml", &bad_option, Vec::new()).unwrap_err();
    let refused = format!("{refused} / {refused:?}");
    assert!(refused.contains("store.url"), "{refused}");
    for url in &stores {
        let e = fleet::open_store(&settings(url, "memory://"))
            .await
            .err()
            .unwrap_or_else(|| panic!("opening the store must fail: {url}"));
        errors.push(format!("{e} / {e:?}"));
    }
    for url in &brokers {
        let e = fleet::open_broker(&settings("sqlite:unused.sqlite", url))
            .await
            .err()
            .unwrap_or_else(|| panic!("opening the broker must fail: {url}"));
        errors.push(format!("{e} / {e:?}"));
    }

    let logs = captured_logs();
    assert!(
        errors[1].contains(&missing_db) && errors[3].contains("ACCESS_REFUSED"),
        "the failures are the intended ones: {errors:#?}"
    );
    let mut scanned: Vec<(&str, &str)> = vec![("logs", &logs), ("config error", &refused)];
    scanned.extend(errors.iter().map(|t| ("open error", t.as_str())));
    assert_no_leak(&scanned, &[&password]);
}
