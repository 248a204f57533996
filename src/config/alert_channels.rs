//! `alerts.channels`: where notifications go, a webhook or an SMTP server.
//!
//! ```yaml
//! - { name: ops-hook, webhook: "http://hooks.internal/dbfleet", secret_env: ALERT_HMAC }
//! - { name: pager, webhook: "https://pager.example.com/in", secret_file: /run/pager.key,
//!     ca_file: /etc/dbfleet/private-ca.pem }     # optional: a private CA
//! - name: dba-mail
//!   smtp: { host: mail.internal, port: 587, from: dbfleet@example.com, to: [dba@example.com],
//!           username: dbfleet, password_env: SMTP_PASS, tls: starttls }
//! ```
//!
//! A webhook's body is signed with the key in `secret_env` or
//! `secret_file` (required); an SMTP password is `password_env` or
//! `password_file`. Neither is ever written in the file itself. An
//! `https://` webhook's certificate is verified against the public web
//! roots and, when given, the CAs of `ca_file`, which is read here so a
//! wrong path stops the start rather than the first alert.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use super::alerts::{name, strings};
use super::section::Section;
use crate::secret::PasswordRef;

/// One channel, by name.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertChannel {
    pub name: String,
    pub kind: ChannelKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ChannelKind {
    Webhook(Webhook),
    Smtp(Smtp),
}

/// An HTTP endpoint that receives each notification as a signed JSON POST.
#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    /// `http://…` or `https://…`; shown only as its origin in errors.
    pub url: String,
    /// PEM file of CA certificates trusted besides the public web roots
    /// (`https://` only); read again at each send, so a renewed CA is
    /// picked up.
    pub ca_file: Option<PathBuf>,
    /// The HMAC-SHA256 key of `X-Dbfleet-Signature`.
    pub secret: PasswordRef,
    /// Bound on one attempt (default 10s).
    pub timeout: Duration,
}

/// The certificates of the PEM file `path`, at least one; what is wrong
/// names the key and the path, never the file's contents.
pub fn ca_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let shown = path.display();
    let text =
        std::fs::read(path).map_err(|e| format!("`{shown}`: {}", crate::endpoint::io_cause(&e)))?;
    let certificates = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| format!("`{shown}`: not a PEM file of certificates"))?;
    if certificates.is_empty() {
        return Err(format!("`{shown}`: no PEM certificate in the file"));
    }
    Ok(certificates)
}

/// An SMTP relay and the message's envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct Smtp {
    pub host: String,
    pub port: u16,
    pub from: String,
    pub to: Vec<String>,
    pub username: Option<String>,
    pub password: Option<PasswordRef>,
    pub tls: SmtpTls,
}

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain text (a relay on the same host or network).
    None,
    /// Upgraded with STARTTLS, required.
    StartTls,
    /// TLS from the first byte (SMTPS, usually port 465).
    Tls,
}

pub(super) fn channel(s: &mut Section<'_>, _index: usize) -> Option<AlertChannel> {
    let name = name(s);
    let webhook = s.non_empty_string("webhook");
    let has_smtp = s.map.contains_key("smtp");
    let kind = match (webhook, has_smtp) {
        (Some(_), true) => {
            s.remove("smtp");
            s.error("smtp", "give `webhook` or `smtp`, not both");
            None
        }
        (Some(url), false) => webhook_channel(s, url).map(ChannelKind::Webhook),
        (None, true) => s.section("smtp", smtp).map(ChannelKind::Smtp),
        (None, false) if s.is_valid("webhook") => {
            s.error("webhook", "required: a `webhook` URL or an `smtp` mapping");
            None
        }
        (None, false) => None,
    };
    Some(AlertChannel {
        name: name?,
        kind: kind?,
    })
}

