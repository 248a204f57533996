//! The alert evaluator of `dbfleet serve`: every `alerts.evaluate_every`,
//! read the facts, decide the transitions, record them, then send what is
//! still to be sent.
//!
//! Several control planes may run on one store. Each records a transition
//! with a conditional statement, so one of them records it; each sends
//! only what it claimed, so one of them sends it. A delivery that fails is
//! recorded and its claim released: the next evaluation (here or
//! elsewhere) sends it again, to the channels that did not take it. A
//! failing store or channel is logged and never stops the loop.

use std::sync::Arc;

use chrono::{DateTime, SubsecRound, Utc};
use tokio_util::sync::CancellationToken;

use super::{deliver, facts, plan, rules, Error, Notification, Retry};
use crate::config::Settings;
use crate::store::{AlertSend, NewTransition, Store, StoredAlert};

/// How long a claim on one transition holds before another control plane
/// may send it: longer than its channels' attempts take (each attempt is
/// bounded: 10s for a webhook by default, 15s for SMTP).
const CLAIM: chrono::Duration = chrono::Duration::minutes(5);
/// Transitions sent per evaluation at most.
const SEND_LIMIT: i64 = 200;

/// The rules of one configuration, on one store.
#[derive(Clone)]
pub struct Evaluator {
    settings: Arc<Settings>,
    store: Store,
    retry: Retry,
}

/// What one evaluation did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Evaluation {
    /// Transitions this evaluator recorded: (rule, subject, new state).
    pub recorded: Vec<(String, String, crate::store::AlertState)>,
    /// Each channel it tried.
    pub sends: Vec<AlertSend>,
}

impl Evaluator {
    pub fn new(settings: Arc<Settings>, store: Store) -> Self {
        Evaluator {
            settings,
            store,
            retry: Retry::default(),
        }
    }

    /// The same, with other retries.
    pub fn with_retry(mut self, retry: Retry) -> Self {
        self.retry = retry;
        self
    }

    /// Evaluate every rule until `shutdown`. A stop in the middle of a
    /// send leaves its claim to expire, after which the transition is sent
    /// (by another control plane, or this one restarted): late, not lost.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut ticks = tokio::time::interval(self.settings.alerts.evaluate_every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticks.tick() => {}
            }
            let evaluated = tokio::select! {
                _ = shutdown.cancelled() => return,
                evaluated = self.evaluate(Utc::now()) => evaluated,
            };
            if let Err(e) = evaluated {
                tracing::warn!(error = %e, "alert evaluation failed; trying again next time");
            }
        }
    }

    /// One evaluation at `now`: record the transitions, then send.
    pub async fn evaluate(&self, now: DateTime<Utc>) -> Result<Evaluation, Error> {
        let now = now.trunc_subsecs(6);
        let facts = facts::read(&self.store, &self.settings, now).await?;
        let stored = self.store.alerts().states().await?;
        let mut evaluation = Evaluation::default();
        for rule in &self.settings.alerts.rules {
            let observed = rules::observe(rule, &facts);
            let silenced =
                |subject: &str| self.settings.alerts.is_silenced(&rule.name, subject, now);
            for change in plan(rule, &observed, &stored, silenced) {
                let transition = NewTransition {
                    rule: &rule.name,
                    subject: &change.subject,
                    from: change.from,
                    to: change.to,
                    summary: &change.summary,
                    details: &change.details,
                    silenced: change.silenced,
                    fires_once: rule.fires_once(),
                };
                if self.store.alerts().record(&transition, now).await? {
                    changed(&rule.name, &change);
                    evaluation
                        .recorded
                        .push((rule.name.clone(), change.subject, change.to));
                }
            }
        }
        self.store
            .alerts()
            .set_mark(facts::BATCHES_MARK, now)
            .await?;
        evaluation.sends = self.send_pending(now).await?;
        Ok(evaluation)
    }

    /// Send every transition still to be sent, claiming one at a time so
    /// a claim covers only its own sends. One not delivered is held until
    /// `now`, so it waits for the next evaluation instead of being taken
    /// again in this one.
    pub async fn send_pending(&self, now: DateTime<Utc>) -> Result<Vec<AlertSend>, Error> {
        let alerts = self.store.alerts();
        let mut sends = Vec::new();
        for _ in 0..SEND_LIMIT {
            let until = Utc::now() + CLAIM;
            let Some(alert) = alerts.claim(now, until, 1).await?.pop() else {
                break;
            };
            let (tried, all_taken) = self.send_one(&alert).await?;
            sends.extend(tried);
            if all_taken {
                alerts.finish(&alert, Utc::now()).await?;
            } else {
                alerts.release(&alert, now).await?;
            }
        }
        Ok(sends)
    }

    /// Send `alert` to each channel of its rule that has not taken it;
    /// whether every one has now.
    async fn send_one(&self, alert: &StoredAlert) -> Result<(Vec<AlertSend>, bool), Error> {
        let config = &self.settings.alerts;
        // A rule removed from the configuration sends nothing more.
        let Some(rule) = config.rules.iter().find(|r| r.name == alert.rule) else {
            return Ok((Vec::new(), true));
        };
        let taken = self.store.alerts().delivered_to(alert).await?;
        let notification = notification(alert);
        let mut sends = Vec::new();
        for name in rule.channels.iter().filter(|c| !taken.contains(c)) {
            let Some(channel) = config.channel(name) else {
                continue;
            };
            let delivery = deliver(channel, &notification, self.retry).await;
            if let Some(reason) = &delivery.error {
                tracing::warn!(channel = %name, rule = %alert.rule, subject = %alert.subject,
                    attempts = delivery.attempts, %reason, "an alert was not delivered");
            }
            crate::metrics::metrics().alert_sent(name, delivery.delivered());
            let send = AlertSend {
                channel: name.clone(),
                rule: alert.rule.clone(),
                subject: alert.subject.clone(),
                state: alert.state,
                since: alert.since,
                delivered: delivery.delivered(),
                attempts: i64::from(delivery.attempts),
                error: delivery.error,
                sent_at: Utc::now(),
            };
            self.store.alerts().record_send(&send).await?;
            sends.push(send);
        }
        let all_taken = sends.iter().all(|s| s.delivered);
        Ok((sends, all_taken))
    }
}

/// Log and count a transition this evaluator recorded.
fn changed(rule: &str, change: &super::Change) {
    let state = change.to.as_str();
    crate::metrics::metrics().alert_changed(rule, state);
    tracing::info!(rule, subject = %change.subject, state, silenced = change.silenced,
        summary = %change.summary, "alert state changed");
}

fn notification(alert: &StoredAlert) -> Notification {
    Notification {
        rule: alert.rule.clone(),
        subject: alert.subject.clone(),
        state: alert.state,
        summary: alert.summary.clone(),
        details: alert.details.clone(),
        fired_at: alert.since,
    }
}
