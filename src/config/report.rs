//! What loading reports: each problem as a [`ConfigError`] naming its source
//! and key, all of them together as [`ConfigErrors`], and the [`Report`] that
//! collects them during the walk.
//!
//! The report also remembers which environment variable set which key, so a
//! problem with an overridden value blames the variable, not the file.

use std::collections::BTreeMap;
use std::fmt;

/// Source named by errors about values that came from the environment.
pub(super) const ENV_SOURCE: &str = "environment";

/// One problem with the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file path, or `"environment"` for values from `DBFLEET__…` variables.
    pub source: String,
    /// Dotted key such as `worker.concurrency` or `instances[2].port`; empty
    /// for whole-file problems.
    pub key: String,
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}: {}", self.source, self.problem)
        } else {
            write!(f, "{}: {}: {}", self.source, self.key, self.problem)
        }
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found while loading; never empty when returned as an error.
#[derive(Debug, Clone)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// The collected errors, and where environment overrides came from.
pub(super) struct Report {
    source: String,
    /// Dotted key → name of the variable that set it.
    pub(super) origins: BTreeMap<String, String>,
    pub(super) errors: Vec<ConfigError>,
}

impl Report {
    pub(super) fn new(source: &str) -> Self {
        Report {
            source: source.to_owned(),
            origins: BTreeMap::new(),
            errors: Vec::new(),
        }
    }

    pub(super) fn push(&mut self, source: &str, key: &str, problem: &str) {
        self.errors.push(ConfigError {
            source: source.to_owned(),
            key: key.to_owned(),
            problem: problem.to_owned(),
        });
    }

    /// Record a problem with `key`, blaming the variable that set the key (or
    /// something under it) when there is one, else the file.
    pub(super) fn error(&mut self, key: &str, problem: &str) {
        let nested = format!("{key}.");
        let origin = self
            .origins
            .iter()
            .find(|(k, _)| *k == key || k.starts_with(&nested));
        match origin {
            Some((_, var)) => {
                let problem = format!("{problem} (from {var})");
                self.push(ENV_SOURCE, key, &problem);
            }
            None => {
                let source = self.source.clone();
                self.push(&source, key, problem);
            }
        }
    }

    pub(super) fn has_error(&self, key: &str) -> bool {
        self.errors.iter().any(|e| e.key == key)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::config::test_support::{errors, vars};

    #[test]
    fn env_problems_name_the_variable() {
        let env = vars(&[
            ("DBFLEET__WORKER__CONCURENCY", "8"),
            ("DBFLEET__BOGUS", "1"),
            ("DBFLEET__AGGREGATOR__PREFETCH", "lots"),
            ("DBFLEET__LOG__LEVEL", ""),
            ("DBFLEET__JOB____DEADLINE", "1m"),
        ]);
        let found: Vec<(String, String, String)> = errors("", env)
            .into_iter()
            .map(|e| (e.source, e.key, e.problem))
            .collect();
        let env_error = |key: &str, problem: &str| (ENV_SOURCE.into(), key.into(), problem.into());
        let expected = vec![
            env_error(
                "DBFLEET__JOB____DEADLINE",
                "malformed name; expected DBFLEET__SECTION__KEY",
            ),
            env_error(
                "worker.concurency",
                "unknown key; did you mean `concurrency`? (from DBFLEET__WORKER__CONCURENCY)",
            ),
            env_error(
                "aggregator.prefetch",
                "expected a positive integer, found a string (from DBFLEET__AGGREGATOR__PREFETCH)",
            ),
            env_error("log.level", "must not be empty (from DBFLEET__LOG__LEVEL)"),
            env_error("bogus", "unknown key (from DBFLEET__BOGUS)"),
        ];
        assert_eq!(found, expected);
    }

    #[test]
    fn errors_display_one_per_line() {
        let error = |key: &str| ConfigError {
            source: "f.yaml".into(),
            key: key.into(),
            problem: "p".into(),
        };
        let all = ConfigErrors(vec![error("worker.concurrency"), error("")]);
        assert_eq!(all.to_string(), "f.yaml: worker.concurrency: p\nf.yaml: p");
    }
}
