//! Retry policies: whether a job that failed runs again, and after how long.
//!
//! A kind may declare a policy for its jobs (a data sync takes its
//! definition's). When such a job fails for a reason that may pass (the
//! server was away, a statement timed out; not a configuration that is
//! wrong), the worker parks a new attempt of the same job in the control
//! store, to be published after the policy's delay, instead of reporting
//! the failure: the job and its batch stay pending until an attempt
//! succeeds or the last one fails. This is separate from the broker's
//! delay tiers, which handle a worker that could not run a job at all.
//!
//! The delay grows with the attempt (exponentially or linearly) and is
//! jittered, so jobs that failed together (a backup server restarting)
//! do not all come back in the same second.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How the delay grows from one attempt to the next.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backoff {
    /// `delay × 2^(n-1)` before attempt `n + 1`: 5 s, 10 s, 20 s, …
    #[default]
    Exponential,
    /// `delay × n` before attempt `n + 1`: 5 s, 10 s, 15 s, …
    Linear,
}

impl Backoff {
    pub fn as_str(self) -> &'static str {
        match self {
            Backoff::Exponential => "exponential",
            Backoff::Linear => "linear",
        }
    }
}

/// Retries after the first failure, unless a definition says otherwise.
pub const DEFAULT_RETRIES: u32 = 3;
/// The first retry's delay, unless a definition says otherwise.
pub const DEFAULT_DELAY: Duration = Duration::from_secs(5);
/// No retry waits longer than this, however many came before it.
pub const MAX_DELAY: Duration = Duration::from_secs(3_600);

/// Whether and when a failed job runs again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Attempts after the first; 0: a failure is final.
    pub retries: u32,
    /// The delay before the first retry, in seconds.
    pub delay_seconds: u64,
    pub backoff: Backoff,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            retries: DEFAULT_RETRIES,
            delay_seconds: DEFAULT_DELAY.as_secs(),
            backoff: Backoff::Exponential,
        }
    }
}

impl RetryPolicy {
    /// The delay before the attempt after `attempt` (1 for the first run),
    /// or `None` when `attempt` was the last. `jitter`, in `[0, 1]`, picks
    /// the delay between half its nominal value and all of it ("equal
    /// jitter"): spread out, yet never much sooner than the policy says.
    pub fn after(&self, attempt: u32, jitter: f64) -> Option<Duration> {
        if attempt == 0 || attempt > self.retries {
            return None;
        }
        let base = Duration::from_secs(self.delay_seconds);
        let nominal = match self.backoff {
            Backoff::Exponential => {
                let factor = 1u32.checked_shl(attempt - 1).unwrap_or(u32::MAX);
                base.saturating_mul(factor)
            }
            Backoff::Linear => base.saturating_mul(attempt),
        }
        .min(MAX_DELAY);
        let jitter = jitter.clamp(0.0, 1.0);
        Some(nominal.mul_f64(0.5 + jitter / 2.0))
    }

    /// How many times a job runs at most.
    pub fn max_attempts(&self) -> u32 {
        self.retries.saturating_add(1)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn policy(retries: u32, backoff: Backoff) -> RetryPolicy {
        RetryPolicy {
            retries,
            delay_seconds: 5,
            backoff,
        }
    }

    #[test]
    fn exponential_doubles_and_linear_adds() {
        let s = Duration::from_secs;
        let exp = policy(3, Backoff::Exponential);
        let nominal: Vec<_> = (1..=3).map(|n| exp.after(n, 1.0).unwrap()).collect();
        assert_eq!(nominal, [s(5), s(10), s(20)]);
        let linear = policy(3, Backoff::Linear);
        let nominal: Vec<_> = (1..=3).map(|n| linear.after(n, 1.0).unwrap()).collect();
        assert_eq!(nominal, [s(5), s(10), s(15)]);
    }

    #[test]
    fn the_last_attempt_has_no_retry() {
        let exp = policy(3, Backoff::Exponential);
        assert_eq!(exp.max_attempts(), 4);
        assert!(exp.after(3, 0.5).is_some());
        assert_eq!(exp.after(4, 0.5), None);
        assert_eq!(policy(0, Backoff::Linear).after(1, 0.5), None);
        assert_eq!(exp.after(0, 0.5), None);
    }

    #[test]
    fn jitter_stays_between_half_and_all_of_the_delay_and_is_capped() {
        let exp = policy(3, Backoff::Exponential);
        assert_eq!(exp.after(2, 0.0).unwrap(), Duration::from_secs(5));
        assert_eq!(exp.after(2, 0.5).unwrap(), Duration::from_millis(7_500));
        assert_eq!(exp.after(2, 7.0).unwrap(), Duration::from_secs(10));
        let many = policy(100, Backoff::Exponential);
        assert_eq!(many.after(60, 1.0).unwrap(), MAX_DELAY);
        assert_eq!(
            policy(100, Backoff::Linear).after(100, 1.0).unwrap(),
            Duration::from_secs(500)
        );
    }
}
