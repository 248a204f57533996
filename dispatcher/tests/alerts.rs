//! `dbfleet alert …`, black-box: `alert test` against a webhook receiver
//! and an SMTP sink the test starts (and a port nobody listens on),
//! `alert list` after an evaluation, and `dbfleet serve` evaluating the
//! rules on its own.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../tests/alert_sinks/mod.rs"]
mod alert_sinks;
#[path = "../../tests/common/mod.rs"]
#[macro_use]
mod common;
mod support;

use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use alert_sinks::{SmtpSink, WebhookReceiver};
use common::{Backend, World};
use dbfleet::alerts::{sign, Evaluator, SIGNATURE_HEADER};
use dbfleet::domain::DbType;
use dbfleet::secret::PasswordRef;
use secrecy::ExposeSecret;
use support::{json, stderr, stdout, Files};

const KEY: &str = "cli-signing-key-value";

/// The configuration: the world's store, the channels `ops-hook`,
/// `dba-mail`, `dead-hook` (a port nobody listens on), `keyless-hook` (its
/// key's variable unset) and `tls-mail` (the sink, which offers no
/// STARTTLS), one rule.
fn config(
    files: &Files,
    world: &World,
    hook: &WebhookReceiver,
    smtp: &SmtpSink,
    dead: u16,
) -> String {
    let key = files.write("hmac.key", KEY);
    let store = world.settings.store.url.as_ref().unwrap().expose_secret();
    let yaml = format!(
        "store: {{ url: \"{store}\" }}\n\
         alerts:\n  channels:\n\
         \x20   - {{ name: ops-hook, webhook: \"{}\", secret_file: {} }}\n\
         \x20   - {{ name: dba-mail, smtp: {{ host: 127.0.0.1, port: {}, tls: none, \
                  from: dbfleet@x.test, to: [dba@x.test] }} }}\n\
         \x20   - {{ name: dead-hook, webhook: \"http://127.0.0.1:{dead}/hook\", secret_file: {} }}\n\
         \x20   - {{ name: keyless-hook, webhook: \"{}\", secret_env: DBFT_ALERT_KEY_NOT_SET }}\n\
         \x20   - {{ name: tls-mail, smtp: {{ host: 127.0.0.1, port: {}, tls: starttls, \
                  from: dbfleet@x.test, to: [dba@x.test] }} }}\n\
         \x20 rules:\n\
         \x20   - {{ name: stale, when: not_collected, days: 2, channels: [ops-hook] }}\n",
        hook.url(),
        key.display(),
        smtp.addr.port(),
        key.display(),
        hook.url(),
        smtp.addr.port(),
    );
    files.write("dbfleet.yaml", &yaml).display().to_string()
}

