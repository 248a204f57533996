//! TLS to PostgreSQL, for real: the local server (127.0.0.1:5432) serves
//! Debian's snake-oil certificate, self-signed for the machine's name
//! (`localhost` here), never for `127.0.0.1`. So `verify-ca` with that
//! certificate as the CA succeeds, `verify-full` to `127.0.0.1` fails on
//! the name and to `localhost` succeeds, and a CA of the test's own
//! (`common::pki`) signs nothing the server shows. The control store is
//! reached over TLS too (`sslmode` in `store.url`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::pki::Pki;
use common::{pg_admin, World};
use dbfleet::adapters::{ConnectOptions, Connection, TlsSession};
use dbfleet::domain::DbType;
use dbfleet::tls::{TlsMode, TlsSettings};
use secrecy::SecretString;

const SNAKEOIL: &str = "/etc/ssl/certs/ssl-cert-snakeoil.pem";

fn options(host: &str, tls: TlsSettings) -> ConnectOptions {
    ConnectOptions {
        host: host.to_string(),
        port: 5432,
        username: "postgres".to_string(),
        password: SecretString::from(String::new()),
        database: None,
        connect_timeout: Duration::from_secs(10),
        statement_timeout: Duration::from_secs(30),
        lock_timeout: Duration::from_secs(5),
        tls,
    }
}

fn with_ca(mode: TlsMode, ca: PathBuf) -> TlsSettings {
    TlsSettings {
        ca_file: Some(ca),
        ..TlsSettings::mode(mode)
    }
}

/// Connect, read the session's TLS, close.
async fn session(host: &str, tls: TlsSettings) -> Result<Option<TlsSession>, String> {
    let mut conn = Connection::connect(DbType::Postgresql, &options(host, tls))
        .await
        .map_err(|e| format!("{}|{e}", e.class().as_str()))?;
    let session = conn.tls_session().await.map_err(|e| e.to_string());
    conn.close().await;
    session
}

/// The error of a refused connection, as `class|message`.
async fn refused(host: &str, tls: TlsSettings) -> String {
    match session(host, tls).await {
        Ok(s) => panic!("connected ({s:?})"),
        Err(e) => e,
    }
}

#[tokio::test]
async fn require_encrypts_without_checking_and_disable_does_not() {
    let tls = session("127.0.0.1", TlsSettings::mode(TlsMode::Require))
        .await
        .unwrap()
        .expect("an encrypted session");
    assert_eq!(tls.version, "TLSv1.3");
    assert!(!tls.cipher.is_empty());
    let prefer = session("127.0.0.1", TlsSettings::mode(TlsMode::Prefer)).await;
    assert!(prefer.unwrap().is_some(), "prefer takes the TLS offered");
    let clear = session("127.0.0.1", TlsSettings::mode(TlsMode::Disable)).await;
    assert_eq!(clear.unwrap(), None);
}

#[tokio::test]
async fn verify_ca_trusts_the_given_ca_only() {
    let snakeoil = with_ca(TlsMode::VerifyCa, SNAKEOIL.into());
    let tls = session("127.0.0.1", snakeoil).await.unwrap();
    assert!(tls.is_some());

    let pki = Pki::new();
    let error = refused("127.0.0.1", with_ca(TlsMode::VerifyCa, pki.ca_file())).await;
    assert!(error.starts_with("connect|"), "{error}");
    assert!(error.contains("127.0.0.1:5432"), "{error}");
    assert!(error.contains("unknown CA"), "{error}");
    assert!(error.contains("`verify-ca`"), "{error}");
}

#[tokio::test]
async fn verify_full_checks_the_name_dialled() {
    let error = refused("127.0.0.1", with_ca(TlsMode::VerifyFull, SNAKEOIL.into())).await;
    assert!(error.starts_with("connect|"), "{error}");
    assert!(error.contains("127.0.0.1:5432"), "{error}");
    assert!(error.contains("name mismatch"), "{error}");
    let by_name = session("localhost", with_ca(TlsMode::VerifyFull, SNAKEOIL.into())).await;
    assert!(
        by_name.unwrap().is_some(),
        "the certificate names localhost"
    );
}

