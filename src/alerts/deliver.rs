//! One notification to one channel, retried with exponential backoff a
//! bounded number of times. The outcome says how many attempts it took
//! and, when none was taken, the last reason (never a secret).

use std::time::Duration;

use super::{email, webhook, Notification};
use crate::config::{AlertChannel, ChannelKind};

/// How often and how patiently to try a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Attempts in all (at least 1).
    pub attempts: u32,
    /// Wait after the first failure; doubled after each next one.
    pub first_delay: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            attempts: 3,
            first_delay: Duration::from_millis(500),
        }
    }
}

/// How a delivery went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub attempts: u32,
    /// `None`: delivered; else why the last attempt failed.
    pub error: Option<String>,
}

impl Delivery {
    pub fn delivered(&self) -> bool {
        self.error.is_none()
    }
}

/// Send `n` to `channel`, up to `retry.attempts` times.
pub async fn deliver(channel: &AlertChannel, n: &Notification, retry: Retry) -> Delivery {
    let mut delay = retry.first_delay;
    let mut attempts = 0;
    loop {
        attempts += 1;
        let sent = match &channel.kind {
            ChannelKind::Webhook(hook) => webhook::post(hook, n).await,
            ChannelKind::Smtp(smtp) => email::send(smtp, n).await,
        };
        match sent {
            Ok(()) => {
                return Delivery {
                    attempts,
                    error: None,
                }
            }
            Err(reason) if attempts >= retry.attempts.max(1) => {
                return Delivery {
                    attempts,
                    error: Some(reason),
                }
            }
            Err(reason) => {
                tracing::debug!(channel = %channel.name, attempts, %reason, "alert delivery failed; retrying");
                tokio::time::sleep(delay).await;
                delay = delay.saturating_mul(2);
            }
        }
    }
}
