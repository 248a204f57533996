//! Alerts end to end on a real store (PostgreSQL and SQLite), against a
//! webhook receiver and an SMTP sink each test starts on loopback: a
//! standing condition sends once, and once more when it resolves; two
//! evaluators on one store send each transition once; a failed delivery is
//! kept and sent at the next evaluation; a silence records but sends
//! nothing; a failed batch is mailed once (and its state goes with
//! retention); growth and days until full
//! read the history filed in the store; an `https://` webhook is
//! delivered to a server whose certificate chains to its `ca_file`, and
//! refused, in words, without it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod alert_sinks;
#[macro_use]
mod common;

use std::sync::Arc;
use std::time::Duration;

use alert_sinks::{HttpsReceiver, SmtpSink, WebhookReceiver};
use chrono::Utc;
use common::pki::Pki;
use common::tls_proxy::server_config;
use common::{Backend, World};
use dbfleet::alerts::{Evaluator, Retry, SIGNATURE_HEADER};
use dbfleet::domain::{BatchId, DbType, JobId};
use dbfleet::inventory::InventoryPlan;
use dbfleet::secret::PasswordRef;
use dbfleet::store::{AlertState, Instance, NewJob, Origin, StatRow, Store, Tally};
use hmac::{Hmac, Mac};
use serde_json::Value;

on_both_backends!(
    a_standing_condition_sends_once_and_once_more_when_it_resolves,
    two_evaluators_on_one_store_send_each_transition_once,
    a_failed_delivery_is_kept_and_sent_at_the_next_evaluation,
    a_silenced_subject_records_its_state_and_sends_nothing,
    a_failed_batch_is_mailed_once,
    growth_and_days_until_full_read_the_filed_history,
);

const KEY: &str = "test-signing-key";

/// A world whose `alerts:` has the webhook channel `hook` (signed with
/// [`KEY`], from a file), the mail channel `mail` and `rules` (YAML lines
/// of `alerts:`, indented by two spaces).
async fn world(
    backend: Backend,
    hook: &WebhookReceiver,
    smtp: &SmtpSink,
    rules: &str,
) -> (World, KeyFile) {
    let key_file = std::env::temp_dir().join(format!("dbft-alert-key-{}", common::tag()));
    std::fs::write(&key_file, format!("{KEY}\n")).unwrap();
    let yaml = format!(
        "alerts:\n  channels:\n\
         \x20   - {{ name: hook, webhook: \"{}\", secret_file: {} }}\n\
         \x20   - {{ name: mail, smtp: {{ host: 127.0.0.1, port: {}, tls: none, \
                  from: dbfleet@x.test, to: [dba@x.test, ops@x.test] }} }}\n{rules}",
        hook.url(),
        key_file.display(),
        smtp.addr.port()
    );
    (World::with_yaml(backend, &yaml).await, KeyFile(key_file))
}

/// The signing key's file, removed when dropped.
struct KeyFile(std::path::PathBuf);

impl Drop for KeyFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

const STALE: &str =
    "  rules:\n    - { name: stale, when: not_collected, days: 2, channels: [hook] }\n";

fn evaluator(world: &World, store: Store) -> Evaluator {
    let retry = Retry {
        attempts: 2,
        first_delay: Duration::from_millis(10),
    };
    Evaluator::new(Arc::new(world.settings.clone()), store).with_retry(retry)
}

async fn instance(world: &World, name: &str) -> Instance {
    world
        .add_instance(name, DbType::Postgresql, 5432, "x", PasswordRef::None)
        .await
}

