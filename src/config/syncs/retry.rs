//! The keys of a definition's retry policy (`crate::retry::RetryPolicy`),
//! named as the sync tools it replaces name them.

use std::time::Duration;

use super::super::section::Section;
use crate::retry::{Backoff, RetryPolicy, DEFAULT_DELAY, DEFAULT_RETRIES, MAX_DELAY};

/// More retries than anyone means: with the delay capped at an hour, a
/// job would stay pending for days.
const MAX_RETRIES: u32 = 100;

pub(in crate::config) fn retry(s: &mut Section<'_>) -> RetryPolicy {
    let retries = s.int_in("retry_times", 0..=MAX_RETRIES, DEFAULT_RETRIES);
    let delay = s.duration("retry_delay", DEFAULT_DELAY, Duration::from_secs(1));
    if delay > MAX_DELAY {
        s.error("retry_delay", "use at most 1h");
    }
    let backoff = match s.string_or("retry_backoff", "exponential").as_str() {
        "exponential" => Backoff::Exponential,
        "linear" => Backoff::Linear,
        other => {
            let problem = format!("unknown backoff `{other}`; expected exponential or linear");
            s.error("retry_backoff", &problem);
            Backoff::default()
        }
    };
    RetryPolicy {
        retries,
        delay_seconds: delay.min(MAX_DELAY).as_secs(),
        backoff,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use crate::config::load_from_str;
    use crate::config::test_support::{problems, SOURCE};
    use crate::retry::{Backoff, RetryPolicy};

    const DEFINITION: &str = "syncs:\n\
        \x20 - name: o\n    source: { instance: p, database: s }\n\
        \x20   targets: [ { instance: b, database: s } ]\n\
        \x20   tables: [ { name: t } ]\n";

    fn retry(extra: &str) -> RetryPolicy {
        let yaml = format!("{DEFINITION}{extra}");
        let settings = load_from_str(SOURCE, &yaml, Vec::new()).unwrap();
        settings.syncs[0].retry
    }

    #[test]
    fn the_retry_policy_defaults_and_loads() {
        let default = retry("");
        assert_eq!(default, RetryPolicy::default());
        assert_eq!((default.retries, default.delay_seconds), (3, 5));
        assert_eq!(default.backoff, Backoff::Exponential);
        let set = retry("    retry_times: 0\n    retry_delay: 2m\n    retry_backoff: linear\n");
        assert_eq!(
            set,
            RetryPolicy {
                retries: 0,
                delay_seconds: 120,
                backoff: Backoff::Linear,
            }
        );
    }

    #[test]
    fn a_bad_retry_policy_is_reported_on_its_keys() {
        let yaml = format!(
            "{DEFINITION}    retry_times: -1\n    retry_delay: 2h\n    retry_backoff: fibonacci\n"
        );
        let found = problems(&yaml);
        for key in ["retry_times", "retry_delay", "retry_backoff"] {
            let expected = format!("syncs[0].{key}:");
            assert!(
                found.iter().any(|p| p.starts_with(&expected)),
                "{expected} not in {found:#?}"
            );
        }
        assert!(found.iter().any(|p| p.contains("fibonacci")), "{found:#?}");
    }
}
