//! How a server that dbfleet connects to is named in errors: its URL
//! without anything that may be secret, and why connecting failed, in the
//! words an operator would search for (`connection refused`) rather than a
//! client library's layers of wrapping.
//!
//! The control store and the broker both name their endpoint this way. It
//! lives apart from both so that neither reaches the other, and so there is
//! one place that decides what of a URL may be shown.

use url::Url;

/// `url` as it may be shown: `postgres://user@host:port/db`. The password,
/// the query string (which may carry `password=`) and the fragment are
/// dropped. A URL that does not parse cannot be told apart into user and
/// password, so only its scheme is shown.
pub fn redact(url: &str) -> String {
    match Url::parse(url.trim()) {
        // `scheme:anything` keeps its text whole: `sqlite:data/x.sqlite`,
        // but also `amqp:user:password@host`, which must not be shown.
        Ok(parsed) if parsed.cannot_be_a_base() && parsed.path().contains('@') => {
            format!("{}:… (not a valid URL)", parsed.scheme())
        }
        Ok(mut parsed) => {
            // Fails only where there is no password to drop (`sqlite:x`).
            let _ = parsed.set_password(None);
            parsed.set_query(None);
            parsed.set_fragment(None);
            parsed.to_string()
        }
        Err(_) => match scheme(url) {
            Some(scheme) => format!("{scheme}://… (not a valid URL)"),
            None => "(not a valid URL)".to_string(),
        },
    }
}

/// The scheme of `url` when it looks like one (letters, digits, `+-.`).
fn scheme(url: &str) -> Option<&str> {
    let (scheme, _) = url.trim().split_once(':')?;
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.');
    let looks_like_one = scheme.starts_with(|c: char| c.is_ascii_alphabetic());
    (looks_like_one && scheme.chars().all(plain)).then_some(scheme)
}

/// A parser's message about `url` with the URL itself, should the message
/// quote it, replaced by its redacted form: some parsers quote their input.
pub fn scrub(message: &str, url: &str) -> String {
    if url.is_empty() {
        return message.to_string();
    }
    message.replace(url, &redact(url))
}

/// Why a connection attempt failed at the socket: `connection refused`,
/// `connection reset`, or the system's own words (an unknown host reads
/// `failed to lookup address information: …`).
pub fn io_cause(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
        std::io::ErrorKind::ConnectionReset => "connection reset".to_string(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(url: &str, shown: &str) {
        assert_eq!(redact(url), shown, "{url}");
    }

    #[test]
    fn redacted_urls_keep_the_endpoint_and_drop_secrets() {
        check(
            "postgres://fleet:hunter2@db.example:5432/dbfleet",
            "postgres://fleet@db.example:5432/dbfleet",
        );
        check(
            "postgres://db.example/dbfleet",
            "postgres://db.example/dbfleet",
        );
        check(
            "postgresql://:hunter2@db.example:5433/x",
            "postgresql://db.example:5433/x",
        );
        check(
            "postgres://fleet:hun%40ter2@[::1]:5432/x",
            "postgres://fleet@[::1]:5432/x",
        );
        check("postgres://[fe80::1]/x", "postgres://[fe80::1]/x");
        check(
            "postgres://fleet@db/x?sslmode=require&password=hunter2",
            "postgres://fleet@db/x",
        );
        check("postgres://db/x?password=hunter2#frag", "postgres://db/x");
        check(
            "amqp://guest:hunter2@127.0.0.1:5672/%2f",
            "amqp://guest@127.0.0.1:5672/%2f",
        );
        check("amqps://mq.example/vhost", "amqps://mq.example/vhost");
        check("sqlite:data/dbfleet.sqlite", "sqlite:data/dbfleet.sqlite");
        check(
            "sqlite:data/dbfleet.sqlite?mode=rwc&password=hunter2",
            "sqlite:data/dbfleet.sqlite",
        );
        check("memory://", "memory://");
        // What does not parse cannot be split into user and password.
        check(
            "postgres://fleet:hunter2@db:port/x",
            "postgres://… (not a valid URL)",
        );
        check("postgres://::::", "postgres://… (not a valid URL)");
        check("amqp:guest:hunter2@mq", "amqp:… (not a valid URL)");
        check("fleet:hunter2@db", "fleet:… (not a valid URL)");
        check("hunter2", "(not a valid URL)");
        check("", "(not a valid URL)");
    }

    #[test]
    fn scrubbed_messages_never_quote_a_password() {
        let url = "amqp:guest:hunter2@mq";
        let message = format!("Invalid URL: '{url}'");
        let scrubbed = scrub(&message, url);
        assert!(!scrubbed.contains("hunter2"), "{scrubbed}");
        assert_eq!(scrub("invalid port number", url), "invalid port number");
    }

    #[test]
    fn socket_causes_read_as_operators_say_them() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(io_cause(&refused), "connection refused");
        let other = std::io::Error::other("failed to lookup address information");
        assert_eq!(io_cause(&other), "failed to lookup address information");
    }
}
