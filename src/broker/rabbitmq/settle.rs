//! Settling a delivery: the [`RabbitAcker`] carries out a [`Disposition`]
//! (ack, reject, hand back, delay into a retry tier, dead-letter with a
//! reason).
//!
//! A delayed or dead-lettered job is first copied, with confirms, to where it
//! must go, and only then acked; if the copy fails the original is rejected
//! instead, so a message is never lost between the two.

use std::sync::Arc;

use async_trait::async_trait;
use lapin::options::{BasicAckOptions, BasicNackOptions, BasicRejectOptions};

use super::{amqp, bounded, Inner, CONNECT_TIMEOUT, OPERATION_TIMEOUT};
use crate::broker::{
    Acker, DeliveryMeta, Disposition, Error, Outgoing, Queue, Result, REASON_HEADER, RETRIES_HEADER,
};

pub(super) struct RabbitAcker {
    pub(super) acker: lapin::acker::Acker,
    pub(super) inner: Arc<Inner>,
}

#[async_trait]
impl Acker for RabbitAcker {
    async fn settle(self: Box<Self>, disposition: Disposition, meta: &DeliveryMeta) -> Result<()> {
        bounded(
            "settling a delivery",
            CONNECT_TIMEOUT + OPERATION_TIMEOUT,
            self.settle_unbounded(disposition, meta),
        )
        .await
    }
}

impl RabbitAcker {
    async fn settle_unbounded(
        self: Box<Self>,
        disposition: Disposition,
        meta: &DeliveryMeta,
    ) -> Result<()> {
        match disposition {
            Disposition::Ack => self.acker.ack(BasicAckOptions::default()).await,
            Disposition::Retry => {
                self.acker
                    .reject(BasicRejectOptions { requeue: true })
                    .await
            }
            Disposition::HandBack => {
                let options = BasicNackOptions {
                    requeue: true,
                    ..BasicNackOptions::default()
                };
                self.acker.nack(options).await
            }
            Disposition::DeadLetter(reason) => return self.dead_letter(&reason, meta).await,
            Disposition::Delay { tier } => return self.delay(tier, meta).await,
        }
        .map_err(amqp)
    }
}

impl RabbitAcker {
    /// Park a copy in the retry tier's queue, whose TTL dead-letters it back
    /// to the jobs queue, then ack. If the copy cannot be confirmed, reject
    /// with requeue instead: an immediate retry beats a lost job.
    async fn delay(self, tier: usize, meta: &DeliveryMeta) -> Result<()> {
        let t = &self.inner.topology;
        let tier = tier.min(t.retry_delays.len().saturating_sub(1));
        let mut headers = meta.headers.clone();
        headers.retain(|k, _| {
            !k.starts_with("x-death")
                && !k.starts_with("x-first-death")
                && !k.starts_with("x-last-death")
        });
        headers.insert(RETRIES_HEADER.to_string(), (tier + 1).to_string());
        let copy = Outgoing {
            queue: Queue::Jobs,
            message_id: meta.message_id.clone().unwrap_or_default(),
            correlation_id: meta.correlation_id.clone().unwrap_or_default(),
            kind: meta.kind.clone().unwrap_or_default(),
            routing_key: t.retry_queue(tier),
            body: meta.body.clone(),
            headers,
        };
        let parked = if t.retry_delays.is_empty() {
            Err(Error::NoRetryTiers)
        } else {
            self.inner.publish_to("", &copy.routing_key, &copy).await
        };
        self.ack_if_copied(
            parked,
            true,
            "could not park a job for a delayed retry; requeueing it",
        )
        .await
    }

    /// Ack once the copy is confirmed; otherwise reject, requeueing or not,
    /// so the message is never lost between the two.
    async fn ack_if_copied(self, copied: Result<()>, requeue: bool, warning: &str) -> Result<()> {
        match copied {
            Ok(()) => self.acker.ack(BasicAckOptions::default()).await,
            Err(e) => {
                tracing::warn!(error = %e, "{warning}");
                self.acker.reject(BasicRejectOptions { requeue }).await
            }
        }
        .map_err(amqp)
    }

    /// Copy the message to the dead-letter exchange with its reason, then
    /// ack it. If that copy cannot be confirmed, let the broker dead-letter
    /// it without a reason rather than lose it.
    async fn dead_letter(self, reason: &str, meta: &DeliveryMeta) -> Result<()> {
        let mut headers = meta.headers.clone();
        headers.insert(REASON_HEADER.to_string(), reason.to_string());
        let copy = Outgoing {
            queue: Queue::Dead,
            message_id: meta.message_id.clone().unwrap_or_default(),
            correlation_id: String::new(),
            kind: "dead_letter".to_string(),
            routing_key: "dead".to_string(),
            body: meta.body.clone(),
            headers,
        };
        let dlx = self.inner.topology.dead_letter_exchange();
        let copied = self.inner.publish_to(&dlx, &copy.routing_key, &copy).await;
        self.ack_if_copied(
            copied,
            false,
            "could not copy a dead letter; rejecting it instead",
        )
        .await
    }
}
