//! A notification as an e-mail, over SMTP (rustls for TLS).
//!
//! The subject says the state, the rule and the subject; the body is the
//! summary, then the details as JSON. The password is resolved from its
//! reference just before connecting and never appears in an error.

use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

use super::Notification;
use crate::config::{Smtp, SmtpTls};

/// Bound on one SMTP conversation.
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// Send `n` through `smtp` once; the reason it was not taken otherwise.
pub(super) async fn send(smtp: &Smtp, n: &Notification) -> Result<(), String> {
    let message = message(smtp, n)?;
    let transport = transport(smtp)?;
    transport
        .send(message)
        .await
        .map(|_| ())
        .map_err(|e| format!("SMTP {}:{}: {e}", smtp.host, smtp.port))
}

/// The subject line of `n`.
pub fn subject(n: &Notification) -> String {
    format!("[dbfleet] {} {}: {}", n.state.as_str(), n.rule, n.subject)
}

fn message(smtp: &Smtp, n: &Notification) -> Result<Message, String> {
    let from = smtp
        .from
        .parse()
        .map_err(|e| format!("sender `{}`: {e}", smtp.from))?;
    let mut builder = Message::builder().from(from).subject(subject(n));
    for to in &smtp.to {
        let to = to.parse().map_err(|e| format!("recipient `{to}`: {e}"))?;
        builder = builder.to(to);
    }
    let details = serde_json::to_string_pretty(&n.details).unwrap_or_default();
    let body = format!(
        "{}\n\nrule: {}\nsubject: {}\nstate: {}\nsince: {}\n\n{details}\n",
        n.summary,
        n.rule,
        n.subject,
        n.state.as_str(),
        n.fired_at.to_rfc3339()
    );
    builder
        .header(ContentType::TEXT_PLAIN)
        .body(body)
        .map_err(|e| format!("cannot build the message: {e}"))
}

fn transport(smtp: &Smtp) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    type Transport = AsyncSmtpTransport<Tokio1Executor>;
    let refused = |e: lettre::transport::smtp::Error| format!("SMTP {}: {e}", smtp.host);
    let builder = match smtp.tls {
        SmtpTls::None => Transport::builder_dangerous(&smtp.host),
        SmtpTls::StartTls => Transport::starttls_relay(&smtp.host).map_err(refused)?,
        SmtpTls::Tls => Transport::relay(&smtp.host).map_err(refused)?,
    };
    let mut builder = builder.port(smtp.port).timeout(Some(TIMEOUT));
    if let Some(user) = &smtp.username {
        let password = match &smtp.password {
            Some(reference) => reference
                .resolve()
                .map_err(|e| format!("the SMTP password: {e}"))?,
            None => secrecy::SecretString::from(String::new()),
        };
        let credentials = Credentials::new(user.clone(), password.expose_secret().to_string());
        builder = builder.credentials(credentials);
    }
    Ok(builder.build())
}
