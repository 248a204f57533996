//! Reaching RabbitMQ, and saying why it failed: `broker.url` checked the
//! way lapin reads it when the configuration loads, and a failed first
//! connection reported as its endpoint (redacted) and its root cause,
//! without the pool's and lapin's layers of wrapping.

use std::str::FromStr;

use lapin::uri::AMQPUri;

use crate::broker::Error;
use crate::endpoint;

/// The in-process queue's URL; it takes no host or options.
const MEMORY_URL: &str = "memory://";

/// Check a `broker.url` as the broker will read it, so a bad one is a
/// configuration error. The problem never quotes the URL's password.
pub fn validate_url(url: &str) -> Result<(), String> {
    if url == MEMORY_URL {
        return Ok(());
    }
    AMQPUri::from_str(url)
        .map(drop)
        .map_err(|problem| endpoint::scrub(&problem, url))
}

/// `e`, from the first connection to `url`, as [`Error::Connect`].
pub(super) fn connect_error(url: &str, e: &Error) -> Error {
    Error::Connect {
        endpoint: endpoint::redact(url),
        cause: cause(e),
    }
}

/// The root cause of a connection failure, in one phrase.
fn cause(e: &Error) -> String {
    use deadpool_lapin::PoolError;
    match e {
        Error::Amqp(e) | Error::Pool(PoolError::Backend(e)) => lapin_cause(e),
        Error::Pool(PoolError::Timeout(_)) => "no answer in time".to_string(),
        other => other.to_string(),
    }
}

/// What the socket or the server said: `connection refused`, or RabbitMQ's
/// own reply (`ACCESS_REFUSED - Login was refused …`).
fn lapin_cause(e: &lapin::Error) -> String {
    let phrase = lapin_phrase(e);
    match crate::tls::certificate_problem(&phrase) {
        Some(problem) => format!("TLS certificate not verified: {problem} ({phrase})"),
        None => phrase,
    }
}

fn lapin_phrase(e: &lapin::Error) -> String {
    match e {
        lapin::Error::IOError(io) => endpoint::io_cause(io),
        lapin::Error::ProtocolError(amqp) => amqp.get_message().to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_as_lapin_reads_them() {
        for good in [
            "amqp://guest:guest@127.0.0.1:5672/%2f",
            "amqps://mq.example/vhost?heartbeat=30",
            "amqp://[::1]:5672",
            "memory://",
        ] {
            assert_eq!(validate_url(good), Ok(()), "{good}");
        }
        for (bad, problem) in [
            ("amqp://guest:hunter2@mq:99999/%2f", "invalid port number"),
            (
                "amqp://guest:hunter2@mq/%2f?heartbeat=often",
                "invalid digit",
            ),
            ("amqp:guest:hunter2@mq", "Invalid URL"),
            ("memory://extra", "Invalid AMQP scheme: memory"),
        ] {
            let found = validate_url(bad).unwrap_err();
            assert!(found.contains(problem), "{bad}: {found}");
            assert!(!found.contains("hunter2"), "{bad}: {found}");
        }
    }

    #[test]
    fn a_connect_error_names_the_endpoint_and_the_cause_once() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let lapin = lapin::Error::IOError(std::sync::Arc::new(refused));
        let pooled = Error::Pool(deadpool_lapin::PoolError::Backend(lapin));
        let before = pooled.to_string();
        assert_eq!(
            before,
            "broker connection pool: Error occurred while creating a new object: \
             IO error: connection refused"
        );
        let after = connect_error("amqp://guest:hunter2@mq:5672/%2f", &pooled);
        assert_eq!(
            format!("{:#}", anyhow::Error::from(after)),
            "cannot connect to the broker amqp://guest@mq:5672/%2f: connection refused"
        );
    }
}
