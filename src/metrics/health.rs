//! Whether the process is fit for work, as `/readyz` reports it.
//!
//! Ready means: every consumer the process runs holds a subscription (the
//! consume loop says so as it subscribes and as it loses the broker), the
//! process is not draining, and the control store answers (checked by the
//! server on each probe). A draining worker is alive but not ready, so its
//! orchestrator sends it no traffic and waits for it to stop.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::LazyLock;

/// The process's consumers and drain state.
#[derive(Debug, Default)]
pub struct Health {
    /// Consume loops started.
    consumers: AtomicUsize,
    /// Consume loops holding a subscription now.
    subscribed: AtomicUsize,
    draining: AtomicBool,
}

/// The process's health.
pub fn health() -> &'static Health {
    static HEALTH: LazyLock<Health> = LazyLock::new(Health::default);
    &HEALTH
}

impl Health {
    pub fn consumer_started(&self) {
        self.consumers.fetch_add(1, Ordering::SeqCst);
    }

    pub fn subscribed(&self) {
        self.subscribed.fetch_add(1, Ordering::SeqCst);
    }

    /// A consumer lost its subscription (or stopped).
    pub fn unsubscribed(&self) {
        let _ = self
            .subscribed
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
    }

    pub fn draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// Why the process is not ready, if it is not (the store aside).
    pub fn not_ready(&self) -> Option<String> {
        let (consumers, subscribed) = (
            self.consumers.load(Ordering::SeqCst),
            self.subscribed.load(Ordering::SeqCst),
        );
        if self.draining.load(Ordering::SeqCst) {
            Some("draining".to_string())
        } else if subscribed < consumers {
            Some(format!("{subscribed} of {consumers} consumers subscribed"))
        } else {
            None
        }
    }
}