fn webhook_channel(s: &mut Section<'_>, url: String) -> Option<Webhook> {
    let parsed = url::Url::parse(&url).ok();
    let usable = parsed
        .as_ref()
        .is_some_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some());
    if !usable {
        s.error(
            "webhook",
            "expected an `http://host[:port]/path` or `https://host[:port]/path` URL",
        );
    }
    let https = parsed.as_ref().is_some_and(|u| u.scheme() == "https");
    let ca_file = ca_file(s, https);
    let secret = reference(s, "secret_env", "secret_file");
    if secret.is_none() && s.is_valid("secret_env") && s.is_valid("secret_file") {
        s.error(
            "secret_env",
            "required: the signing key's variable (`secret_env`) or file (`secret_file`)",
        );
    }
    let timeout = s.duration(
        "timeout",
        Duration::from_secs(10),
        Duration::from_millis(100),
    );
    // A send holds its claim for minutes; attempts that outlast it would
    // let another control plane send the same alert again.
    if timeout > Duration::from_secs(60) {
        s.error("timeout", "must be at most 60s");
    }
    Some(Webhook {
        url,
        ca_file,
        secret: secret?,
        timeout,
    })
    .filter(|_| usable)
}

/// `ca_file`: a readable PEM file of at least one certificate, for an
/// `https://` webhook only. What is wrong names the key and the path,
/// never the file's contents.
fn ca_file(s: &mut Section<'_>, https: bool) -> Option<PathBuf> {
    let path = PathBuf::from(s.non_empty_string("ca_file")?);
    if !https {
        s.error(
            "ca_file",
            "only an `https://` webhook verifies a certificate",
        );
        return None;
    }
    match ca_certificates(&path) {
        Ok(_) => Some(path),
        Err(problem) => {
            s.error("ca_file", &problem);
            None
        }
    }
}

fn smtp(s: &mut Section<'_>) -> Option<Smtp> {
    let host = s.required_string("host");
    let tls = smtp_tls(s);
    let default_port = if tls == SmtpTls::Tls { 465 } else { 587 };
    let port = s.int_in("port", 1..=u16::MAX, default_port);
    let from = address(s, "from");
    let to = strings(s, "to");
    if to.is_empty() && s.is_valid("to") {
        s.error("to", "required: at least one recipient");
    }
    for (index, rcpt) in to.iter().enumerate() {
        if !looks_like_address(rcpt) {
            s.error(
                &format!("to[{index}]"),
                "expected an address such as `dba@example.com`",
            );
        }
    }
    let username = s.non_empty_string("username");
    let password = reference(s, "password_env", "password_file");
    if password.is_some() && username.is_none() {
        s.error("username", "required with a password");
    }
    (!host.is_empty() && !to.is_empty()).then_some(Smtp {
        host,
        port,
        from: from?,
        to,
        username,
        password,
        tls,
    })
}

fn smtp_tls(s: &mut Section<'_>) -> SmtpTls {
    match s.string_or("tls", "starttls").as_str() {
        "none" => SmtpTls::None,
        "starttls" => SmtpTls::StartTls,
        "tls" => SmtpTls::Tls,
        other => {
            let problem = format!("expected `none`, `starttls` or `tls`, found `{other}`");
            s.error("tls", &problem);
            SmtpTls::StartTls
        }
    }
}

fn address(s: &mut Section<'_>, key: &'static str) -> Option<String> {
    let raw = s.required_string(key);
    if raw.is_empty() {
        return None;
    }
    if !looks_like_address(&raw) {
        s.error(key, "expected an address such as `dbfleet@example.com`");
        return None;
    }
    Some(raw)
}

fn looks_like_address(raw: &str) -> bool {
    raw.split_once('@')
        .is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty())
        && !raw.contains(char::is_whitespace)
}

/// A secret's variable (`env_key`) or file (`file_key`), not both.
fn reference(
    s: &mut Section<'_>,
    env_key: &'static str,
    file_key: &'static str,
) -> Option<PasswordRef> {
    let env = s.non_empty_string(env_key);
    let file = s.non_empty_string(file_key);
    match (env, file) {
        (Some(_), Some(_)) => {
            s.error(
                file_key,
                &format!("give `{env_key}` or `{file_key}`, not both"),
            );
            None
        }
        (Some(var), None) => PasswordRef::env(&var)
            .map_err(|e| s.error(env_key, &e.to_string()))
            .ok(),
        (None, Some(path)) => Some(PasswordRef::File(PathBuf::from(path))),
        (None, None) => None,
    }
}