fn hmac_hex(key: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The body of a request, checked against its signature.
fn signed_body(request: &alert_sinks::Request) -> Value {
    let signature = request.headers[SIGNATURE_HEADER].to_str().unwrap();
    assert_eq!(signature, hmac_hex(KEY.as_bytes(), &request.body));
    assert_ne!(signature, hmac_hex(b"another key", &request.body));
    serde_json::from_slice(&request.body).unwrap()
}

/// File a day's size for `instance` today.
async fn collect(world: &World, instance: &Instance) {
    let today = Utc::now().date_naive();
    let row = StatRow {
        database_name: "app".into(),
        size_mb: 100,
        data_size_mb: Some(100),
        log_size_mb: None,
        method: None,
        collected_at: Utc::now(),
    };
    let stats = world.store.stats();
    stats
        .save_day(instance.id, today, &[row], &[])
        .await
        .unwrap();
    stats
        .refresh_instance_total(instance.id, today, Utc::now())
        .await
        .unwrap();
}

async fn a_standing_condition_sends_once_and_once_more_when_it_resolves(backend: Backend) {
    let (hook, smtp) = (WebhookReceiver::start().await, SmtpSink::start().await);
    let (world, _key) = world(backend, &hook, &smtp, STALE).await;
    let a = instance(&world, "alert-a").await;
    let ev = evaluator(&world, world.store.clone());

    let first = ev.evaluate(Utc::now()).await.unwrap();
    assert_eq!(first.recorded.len(), 1, "{first:?}");
    let body = signed_body(&hook.wait_for(1).await[0]);
    assert_eq!(body["rule"], "stale");
    assert_eq!(body["subject"], "alert-a");
    assert_eq!(body["state"], "firing");
    assert_eq!(body["details"]["instance"], "alert-a");
    assert!(body["summary"]
        .as_str()
        .unwrap()
        .contains("never been collected"));
    assert!(body["fired_at"].is_string(), "{body}");

    let standing = ev.evaluate(Utc::now()).await.unwrap();
    assert!(
        standing.recorded.is_empty() && standing.sends.is_empty(),
        "{standing:?}"
    );
    assert_eq!(hook.requests().len(), 1);

    collect(&world, &a).await;
    let resolved = ev.evaluate(Utc::now()).await.unwrap();
    assert_eq!(resolved.sends.len(), 1, "{resolved:?}");
    let body = signed_body(&hook.wait_for(2).await[1]);
    assert_eq!(
        (&body["subject"], &body["state"]),
        (&"alert-a".into(), &"resolved".into())
    );
    ev.evaluate(Utc::now()).await.unwrap();
    assert_eq!(hook.requests().len(), 2);

    let states = world.store.alerts().states().await.unwrap();
    assert_eq!(states.len(), 1);
    assert_eq!(
        (states[0].state, states[0].to_send),
        (AlertState::Resolved, false)
    );
    let sends = world.store.alerts().sends(10).await.unwrap();
    assert_eq!(sends.len(), 2);
    assert!(sends.iter().all(|s| s.delivered && s.attempts == 1));
    let metrics = dbfleet::metrics::metrics().render();
    for line in [
        "dbfleet_alert_transitions_total{rule=\"stale\",state=\"resolved\"}",
        "dbfleet_alert_notifications_total{channel=\"hook\",outcome=\"delivered\"}",
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
    world.teardown().await;
}

async fn two_evaluators_on_one_store_send_each_transition_once(backend: Backend) {
    let (hook, smtp) = (WebhookReceiver::start().await, SmtpSink::start().await);
    let (world, _key) = world(backend, &hook, &smtp, STALE).await;
    for name in ["two-a", "two-b", "two-c"] {
        instance(&world, name).await;
    }
    let other = Store::connect(&world.settings.store).await.unwrap();
    let (one, two) = (
        evaluator(&world, world.store.clone()),
        evaluator(&world, other),
    );
    for _ in 0..3 {
        let (a, b) = tokio::join!(one.evaluate(Utc::now()), two.evaluate(Utc::now()));
        let (a, b) = (a.unwrap(), b.unwrap());
        assert!(a.recorded.len() + b.recorded.len() <= 3, "{a:?} {b:?}");
    }
    let mut subjects: Vec<String> = hook
        .requests()
        .iter()
        .map(|r| signed_body(r)["subject"].as_str().unwrap().to_string())
        .collect();
    subjects.sort();
    assert_eq!(subjects, ["two-a", "two-b", "two-c"]);
    let sends = world.store.alerts().sends(10).await.unwrap();
    assert_eq!(sends.len(), 3, "{sends:?}");
    world.teardown().await;
}

async fn a_failed_delivery_is_kept_and_sent_at_the_next_evaluation(backend: Backend) {
    let (hook, smtp) = (WebhookReceiver::start().await, SmtpSink::start().await);
    let (world, _key) = world(backend, &hook, &smtp, STALE).await;
    instance(&world, "flaky").await;
    let ev = evaluator(&world, world.store.clone());

    hook.answer(500);
    let failed = ev.evaluate(Utc::now()).await.unwrap();
    assert_eq!(failed.recorded.len(), 1);
    let send = &failed.sends[0];
    assert!(!send.delivered && send.attempts == 2, "{send:?}");
    assert!(send.error.as_deref().unwrap().contains("500"), "{send:?}");
    assert!(
        !send.error.as_deref().unwrap().contains("/hook"),
        "{send:?}"
    );
    assert!(world.store.alerts().states().await.unwrap()[0].to_send);

    hook.answer(200);
    let retried = ev.evaluate(Utc::now()).await.unwrap();
    assert!(
        retried.recorded.is_empty(),
        "the transition is not recorded twice"
    );
    assert!(retried.sends[0].delivered, "{retried:?}");
    assert_eq!(
        hook.requests().len(),
        3,
        "two failed attempts, then one taken"
    );
    let again = ev.evaluate(Utc::now()).await.unwrap();
    assert!(again.sends.is_empty());
    assert_eq!(world.store.alerts().sends(10).await.unwrap().len(), 2);
    world.teardown().await;
}

async fn a_silenced_subject_records_its_state_and_sends_nothing(backend: Backend) {
    let (hook, smtp) = (WebhookReceiver::start().await, SmtpSink::start().await);
    let rules = format!(
        "{STALE}  silences:\n    - {{ rule: stale, subject: muted, until: \"2999-01-01T00:00:00Z\" }}\n"
    );
    let (world, _key) = world(backend, &hook, &smtp, &rules).await;
    instance(&world, "muted").await;
    instance(&world, "loud").await;
    let ev = evaluator(&world, world.store.clone());
    let done = ev.evaluate(Utc::now()).await.unwrap();
    assert_eq!(done.recorded.len(), 2, "{done:?}");
    assert_eq!(done.sends.len(), 1, "{done:?}");
    assert_eq!(signed_body(&hook.requests()[0])["subject"], "loud");
    let states = world.store.alerts().states().await.unwrap();
    let muted = states.iter().find(|s| s.subject == "muted").unwrap();
    assert_eq!((muted.state, muted.to_send), (AlertState::Firing, false));
    world.teardown().await;
}

async fn a_failed_batch_is_mailed_once(backend: Backend) {
    let (hook, smtp) = (WebhookReceiver::start().await, SmtpSink::start().await);
    let rules = "  rules:\n    - { name: batch-failed, when: batch_failed, channels: [mail] }\n";
    let (world, _key) = world(backend, &hook, &smtp, rules).await;
    let a = instance(&world, "batch-a").await;
    let batch = BatchId::new();
    let job = NewJob {
        job_id: JobId::new(),
        instance_id: Some(a.id),
        target: "batch-a".into(),
        deadline: Utc::now() + chrono::Duration::hours(1),
    };
    let zero = Tally::from_pairs([("total_records", 0)]);
    let batches = world.store.batches();
    batches
        .create(batch, "capacity_sync", &Origin::by("ops"), &[job], &zero)
        .await
        .unwrap();
    batches.cancel(batch, "ops").await.unwrap();

    let ev = evaluator(&world, world.store.clone());
    ev.evaluate(Utc::now()).await.unwrap();
    let mail = &smtp.wait_for(1).await[0];
    assert_eq!(mail.from, "dbfleet@x.test");
    assert_eq!(mail.to, ["dba@x.test", "ops@x.test"]);
    let data = mail.data.replace("=\n", "").replace("\n ", " ");
    let subject = format!("Subject: [dbfleet] firing batch-failed: {}", batch.0);
    assert!(data.contains(&subject), "{data}");
    assert!(data.contains("ended failed: 1 of 1 jobs failed"), "{data}");

    ev.evaluate(Utc::now()).await.unwrap();
    ev.evaluate(Utc::now()).await.unwrap();
    assert_eq!(smtp.mails().len(), 1);
    assert!(hook.requests().is_empty());

    // Its state stays firing, but the rule fires once per batch, so
    // retention takes it once it is old.
    assert_eq!(world.store.alerts().states().await.unwrap().len(), 1);
    let retention = dbfleet::config::RetentionSettings {
        alert_records: Some(1),
        months_ahead: 1,
        ..Default::default()
    };
    let later = Utc::now().date_naive() + chrono::Days::new(3);
    world.store.maintain(&retention, later).await.unwrap();
    assert!(world.store.alerts().states().await.unwrap().is_empty());
    world.teardown().await;
}

/// File `size_mb` for the database `app` of `instance`, `days_ago` days
/// before today, with its inventory row and the day's total.
async fn file_day(world: &World, instance: &Instance, days_ago: i64, size_mb: i64) {
    let date = Utc::now().date_naive() - chrono::Duration::days(days_ago);
    let known = world.store.inventory().records(instance.id).await.unwrap();
    let plan = if known.is_empty() {
        InventoryPlan {
            created: vec!["app".into()],
            ..InventoryPlan::default()
        }
    } else {
        InventoryPlan {
            refreshed: vec!["app".into()],
            ..InventoryPlan::default()
        }
    };
    let inventory = world.store.inventory();
    inventory
        .apply(instance.id, &plan, date, Utc::now())
        .await
        .unwrap();
    let row = StatRow {
        database_name: "app".into(),
        size_mb,
        data_size_mb: None,
        log_size_mb: None,
        method: None,
        collected_at: Utc::now(),
    };
    let stats = world.store.stats();
    stats
        .upsert_databases(instance.id, date, &[row])
        .await
        .unwrap();
    stats
        .refresh_instance_total(instance.id, date, Utc::now())
        .await
        .unwrap();
}

async fn growth_and_days_until_full_read_the_filed_history(backend: Backend) {
    let (hook, smtp) = (WebhookReceiver::start().await, SmtpSink::start().await);
    let rules = "  rules:\n\
        \x20   - { name: growth, when: growth, over: 7d, percent: 50, channels: [hook] }\n\
        \x20   - { name: full, when: days_until_full, below: 30, channels: [hook] }\n\
        capacity:\n  ceilings:\n    - { instance: grow-a, size: 1GiB }\n";
    let (world, _key) = world(backend, &hook, &smtp, rules).await;
    let (a, b) = (
        instance(&world, "grow-a").await,
        instance(&world, "calm-b").await,
    );
    for (days_ago, a_mb, b_mb) in [(6, 100, 100), (3, 200, 100), (0, 300, 101)] {
        file_day(&world, &a, days_ago, a_mb).await;
        file_day(&world, &b, days_ago, b_mb).await;
    }
    let done = evaluator(&world, world.store.clone())
        .evaluate(Utc::now())
        .await
        .unwrap();
    assert_eq!(done.sends.len(), 2, "{done:?}");
    let mut bodies: Vec<Value> = hook.requests().iter().map(signed_body).collect();
    bodies.sort_by_key(|b| b["rule"].as_str().unwrap().to_string());
    assert_eq!(
        (&bodies[0]["rule"], &bodies[0]["subject"]),
        (&"full".into(), &"grow-a".into())
    );
    let days_left = bodies[0]["details"]["days_left"].as_i64().unwrap();
    assert!((1..30).contains(&days_left), "{}", bodies[0]);
    assert_eq!(bodies[0]["details"]["ceiling_mb"], 1024);
    assert_eq!(
        (&bodies[1]["rule"], &bodies[1]["subject"]),
        (&"growth".into(), &"grow-a/app".into())
    );
    assert_eq!(bodies[1]["details"]["change_mb"], 200);
    assert_eq!(bodies[1]["details"]["change_percent"], 200.0);
    world.teardown().await;
}

/// A world (embedded store) whose only channel is the webhook `hook` at
/// `url`, trusting `ca_file` when given, and the rule [`STALE`].
async fn https_world(url: &str, ca_file: Option<&std::path::Path>) -> (World, KeyFile) {
    let key_file = std::env::temp_dir().join(format!("dbft-alert-key-{}", common::tag()));
    std::fs::write(&key_file, format!("{KEY}\n")).unwrap();
    let ca = ca_file.map_or(String::new(), |p| format!(", ca_file: {}", p.display()));
    let yaml = format!(
        "alerts:\n  channels:\n\
         \x20   - {{ name: hook, webhook: \"{url}\", secret_file: {}{ca} }}\n{STALE}",
        key_file.display(),
    );
    let world = World::with_yaml(Backend::Embedded, &yaml).await;
    (world, KeyFile(key_file))
}

/// The server's certificate is signed by a private CA that the webhook's
/// `ca_file` names: the alert goes over TLS, signed like any other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_webhook_trusts_the_ca_of_its_ca_file() {
    let pki = Pki::new();
    let hook = HttpsReceiver::start(server_config(&pki, "server", false)).await;
    let (world, _key) = https_world(&hook.url(), Some(&pki.ca_file())).await;
    instance(&world, "tls-hook").await;
    let done = evaluator(&world, world.store.clone())
        .evaluate(Utc::now())
        .await
        .unwrap();
    assert!(done.sends.len() == 1 && done.sends[0].delivered, "{done:?}");
    let requests = hook.requests();
    assert_eq!(requests.len(), 1, "one attempt was enough");
    assert_eq!(requests[0].headers["content-type"], "application/json");
    let body = signed_body(&requests[0]);
    assert_eq!(
        (&body["rule"], &body["subject"], &body["state"]),
        (&"stale".into(), &"tls-hook".into(), &"firing".into())
    );
    world.teardown().await;
}

/// The same server, but the webhook trusts only the public web roots: the
/// handshake is refused, nothing reaches the server, and the send kept in
/// the store says the CA is unknown, naming the endpoint without its path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_webhook_refuses_a_certificate_of_an_unknown_ca() {
    let pki = Pki::new();
    let hook = HttpsReceiver::start(server_config(&pki, "server", false)).await;
    let (world, _key) = https_world(&hook.url(), None).await;
    instance(&world, "tls-refused").await;
    let done = evaluator(&world, world.store.clone())
        .evaluate(Utc::now())
        .await
        .unwrap();
    assert!(
        done.sends.len() == 1 && !done.sends[0].delivered,
        "{done:?}"
    );
    assert!(hook.requests().is_empty(), "{:?}", hook.requests());
    let sends = world.store.alerts().sends(10).await.unwrap();
    assert_eq!(sends.len(), 1, "{sends:?}");
    let error = sends[0].error.as_deref().unwrap();
    let origin = format!("POST to https://127.0.0.1:{} failed: ", hook.addr.port());
    assert!(error.starts_with(&origin), "{error}");
    assert!(error.contains("certificate refused: unknown CA"), "{error}");
    assert!(!error.contains("/hook"), "{error}");
    world.teardown().await;
}
