//! Alerts: the rules of `alerts:` evaluated by the control plane, a state
//! per (rule, subject) in the store, and notifications by webhook and
//! e-mail.
//!
//! # Layout
//!
//! - `facts.rs`: what an evaluation reads from the store (batches ended
//!   since the last look, each instance's last collection and forecast,
//!   growth over each rule's window).
//! - `rules.rs`: each rule over the facts, a pure function: one
//!   [`Observation`] (subject, firing or not, a summary) per subject.
//! - `state.rs`: observations against the stored states, a pure function:
//!   the transitions to record (firing → resolved, resolved → firing, and
//!   a batch's alert once), silenced or not.
//! - `webhook.rs`, `email.rs`, `deliver.rs`: one notification to one
//!   channel, with bounded retries; `https.rs` the POST of an `https://`
//!   webhook (hyper over the pinned rustls, its certificate verified).
//! - `evaluator.rs`: the loop of `dbfleet serve`: read, decide, record
//!   (conditionally, so one control plane wins each transition), then send
//!   what it claimed.

mod deliver;
mod email;
mod evaluator;
mod facts;
mod https;
mod rules;
mod state;
#[cfg(test)]
mod tests;
mod webhook;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

pub use deliver::{deliver, Delivery, Retry};
pub use evaluator::{Evaluation, Evaluator};
pub use facts::{EndedBatch, Facts, GrowthFact, InstanceFact, SyncFact};
pub use rules::{observe, Observation};
pub use state::{plan, Change};
pub use webhook::{sign, SIGNATURE_HEADER};

use crate::store::AlertState;

/// What a channel is sent: one transition of one (rule, subject). The
/// webhook's JSON body is exactly this.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notification {
    pub rule: String,
    pub subject: String,
    pub state: AlertState,
    pub summary: String,
    pub details: Value,
    /// When the state began.
    pub fired_at: DateTime<Utc>,
}

impl Notification {
    /// A made-up notification, to check that a channel is reachable.
    pub fn sample(now: DateTime<Utc>) -> Self {
        Notification {
            rule: "dbfleet-test".to_string(),
            subject: "sample".to_string(),
            state: AlertState::Firing,
            summary: "a test notification from `dbfleet alert test`".to_string(),
            details: serde_json::json!({ "test": true }),
            fired_at: now,
        }
    }
}

/// An alert evaluation that could not finish.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] crate::store::Error),
}
