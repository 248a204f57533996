//! A TLS endpoint in front of the local RabbitMQ: it accepts TLS on a free
//! loopback port with a server certificate of a test's [`Pki`] (asking
//! for a client certificate signed by its CA, when told to) and pipes the
//! plain bytes to 127.0.0.1:5672. So `amqps://` is tested end to end
//! against the real broker, whose own listener has no TLS. Stopped on drop.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use super::pki::Pki;

pub struct TlsProxy {
    pub port: u16,
    handshakes: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl TlsProxy {
    /// Listening once this returns, with the certificate `leaf` of `pki`
    /// (`server`, `expired`).
    pub async fn start(pki: &Pki, leaf: &str, client_auth: bool) -> Self {
        let config = server_config(pki, leaf, client_auth);
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let handshakes = Arc::new(AtomicUsize::new(0));
        let counted = handshakes.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (acceptor, counted) = (acceptor.clone(), counted.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(client).await else {
                        return;
                    };
                    counted.fetch_add(1, Ordering::SeqCst);
                    let Ok(mut broker) = TcpStream::connect("127.0.0.1:5672").await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut broker).await;
                });
            }
        });
        Self {
            port,
            handshakes,
            task,
        }
    }

    /// TLS handshakes completed so far.
    pub fn handshakes(&self) -> usize {
        self.handshakes.load(Ordering::SeqCst)
    }

    /// `amqps://` to this endpoint, as the local broker's `guest`.
    pub fn url(&self) -> String {
        format!("amqps://guest:guest@127.0.0.1:{}/%2f", self.port)
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A server's TLS settings with `leaf`'s certificate and key, asking for a
/// client certificate of the test CA when `client_auth`.
pub fn server_config(pki: &Pki, leaf: &str, client_auth: bool) -> ServerConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = CertificateDer::pem_file_iter(pki.path(&format!("{leaf}.pem")))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(pki.path(&format!("{leaf}.key"))).unwrap();
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = if client_auth {
        let mut roots = RootCertStore::empty();
        for ca in CertificateDer::pem_file_iter(pki.ca_file()).unwrap() {
            roots.add(ca.unwrap()).unwrap();
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .unwrap();
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    builder.with_single_cert(chain, key).unwrap()
}
