//! One POST over HTTPS, for the `https://` webhooks.
//!
//! reqwest's own TLS would bring a rustls newer than the one the
//! workspace pins for sqlx, so an `https://` request goes through hyper's
//! HTTP/1 client on a tokio-rustls stream made with the pinned rustls. The
//! server's certificate must chain to the public web roots or to a CA of
//! the webhook's `ca_file` (read at each send, so a renewed CA is picked
//! up), and must name the host of the URL.
//!
//! Errors never show the URL's path: the caller words them with the
//! origin only.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, RootCertStore};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::config::ca_certificates;

/// The request to make: where, what, and how long it may take.
pub(super) struct Post<'a> {
    pub url: &'a url::Url,
    pub ca_file: Option<&'a std::path::Path>,
    pub headers: &'a [(&'static str, String)],
    pub body: Vec<u8>,
    pub timeout: Duration,
}

/// Send `post`; the status the server answered, or why there was none.
pub(super) async fn send(post: Post<'_>) -> Result<http::StatusCode, String> {
    let config = client_config(post.ca_file)?;
    match tokio::time::timeout(post.timeout, exchange(&post, config)).await {
        Ok(answer) => answer,
        Err(_) => Err("timed out".to_string()),
    }
}

/// Trust the web roots and the CAs of `ca_file`; speak HTTP/1.1.
fn client_config(ca_file: Option<&std::path::Path>) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_file {
        for certificate in ca_certificates(path).map_err(|e| format!("ca_file {e}"))? {
            roots
                .add(certificate)
                .map_err(|e| format!("ca_file `{}`: {e}", path.display()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot set up TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Connect, shake hands, send the request and read the answer's status.
async fn exchange(post: &Post<'_>, config: Arc<ClientConfig>) -> Result<http::StatusCode, String> {
    let (host, name) = server(post.url)?;
    let port = post.url.port_or_known_default().unwrap_or(443);
    let tcp = TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| crate::endpoint::io_cause(&e))?;
    let tls = TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| handshake_failure(&e))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| format!("HTTP/1.1 handshake: {e}"))?;
    // Ends when the answer is read and the request dropped, or on error.
    tokio::spawn(connection);
    let answer = sender
        .send_request(request(post)?)
        .await
        .map_err(|e| format!("no answer: {e}"))?;
    Ok(answer.status())
}

/// The host to dial and the name the certificate must carry.
fn server(url: &url::Url) -> Result<(String, ServerName<'static>), String> {
    let name = match url.host() {
        Some(url::Host::Domain(domain)) => ServerName::try_from(domain.to_string())
            .map_err(|_| "the host is not a valid server name".to_string())?,
        Some(url::Host::Ipv4(ip)) => ServerName::IpAddress(std::net::IpAddr::V4(ip).into()),
        Some(url::Host::Ipv6(ip)) => ServerName::IpAddress(std::net::IpAddr::V6(ip).into()),
        None => return Err("the URL has no host".to_string()),
    };
    let host = url.host_str().unwrap_or_default();
    let dial = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    Ok((dial, name))
}

/// The POST itself: path and query, `Host`, the caller's headers, body.
fn request(post: &Post<'_>) -> Result<http::Request<Full<Bytes>>, String> {
    let target = match post.url.query() {
        Some(query) => format!("{}?{query}", post.url.path()),
        None => post.url.path().to_string(),
    };
    let authority = match post.url.port() {
        Some(port) => format!("{}:{port}", post.url.host_str().unwrap_or_default()),
        None => post.url.host_str().unwrap_or_default().to_string(),
    };
    let mut builder = http::Request::post(target)
        .header(http::header::HOST, authority)
        .header(http::header::CONTENT_LENGTH, post.body.len());
    for (name, value) in post.headers {
        builder = builder.header(*name, value);
    }
    builder
        .body(Full::new(Bytes::from(post.body.clone())))
        .map_err(|_| "the request cannot be built from the URL".to_string())
}

/// A failed handshake in plain words: a refused certificate says why.
fn handshake_failure(e: &std::io::Error) -> String {
    let text = e.to_string();
    match crate::tls::certificate_problem(&text) {
        Some(meaning) => format!("certificate refused: {meaning}"),
        None => format!("TLS handshake failed: {}", crate::endpoint::io_cause(e)),
    }
}
