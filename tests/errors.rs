//! Every error type follows one rule, so that a chain printed with `{:#}`
//! (as `dbfleet` prints `error: …`) says each thing once: an error's
//! message is its own context, plus its cause only when it has no
//! `source()`. sqlx breaks the rule (message and source both carry the
//! cause); the checker below catches it there and nowhere in dbfleet.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::error::Error as StdError;
use std::io;
use std::time::Duration;

use dbfleet::fleet::{dispatcher, dlq};
use dbfleet::{adapters, broker, fleet, jobs, lifecycle, store};

/// The links of the chain whose message repeats its source's message.
fn repeats(e: &(dyn StdError + 'static)) -> Vec<String> {
    let mut found = Vec::new();
    let mut link = Some(e);
    while let Some(current) = link {
        if let Some(source) = current.source() {
            let (outer, inner) = (current.to_string(), source.to_string());
            if outer.contains(&inner) {
                found.push(format!("`{outer}` repeats `{inner}`"));
            }
        }
        link = current.source();
    }
    found
}

fn refused() -> io::Error {
    io::Error::from(io::ErrorKind::ConnectionRefused)
}

fn store_error() -> store::Error {
    store::Error::Connect {
        endpoint: "postgres://fleet@db:5432/x".into(),
        cause: sqlx::Error::Io(refused()),
    }
}

fn broker_error() -> broker::Error {
    broker::Error::Connect {
        endpoint: "amqp://guest@mq:5672/%2f".into(),
        cause: "connection refused".into(),
    }
}

/// One error of each kind a command can end with, as it reaches `main`.
fn every_kind() -> Vec<anyhow::Error> {
    let amqp = lapin::Error::IOError(std::sync::Arc::new(refused()));
    vec![
        store_error().into(),
        store::Error::from(sqlx::Error::Io(refused())).into(),
        store::Error::from(sqlx::migrate::MigrateError::VersionMissing(3)).into(),
        broker_error().into(),
        broker::Error::Amqp(amqp.clone()).into(),
        broker::Error::Pool(deadpool_lapin::PoolError::Backend(amqp)).into(),
        broker::Error::Timeout {
            what: "opening a channel",
            after: Duration::from_secs(40),
        }
        .into(),
        fleet::Error::from(store_error()).into(),
        fleet::Error::UnreadableFilters {
            path: "/etc/dbfleet/filters.yaml".into(),
            cause: io::Error::from(io::ErrorKind::PermissionDenied),
        }
        .into(),
        fleet::Error::from(lifecycle::TaskError::Failed {
            name: "the results folder",
            error: Box::new(store_error()),
        })
        .into(),
        dlq::Error::Publish {
            id: 7,
            replayed: 2,
            cause: broker_error(),
        }
        .into(),
        dlq::Error::Mark {
            id: 7,
            replayed: 2,
            cause: store_error(),
        }
        .into(),
        dispatcher::Error::from(store_error()).into(),
        jobs::Failure::from(store_error()).into(),
        jobs::Failure::from(adapters::Error::Connect("connection refused".into())).into(),
        anyhow::Error::from(store_error()).context("waiting for the batch"),
    ]
}

#[test]
fn every_error_says_each_cause_once() {
    for e in every_kind() {
        let shown = format!("{e:#}");
        let chain: Vec<&(dyn StdError + 'static)> = e.chain().collect();
        let found: Vec<String> = chain.iter().flat_map(|link| repeats(*link)).collect();
        assert!(found.is_empty(), "{shown}: {found:?}");
        let root = ["connection refused", "permission denied", "timed out", "3"]
            .into_iter()
            .find(|cause| shown.contains(cause))
            .unwrap_or_else(|| panic!("no cause in `{shown}`"));
        assert_eq!(
            shown.matches(root).count(),
            1,
            "`{root}` twice in `{shown}`"
        );
    }
}

#[test]
fn the_checker_catches_an_error_that_repeats_its_source() {
    // Before: sqlx's own error, printed as a chain, says the cause twice.
    let raw = anyhow::Error::from(sqlx::Error::Io(refused()));
    assert_eq!(
        format!("{raw:#}"),
        "error communicating with database: connection refused: connection refused"
    );
    let first: &(dyn StdError + 'static) = raw.chain().next().unwrap();
    assert_eq!(repeats(first).len(), 1);
    // After: the store's error around it says it once.
    let wrapped = anyhow::Error::from(store::Error::from(sqlx::Error::Io(refused())));
    assert_eq!(format!("{wrapped:#}"), "control store: connection refused");
}