fn dbfleet(config: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dbfleet"))
        .current_dir(common::repo_root())
        .args(["--config", config])
        .args(args)
        .env("DBFLEET__LOG__LEVEL", "warn")
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_test_delivers_to_each_channel_and_names_the_one_that_fails() {
    let world = World::on(Backend::Embedded).await;
    let (hook, smtp) = (WebhookReceiver::start().await, SmtpSink::start().await);
    let files = Files::new();
    let config = config(&files, &world, &hook, &smtp, common::closed_port());

    let one = dbfleet(&config, &["alert", "test", "--channel", "ops-hook"]);
    assert_eq!(
        one.status.code(),
        Some(0),
        "{}{}",
        stdout(&one),
        stderr(&one)
    );
    assert!(
        stdout(&one).contains("ops-hook: delivered"),
        "{}",
        stdout(&one)
    );
    let request = &hook.wait_for(1).await[0];
    let signature = request.headers[SIGNATURE_HEADER].to_str().unwrap();
    assert_eq!(signature, sign(KEY.as_bytes(), &request.body));
    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(body["rule"], "dbfleet-test");

    let mail = dbfleet(&config, &["alert", "test", "--channel", "dba-mail"]);
    assert_eq!(
        mail.status.code(),
        Some(0),
        "{}{}",
        stdout(&mail),
        stderr(&mail)
    );
    let got = &smtp.wait_for(1).await[0];
    assert_eq!(got.to, ["dba@x.test"]);
    assert!(
        got.data
            .contains("Subject: [dbfleet] firing dbfleet-test: sample"),
        "{}",
        got.data
    );

    // STARTTLS is required, so a server without it gets no message.
    let clear = dbfleet(&config, &["alert", "test", "--channel", "tls-mail"]);
    assert_eq!(clear.status.code(), Some(1), "{}", stdout(&clear));
    assert!(
        stdout(&clear).contains("tls-mail: not delivered"),
        "{}",
        stdout(&clear)
    );
    assert_eq!(smtp.mails().len(), 1);

    let all = dbfleet(&config, &["alert", "test"]);
    let text = stdout(&all);
    assert_eq!(all.status.code(), Some(1), "{text}{}", stderr(&all));
    assert!(
        text.contains("ops-hook: delivered") && text.contains("dba-mail: delivered"),
        "{text}"
    );
    assert!(
        text.contains("dead-hook: not delivered after 3 attempt(s)"),
        "{text}"
    );
    assert!(text.contains("connection refused"), "{text}");
    let keyless = "keyless-hook: not delivered after 3 attempt(s): the signing key: \
                   password environment variable `DBFT_ALERT_KEY_NOT_SET` is not set";
    assert!(text.contains(keyless), "{text}");
    assert!(!text.contains(KEY) && !stderr(&all).contains(KEY), "{text}");

    let unknown = dbfleet(&config, &["alert", "test", "--channel", "nope"]);
    assert_eq!(unknown.status.code(), Some(2), "{}", stderr(&unknown));
    assert!(
        stderr(&unknown).contains("no channel is named `nope`"),
        "{}",
        stderr(&unknown)
    );
    world.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_list_shows_the_states_and_the_sends() {
    let world = World::on(Backend::Embedded).await;
    let (hook, smtp) = (WebhookReceiver::start().await, SmtpSink::start().await);
    let files = Files::new();
    let config = config(&files, &world, &hook, &smtp, common::closed_port());
    world
        .add_instance("listed", DbType::Postgresql, 5432, "x", PasswordRef::None)
        .await;
    let settings = dbfleet::config::load(std::path::Path::new(&config), Vec::new()).unwrap();
    let evaluator = Evaluator::new(Arc::new(settings), world.store.clone());
    evaluator.evaluate(chrono::Utc::now()).await.unwrap();

    let listed = json(&dbfleet(&config, &["alert", "list", "--json"]));
    assert_eq!(listed["states"][0]["rule"], "stale");
    assert_eq!(listed["states"][0]["subject"], "listed");
    assert_eq!(listed["states"][0]["state"], "firing");
    assert_eq!(listed["sends"][0]["channel"], "ops-hook");
    assert_eq!(listed["sends"][0]["delivered"], true);

    let table = dbfleet(&config, &["alert", "list"]);
    assert_eq!(table.status.code(), Some(0), "{}", stderr(&table));
    assert!(stdout(&table).contains("listed"), "{}", stdout(&table));
    world.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_evaluates_the_rules_and_sends_a_standing_condition_once() {
    let world = World::on(Backend::Fleet).await;
    let (hook, smtp) = (WebhookReceiver::start().await, SmtpSink::start().await);
    let files = Files::new();
    let config = config(&files, &world, &hook, &smtp, common::closed_port());
    world
        .add_instance("served", DbType::Postgresql, 5432, "x", PasswordRef::None)
        .await;
    let broker = world.settings.broker.url.as_ref().unwrap().expose_secret();
    let mut serve = Command::new(env!("CARGO_BIN_EXE_dbfleet"))
        .current_dir(common::repo_root())
        .args(["--config", &config, "serve"])
        .env("DBFLEET__BROKER__URL", broker)
        .env("DBFLEET__BROKER__PREFIX", &world.settings.broker.prefix)
        .env("DBFLEET__ALERTS__EVALUATE_EVERY", "1s")
        .env("DBFLEET__LOG__LEVEL", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let body: serde_json::Value = serde_json::from_slice(&hook.wait_for(1).await[0].body).unwrap();
    assert_eq!(
        (&body["subject"], &body["state"]),
        (&"served".into(), &"firing".into())
    );
    // Two more evaluations, seen by the mark each one moves, send nothing.
    let first = chrono::Utc::now();
    common::eventually("two more evaluations", || async {
        let mark = world.store.alerts().mark("batches").await.unwrap();
        mark.filter(|at| *at > first + chrono::Duration::seconds(2))
    })
    .await;
    assert_eq!(hook.requests().len(), 1);

    let _ = Command::new("kill")
        .args(["-TERM", &serve.id().to_string()])
        .status();
    let status = serve.wait().unwrap();
    let mut logged = String::new();
    std::io::Read::read_to_string(&mut serve.stderr.take().unwrap(), &mut logged).unwrap();
    assert_eq!(status.code(), Some(0), "{logged}");
    assert!(!logged.contains(KEY), "{logged}");
    world.teardown().await;
}

#[test]
fn config_check_names_every_bad_alert_key() {
    let files = Files::new();
    let yaml = "alerts:\n  channels:\n\
                \x20   - { name: hook, webhook: \"http://x/h\", secret: inline-value }\n\
                \x20 rules:\n\
                \x20   - { name: r, when: days_until_full, below: 0, channels: [nowhere] }\n";
    let config = files.write("bad.yaml", yaml).display().to_string();
    let checked = dbfleet(&config, &["config", "check"]);
    let problems = stderr(&checked);
    assert_eq!(checked.status.code(), Some(2), "{problems}");
    for key in [
        "alerts.channels[0].secret: unknown key",
        "alerts.channels[0].secret_env: required",
        "alerts.rules[0].below: must be between 1 and 3650",
        "alerts.rules[0].channels[0]: no channel is named `nowhere`",
    ] {
        assert!(problems.contains(key), "{key} in {problems}");
    }
    assert!(!problems.contains("inline-value"), "{problems}");
}
