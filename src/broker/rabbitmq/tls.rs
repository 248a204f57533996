//! Opening a connection, in clear (`amqp://`) or over TLS (`amqps://`)
//! with the certificates of `broker.tls`, and the connection pool that
//! opens them the same way.
//!
//! The files are read at each connect, so a renewed certificate mounted
//! from a Secret is picked up by the next connection. lapin wants the
//! client certificate as PKCS#12; it is assembled here, in memory, from
//! the PEM files operators have. No file's contents ever reach an error or
//! a log line: a problem names the key and the path.

use deadpool::managed::{self, Metrics, RecycleError, RecycleResult};
use std::str::FromStr;

use lapin::tcp::{OwnedIdentity, OwnedTLSConfig};
use lapin::uri::AMQPUri;
use lapin::{Connection, ConnectionProperties, ConnectionState};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};
use secrecy::{ExposeSecret, SecretString};

use crate::config::BrokerTls;

/// Connect to `url` with the certificates of `tls` (used by `amqps://`
/// only).
pub(super) async fn open(
    url: &SecretString,
    tls: &BrokerTls,
    properties: ConnectionProperties,
) -> lapin::Result<Connection> {
    let config = tls_config(tls).map_err(invalid_file)?;
    let mut uri = AMQPUri::from_str(url.expose_secret()).map_err(invalid_file)?;
    uri.query.frame_max = uri.query.frame_max.or(Some(FRAME_MAX));
    Connection::connect_uri_with_config(uri, properties, config).await
}

/// The largest frame asked of the broker unless the URL says otherwise
/// (`?frame_max=`). lapin keeps two buffers of 32 frames per connection;
/// at RabbitMQ's default of 128 KiB they are 8 MiB each, half a worker's
/// memory, for messages that are a few KiB (larger ones span frames).
const FRAME_MAX: u32 = 16 * 1024;

/// A problem with a certificate file (or the URL), as lapin's own IO
/// error.
fn invalid_file(problem: String) -> lapin::Error {
    lapin::Error::IOError(std::sync::Arc::new(std::io::Error::other(problem)))
}

fn tls_config(tls: &BrokerTls) -> Result<OwnedTLSConfig, String> {
    let cert_chain = match &tls.ca_file {
        Some(path) => Some(read_text("broker.tls.ca_file", path)?),
        None => None,
    };
    let identity = match (&tls.cert_file, &tls.key_file) {
        (Some(cert), Some(key)) => Some(identity(cert, key)?),
        _ => None,
    };
    Ok(OwnedTLSConfig {
        identity,
        cert_chain,
    })
}

fn read_text(key: &str, path: &std::path::Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| {
        format!(
            "{key} `{}`: {}",
            path.display(),
            crate::endpoint::io_cause(&e)
        )
    })
}

/// The client certificate chain and its PKCS#8 key as one PKCS#12 store,
/// with an empty password: it never leaves this process's memory.
fn identity(cert: &std::path::Path, key: &std::path::Path) -> Result<OwnedIdentity, String> {
    let (cert_key, key_key) = ("broker.tls.cert_file", "broker.tls.key_file");
    let chain = CertificateDer::pem_slice_iter(read_text(cert_key, cert)?.as_bytes())
        .map(|c| c.map_err(|_| not_pem(cert_key, cert, "certificates")))
        .map(|c| c.and_then(|c| p12_certificate(&c, cert_key, cert)))
        .collect::<Result<Vec<_>, _>>()?;
    if chain.is_empty() {
        return Err(not_pem(cert_key, cert, "certificates"));
    }
    let key_pem = read_text(key_key, key)?;
    let key_der = PrivatePkcs8KeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|_| not_pem(key_key, key, "a PKCS#8 private key (BEGIN PRIVATE KEY)"))?;
    let entry = p12_keystore::PrivateKeyChain::new(key_der.secret_pkcs8_der(), [1u8; 20], chain);
    let mut store = p12_keystore::KeyStore::new();
    store.add_entry(
        "client",
        p12_keystore::KeyStoreEntry::PrivateKeyChain(entry),
    );
    let der = store
        .writer("")
        .write()
        .map_err(|_| format!("{cert_key} and {key_key}: cannot pair them"))?;
    Ok(OwnedIdentity {
        der,
        password: String::new(),
    })
}

fn p12_certificate(
    der: &CertificateDer<'_>,
    key: &str,
    path: &std::path::Path,
) -> Result<p12_keystore::Certificate, String> {
    p12_keystore::Certificate::from_der(der.as_ref())
        .map_err(|_| not_pem(key, path, "certificates"))
}

fn not_pem(key: &str, path: &std::path::Path, what: &str) -> String {
    format!("{key} `{}`: no PEM {what} in the file", path.display())
}

/// The pool's way of opening and recycling connections: [`open`].
pub(super) struct Opener {
    pub url: SecretString,
    pub tls: BrokerTls,
    pub properties: ConnectionProperties,
}

impl managed::Manager for Opener {
    type Type = Connection;
    type Error = lapin::Error;

    async fn create(&self) -> lapin::Result<Connection> {
        open(&self.url, &self.tls, self.properties.clone()).await
    }

    async fn recycle(&self, conn: &mut Connection, _: &Metrics) -> RecycleResult<lapin::Error> {
        match conn.status().state() {
            ConnectionState::Connected => Ok(()),
            other => Err(RecycleError::message(format!(
                "connection is in state {other:?}"
            ))),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_is_named_by_key_and_path() {
        let tls = BrokerTls {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..BrokerTls::default()
        };
        let problem = tls_config(&tls).unwrap_err();
        assert!(
            problem.starts_with("broker.tls.ca_file `/nonexistent/ca.pem`: "),
            "{problem}"
        );
    }

    #[test]
    fn a_key_that_is_not_pem_is_refused_without_its_contents() {
        let dir = std::env::temp_dir().join(format!("dbfleet-broker-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (cert, key) = (dir.join("c.pem"), dir.join("k.pem"));
        std::fs::write(&cert, "not a certificate: s3cret-cert").unwrap();
        std::fs::write(&key, "s3cret-key").unwrap();
        let problem = identity(&cert, &key).unwrap_err();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(problem.contains("broker.tls.cert_file"), "{problem}");
        assert!(!problem.contains("s3cret"), "{problem}");
    }
}
