//! A notification as a signed JSON POST.
//!
//! The body is the [`Notification`] as JSON; `X-Dbfleet-Signature` is
//! `sha256=` and the hex HMAC-SHA256 of those exact bytes under the
//! channel's key, so a receiver checks it before parsing. An error names
//! the endpoint by scheme, host and port only: a webhook's path often
//! carries a token. `http://` goes through reqwest, `https://` through
//! `https.rs` (hyper on the workspace's pinned rustls).

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use super::Notification;
use crate::config::Webhook;

/// The header that carries the body's signature.
pub const SIGNATURE_HEADER: &str = "X-Dbfleet-Signature";

/// `sha256=<hex>` of `body` under `key`.
pub fn sign(key: &[u8], body: &[u8]) -> String {
    // HMAC takes a key of any length, so this never fails.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// POST `n` to `hook` once; the reason it was not taken otherwise.
pub(super) async fn post(hook: &Webhook, n: &Notification) -> Result<(), String> {
    let key: SecretString = hook
        .secret
        .resolve()
        .map_err(|e| format!("the signing key: {e}"))?;
    let body = serde_json::to_vec(n).map_err(|e| format!("cannot encode the body: {e}"))?;
    let signature = sign(key.expose_secret().as_bytes(), &body);
    let status = match url::Url::parse(&hook.url) {
        Ok(url) if url.scheme() == "https" => {
            let headers = [
                ("content-type", "application/json".to_string()),
                (SIGNATURE_HEADER, signature),
            ];
            let request = super::https::Post {
                url: &url,
                ca_file: hook.ca_file.as_deref(),
                headers: &headers,
                body,
                timeout: hook.timeout,
            };
            super::https::send(request).await
        }
        _ => post_http(hook, body, signature).await,
    }
    .map_err(|cause| format!("POST to {} failed: {cause}", origin(&hook.url)))?;
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("{} answered {status}", origin(&hook.url)))
    }
}

/// The POST in clear, with reqwest; the status, or why there was none.
async fn post_http(
    hook: &Webhook,
    body: Vec<u8>,
    signature: String,
) -> Result<reqwest::StatusCode, String> {
    let client = reqwest::Client::builder()
        .timeout(hook.timeout)
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
    let answer = client
        .post(&hook.url)
        .header("content-type", "application/json")
        .header(SIGNATURE_HEADER, signature)
        .body(body)
        .send()
        .await
        .map_err(|e| cause(&e))?;
    Ok(answer.status())
}

/// `scheme://host:port`, without path, query or user.
fn origin(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => format!(
            "{}://{}:{}",
            u.scheme(),
            u.host_str().unwrap_or("?"),
            u.port_or_known_default().unwrap_or(0)
        ),
        Err(_) => "the webhook".to_string(),
    }
}

/// Why a request failed, without the URL reqwest puts in its message.
fn cause(e: &reqwest::Error) -> String {
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    let mut deepest = None;
    while let Some(s) = source {
        deepest = Some(s);
        source = s.source();
    }
    if e.is_timeout() {
        return "timed out".to_string();
    }
    match deepest.and_then(|s| s.downcast_ref::<std::io::Error>()) {
        Some(io) => crate::endpoint::io_cause(io),
        None => deepest.map_or_else(|| "request failed".to_string(), ToString::to_string),
    }
}
