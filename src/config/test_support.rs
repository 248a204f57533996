//! Helpers shared by the configuration unit tests: the source name they
//! load under, an environment from pairs, and the errors of a text that must
//! fail to load.

use std::time::Duration;

use secrecy::ExposeSecret;

use super::{load_from_str, ConfigError, ConfigErrors};

pub(super) const SOURCE: &str = "dbfleet.yaml";

pub(super) fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

pub(super) fn exposed(url: &Option<secrecy::SecretString>) -> Option<&str> {
    url.as_ref().map(|u| u.expose_secret())
}

pub(super) fn errors(text: &str, env: Vec<(String, String)>) -> Vec<ConfigError> {
    match load_from_str(SOURCE, text, env) {
        Ok(settings) => unreachable!("expected errors, got {settings:?}"),
        Err(ConfigErrors(errors)) => errors,
    }
}

/// Each problem of a text that must fail to load, as `key: problem`.
pub(super) fn problems(yaml: &str) -> Vec<String> {
    errors(yaml, Vec::new())
        .iter()
        .map(|e| format!("{}: {}", e.key, e.problem))
        .collect()
}

pub(super) fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}