#[tokio::test]
async fn a_missing_ca_file_is_named_and_its_mode_is_a_connect_error() {
    let missing = PathBuf::from("/nonexistent/dbfleet-ca.pem");
    let error = refused("127.0.0.1", with_ca(TlsMode::VerifyCa, missing)).await;
    assert!(error.starts_with("connect|"), "{error}");
    assert!(error.contains("/nonexistent/dbfleet-ca.pem"), "{error}");
}

/// Every connection of the control store's pool is encrypted when its URL
/// says `sslmode=require`; `verify-full` to an address the certificate does
/// not name fails, naming the store and the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_control_store_honours_sslmode() {
    let world = World::fleet_with("?sslmode=require", None, "").await;
    world.add_postgres("pg").await;
    let mut admin = pg_admin().await;
    let encrypted: Vec<bool> = sqlx::query_scalar(
        "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
         WHERE a.datname = $1",
    )
    .bind(world.store_db())
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert!(
        !encrypted.is_empty() && encrypted.iter().all(|e| *e),
        "{encrypted:?}"
    );

    let url = format!(
        "postgres://postgres@127.0.0.1:5432/{}?sslmode=verify-full&sslrootcert={SNAKEOIL}",
        world.store_db()
    );
    let mut settings = world.settings.clone();
    settings.store.url = Some(SecretString::from(url));
    let error = match dbfleet::fleet::open_store(&settings).await {
        Ok(_) => panic!("verify-full to 127.0.0.1 connected"),
        Err(e) => format!("{:#}", anyhow::Error::from(e)),
    };
    assert!(error.contains("127.0.0.1:5432"), "{error}");
    assert!(error.contains("name mismatch"), "{error}");
    world.teardown().await;
}

/// A client key file that holds no key refuses the connection, naming the
/// file, never quoting it.
#[tokio::test]
async fn a_client_key_that_is_not_a_key_is_named_not_quoted() {
    let pki = Pki::new();
    let bad = pki.path("bad.key");
    let armored = "-----BEGIN PRIVATE KEY-----\nN0t-a-k3y-at-all\n-----END PRIVATE KEY-----\n";
    std::fs::write(&bad, armored).unwrap();
    let tls = TlsSettings {
        cert_file: Some(pki.path("client.pem")),
        key_file: Some(bad.clone()),
        ..TlsSettings::mode(TlsMode::Require)
    };
    let error = refused("127.0.0.1", tls).await;
    assert!(error.starts_with("connect|"), "{error}");
    assert!(error.contains(&bad.display().to_string()), "{error}");
    assert!(!error.contains("N0t-a-k3y"), "{error}");
}

/// Through the fleet (RabbitMQ, a worker, the control plane): the TLS
/// settings travel with each job, a refused certificate fails its job with
/// class `connect`, and the verified one reports what was checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_jobs_carry_the_tls_settings_and_fail_on_a_refused_certificate() {
    use common::Fleet;
    use dbfleet::fleet::dispatcher::{self, BatchRequest, Selection};
    use dbfleet::message::JobKind;
    use dbfleet::secret::PasswordRef;

    let world = World::new().await;
    let add = |name: &'static str, tls: TlsSettings| {
        let world = &world;
        async move {
            world
                .add_instance_tls(
                    name,
                    DbType::Postgresql,
                    5432,
                    "postgres",
                    PasswordRef::None,
                    tls,
                )
                .await
        }
    };
    add("pg-ca", with_ca(TlsMode::VerifyCa, SNAKEOIL.into())).await;
    add("pg-full", with_ca(TlsMode::VerifyFull, SNAKEOIL.into())).await;
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

    let job = |name: &str| jobs.iter().find(|j| j.instance == name).unwrap();
    let ca = job("pg-ca");
    assert_eq!(ca.status, "succeeded", "{ca:?}");
    assert_eq!(
        ca.output["security"]["certificate_verified"], true,
        "{ca:?}"
    );
    assert_eq!(ca.output["security"]["host_verified"], false, "{ca:?}");
    assert_eq!(ca.output["security"]["tls_version"], "TLSv1.3", "{ca:?}");
    let full = job("pg-full");
    assert_eq!(full.status, "failed", "{full:?}");
    let error = full.error.as_ref().unwrap();
    assert_eq!(error.class.as_str(), "connect", "{error:?}");
    assert!(error.message.contains("127.0.0.1:5432"), "{error:?}");
    assert!(error.message.contains("name mismatch"), "{error:?}");
}
