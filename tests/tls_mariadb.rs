//! TLS to MariaDB, for real. The machine's MariaDB has TLS off, so this
//! binary starts one of its own (`common::PrivateMariaDb`) with
//! certificates it makes (`common::pki`): a CA, a server certificate for
//! `127.0.0.1` and `localhost`, a client certificate. One server serves
//! every check, in one test: bootstrapping a data directory takes seconds.
//!
//! Every mode is tried, in MariaDB's words; `verify_ca` with a CA that did
//! not sign the server is refused with the host and the reason; an account
//! created `REQUIRE X509` gets in only with the client certificate; and a
//! probe job through the fleet reports the connection it made.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::pki::Pki;
use common::{Backend, Fleet, PrivateMariaDb, World};
use dbfleet::adapters::{ConnectOptions, Connection, TlsSession};
use dbfleet::domain::DbType;
use dbfleet::fleet::dispatcher::{self, BatchRequest, Selection};
use dbfleet::message::JobKind;
use dbfleet::secret::PasswordRef;
use dbfleet::store::BatchStatus;
use dbfleet::tls::{TlsMode, TlsSettings};
use secrecy::SecretString;

const USER: &str = "mon";
const PASSWORD: &str = "mon-tls-pw";
const X509_USER: &str = "mon_x509";

fn options(port: u16, user: &str, tls: TlsSettings) -> ConnectOptions {
    ConnectOptions {
        host: "127.0.0.1".to_string(),
        port,
        username: user.to_string(),
        password: SecretString::from(PASSWORD.to_string()),
        database: None,
        connect_timeout: Duration::from_secs(10),
        statement_timeout: Duration::from_secs(30),
        lock_timeout: Duration::from_secs(5),
        tls,
    }
}

/// Connect, read the session's TLS, close; a refusal as `class|message`.
async fn session(port: u16, user: &str, tls: TlsSettings) -> Result<Option<TlsSession>, String> {
    let mut conn = Connection::connect(DbType::Mysql, &options(port, user, tls))
        .await
        .map_err(|e| format!("{}|{e}", e.class().as_str()))?;
    let session = conn.tls_session().await.map_err(|e| e.to_string());
    conn.close().await;
    session
}

fn mode(raw: &str) -> TlsSettings {
    TlsSettings::mode(TlsMode::parse(DbType::Mysql, raw).unwrap())
}

fn verified(raw: &str, pki: &Pki) -> TlsSettings {
    TlsSettings {
        ca_file: Some(pki.ca_file()),
        ..mode(raw)
    }
}

fn with_client_cert(tls: TlsSettings, pki: &Pki) -> TlsSettings {
    TlsSettings {
        cert_file: Some(pki.path("client.pem")),
        key_file: Some(pki.path("client.key")),
        ..tls
    }
}

async fn start(pki: &Pki) -> PrivateMariaDb {
    let ssl = [
        format!("--ssl-ca={}", pki.ca_file().display()),
        format!("--ssl-cert={}", pki.path("server.pem").display()),
        format!("--ssl-key={}", pki.path("server.key").display()),
    ];
    let ssl: Vec<&str> = ssl.iter().map(String::as_str).collect();
    let server = PrivateMariaDb::start(&ssl).await;
    let grants = "PROCESS, SHOW DATABASES, SHOW VIEW";
    server.account(USER, PASSWORD, grants).await;
    server
        .exec(&[
            format!("CREATE USER '{X509_USER}'@'%' IDENTIFIED BY '{PASSWORD}' REQUIRE X509"),
            format!("GRANT {grants} ON *.* TO '{X509_USER}'@'%'"),
        ])
        .await;
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mode_against_a_server_with_certificates_of_its_own() {
    let pki = Pki::new();
    let server = start(&pki).await;
    let port = server.port;

    assert_eq!(session(port, USER, mode("disabled")).await.unwrap(), None);
    for encrypted in ["preferred", "required"] {
        let tls = session(port, USER, mode(encrypted)).await.unwrap();
        let tls = tls.unwrap_or_else(|| panic!("{encrypted}: in clear"));
        assert!(tls.version.starts_with("TLSv1."), "{tls:?}");
        assert!(!tls.cipher.is_empty(), "{tls:?}");
    }
    for checked in ["verify_ca", "verify_identity"] {
        let tls = session(port, USER, verified(checked, &pki)).await.unwrap();
        assert!(tls.is_some(), "{checked}");
    }

    let wrong_ca = TlsSettings {
        ca_file: Some(pki.other_ca_file()),
        ..mode("verify_ca")
    };
    let error = session(port, USER, wrong_ca).await.unwrap_err();
    assert!(error.starts_with("connect|"), "{error}");
    assert!(error.contains(&format!("127.0.0.1:{port}")), "{error}");
    assert!(error.contains("unknown CA"), "{error}");
    assert!(error.contains("`verify_ca`"), "{error}");

    let no_cert = session(port, X509_USER, mode("required")).await;
    assert!(no_cert.unwrap_err().starts_with("auth|"), "REQUIRE X509");
    let with_cert = with_client_cert(verified("verify_identity", &pki), &pki);
    assert!(session(port, X509_USER, with_cert).await.unwrap().is_some());

    probe_reports_the_connection(&server, &pki).await;
}

/// A probe job on the `REQUIRE X509` account, through a worker: it
/// connects with the instance's stored settings and reports them.
async fn probe_reports_the_connection(server: &PrivateMariaDb, pki: &Pki) {
    let world = World::on(Backend::Embedded).await;
    let var = format!("DBFT_TLS_PW_{}", world.tag);
    std::env::set_var(&var, PASSWORD);
    let tls = with_client_cert(verified("verify_identity", pki), pki);
    world
        .add_instance_tls(
            "x509",
            DbType::Mysql,
            server.port,
            X509_USER,
            PasswordRef::Env(var),
            tls,
        )
        .await;
    let fleet = Fleet::start(&world, 1);
    let request = BatchRequest {
        params: &dbfleet::message::JobParams::default_for(JobKind::Probe),
        selection: Selection::AllActive,
        deadline: world.settings.job.deadline,
        requested_by: None,
        interactive: false,
    };
    let batch = dispatcher::start_batch(&world.store, world.broker.as_ref(), &request)
        .await
        .unwrap();
    let waited = dispatcher::wait(&world.store, batch.id, Duration::from_millis(100));
    let ended = tokio::time::timeout(Duration::from_secs(120), waited)
        .await
        .expect("the probe batch ends")
        .unwrap();
    fleet.stop().await;
    let jobs = world.store.batches().jobs(ended.id).await.unwrap();
    world.teardown().await;

    assert_eq!(ended.status, BatchStatus::Success, "{jobs:?}");
    let security = &jobs[0].output["security"];
    assert_eq!(security["tls_mode"], "verify_identity", "{security}");
    assert_eq!(security["encrypted"], true, "{security}");
    assert_eq!(security["certificate_verified"], true, "{security}");
    assert_eq!(security["host_verified"], true, "{security}");
    let version = security["tls_version"].as_str().unwrap();
    assert!(version.starts_with("TLSv1."), "{security}");
    assert!(jobs[0].warnings.is_empty(), "{:?}", jobs[0].warnings);
}
