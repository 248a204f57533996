//! `amqps://` for real: a TLS endpoint of the test's own
//! (`common::tls_proxy`) in front of the local RabbitMQ, with certificates
//! the test makes (`common::pki`). A worker and the control plane run a
//! batch through it, verifying the endpoint against `broker.tls.ca_file`;
//! a CA that did not sign it is refused with the endpoint and the reason;
//! an endpoint that asks for a client certificate gets `broker.tls`'s.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::pki::Pki;
use common::tls_proxy::TlsProxy;
use common::{run_batch_to_end, Fleet, World};
use dbfleet::config::BrokerTls;
use dbfleet::store::BatchStatus;

fn ca_yaml(ca: &std::path::Path) -> String {
    format!("  tls:\n    ca_file: {}\n", ca.display())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_runs_through_a_verified_tls_endpoint() {
    let pki = Pki::new();
    let proxy = TlsProxy::start(&pki, "server", false).await;
    let world = World::fleet_with("", Some(&proxy.url()), &ca_yaml(&pki.ca_file())).await;
    world.add_postgres("pg-1").await;
    world.add_postgres("pg-2").await;
    let fleet = Fleet::start(&world, 1);
    let batch = run_batch_to_end(&world).await;
    fleet.stop().await;
    world.teardown().await;

    assert_eq!(batch.status, BatchStatus::Success, "{batch:?}");
    assert_eq!(batch.succeeded, 2, "{batch:?}");
    // The dispatcher's pool, the worker's and the folder's consumers.
    assert!(proxy.handshakes() >= 3, "{}", proxy.handshakes());
}

/// The error of connecting to an endpoint serving `leaf`, trusting `ca`.
async fn refused(pki: &Pki, leaf: &str, ca: std::path::PathBuf) -> String {
    let proxy = TlsProxy::start(pki, leaf, false).await;
    let world = World::new().await;
    let mut settings = world.settings.clone();
    settings.broker.url = Some(proxy.url().into());
    settings.broker.tls = BrokerTls {
        ca_file: Some(ca),
        ..BrokerTls::default()
    };
    let error = match dbfleet::fleet::open_broker(&settings).await {
        Ok(_) => panic!("connected to an endpoint serving `{leaf}`"),
        Err(e) => format!("{:#}", anyhow::Error::from(e)),
    };
    world.teardown().await;
    let endpoint = format!("127.0.0.1:{}", proxy.port);
    assert!(error.contains(&endpoint), "{error}");
    assert!(!error.contains("guest:guest"), "{error}");
    error
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_from_another_ca_is_refused_by_name() {
    let pki = Pki::new();
    let error = refused(&pki, "server", pki.other_ca_file()).await;
    assert!(error.contains("unknown CA"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_certificate_is_refused_by_name() {
    let pki = Pki::new();
    let error = refused(&pki, "expired", pki.ca_file()).await;
    assert!(error.contains("has expired"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_that_asks_for_a_client_certificate_gets_one() {
    let pki = Pki::new();
    let proxy = TlsProxy::start(&pki, "server", true).await;
    let world = World::new().await;
    let mut settings = world.settings.clone();
    settings.broker.url = Some(proxy.url().into());
    settings.broker.tls = BrokerTls {
        ca_file: Some(pki.ca_file()),
        ..BrokerTls::default()
    };
    let without = dbfleet::fleet::open_broker(&settings).await;
    settings.broker.tls.cert_file = Some(pki.path("client.pem"));
    settings.broker.tls.key_file = Some(pki.path("client.key"));
    let with = dbfleet::fleet::open_broker(&settings).await;
    world.teardown().await;

    assert!(without.is_err(), "connected without a client certificate");
    let broker = with.unwrap_or_else(|e| panic!("{:#}", anyhow::Error::from(e)));
    broker.close().await;
}
