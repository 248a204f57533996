//! The one place that decides what happens to a delivery: every way a
//! delivery can end ([`Outcome`]) has exactly one [`disposition`], and one
//! log line.

use super::retry::NextAttempt;
use crate::broker::{self, Disposition};
use crate::message::{DecodeError, JobError, JobStatus};

/// How one delivery ended, before it is settled.
#[derive(Debug)]
pub enum Outcome {
    /// Not a job anyone can read.
    Undecodable(DecodeError),
    /// A job of a kind this build does not know, which a newer worker may:
    /// `retries` delayed retries so far.
    UnknownKind { kind: String, retries: usize },
    /// The result (success or an instance failure) is on the broker.
    Reported(JobStatus),
    /// Attempt `attempt` failed with `error`, and its kind's retry policy
    /// parked the next in the control store: no result yet.
    Retrying {
        attempt: u32,
        next: NextAttempt,
        error: JobError,
    },
    /// The result could not be published.
    Unreported(broker::Error),
    /// The job could not run now (the control store is unavailable):
    /// `retries` delayed retries so far.
    Deferred { reason: String, retries: usize },
    /// Another job holds the instance's lease; wait for it (until the
    /// batch's deadline, when the job fails as `timeout`).
    Busy { retries: usize },
    /// Shutdown came before the job finished.
    Abandoned,
    /// Its batch was cancelled before the job started; its row already
    /// says so, and nothing ran.
    Cancelled,
}

/// The one place that decides what happens to a delivery.
pub fn disposition(outcome: &Outcome, retry_tiers: usize) -> Disposition {
    match outcome {
        Outcome::Undecodable(e) => Disposition::DeadLetter(e.to_string()),
        // Give a newer worker the retry tiers' time to take it.
        Outcome::UnknownKind { retries, .. } if *retries < retry_tiers => {
            Disposition::Delay { tier: *retries }
        }
        Outcome::UnknownKind { kind, .. } => {
            Disposition::DeadLetter(DecodeError::UnknownKind(kind.clone()).to_string())
        }
        Outcome::Reported(_) | Outcome::Cancelled | Outcome::Retrying { .. } => Disposition::Ack,
        // Counted by the broker's delivery limit, then dead-lettered.
        Outcome::Unreported(_) => Disposition::Retry,
        Outcome::Deferred { retries, .. } if *retries < retry_tiers => {
            Disposition::Delay { tier: *retries }
        }
        Outcome::Deferred { .. } => Disposition::Retry,
        Outcome::Busy { .. } if retry_tiers == 0 => Disposition::Retry,
        Outcome::Busy { retries } => Disposition::Delay {
            tier: (*retries).min(retry_tiers - 1),
        },
        Outcome::Abandoned => Disposition::HandBack,
    }
}

pub(super) fn log(outcome: &Outcome) {
    match outcome {
        Outcome::Undecodable(e) => tracing::warn!(reason = %e, "dead-lettering an unreadable job"),
        Outcome::UnknownKind { kind, retries } => {
            tracing::warn!(%kind, retries, "a job of a kind this worker does not know; leaving it to another")
        }
        Outcome::Unreported(e) => {
            tracing::warn!(error = %e, "result not confirmed; the job will be redelivered")
        }
        Outcome::Deferred { reason, retries } => {
            tracing::warn!(%reason, retries, "job deferred; it will be retried later")
        }
        Outcome::Busy { retries } => {
            tracing::info!(retries, "instance busy with another job; waiting")
        }
        Outcome::Cancelled => tracing::info!("job cancelled before it started; not run"),
        Outcome::Retrying {
            attempt,
            next,
            error,
        } => {
            let delay = humantime::format_duration(next.delay);
            tracing::warn!(
                attempt, class = error.class.as_str(), error = %error.message,
                next_attempt = next.attempt, %delay,
                "job failed; attempt {} in {delay}", next.attempt
            )
        }
        Outcome::Reported(_) | Outcome::Abandoned => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_outcome_has_one_disposition() {
        let check = |outcome: Outcome, want: Disposition| {
            assert_eq!(disposition(&outcome, 3), want, "{outcome:?}")
        };
        check(Outcome::Reported(JobStatus::Succeeded), Disposition::Ack);
        check(Outcome::Reported(JobStatus::Failed), Disposition::Ack);
        check(
            Outcome::Unreported(broker::Error::Nacked("x".into())),
            Disposition::Retry,
        );
        check(
            Outcome::Undecodable(DecodeError::MissingSchema),
            Disposition::DeadLetter("missing or non-string `schema` field".into()),
        );
        let deferred = |retries| Outcome::Deferred {
            reason: "store down".into(),
            retries,
        };
        check(deferred(0), Disposition::Delay { tier: 0 });
        check(deferred(2), Disposition::Delay { tier: 2 });
        check(deferred(3), Disposition::Retry);
        check(Outcome::Abandoned, Disposition::HandBack);
        let retrying = Outcome::Retrying {
            attempt: 1,
            next: NextAttempt {
                attempt: 2,
                delay: std::time::Duration::from_secs(5),
            },
            error: JobError::new(crate::message::ErrorClass::Connect, "refused"),
        };
        check(retrying, Disposition::Ack);
        check(Outcome::Busy { retries: 0 }, Disposition::Delay { tier: 0 });
        check(Outcome::Busy { retries: 9 }, Disposition::Delay { tier: 2 });
        assert_eq!(
            disposition(&Outcome::Busy { retries: 1 }, 0),
            Disposition::Retry
        );
        let unknown = |retries| Outcome::UnknownKind {
            kind: "table_sizes".into(),
            retries,
        };
        check(unknown(0), Disposition::Delay { tier: 0 });
        check(unknown(2), Disposition::Delay { tier: 2 });
        check(
            unknown(3),
            Disposition::DeadLetter("unknown kind `table_sizes`".into()),
        );
        assert_eq!(
            disposition(&unknown(0), 0),
            Disposition::DeadLetter("unknown kind `table_sizes`".into())
        );
    }
}
