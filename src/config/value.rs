//! The typed getters of a [`Section`]: strings, URLs, booleans, bounded
//! integers and durations.
//!
//! Each getter records a problem and falls back to a default instead of
//! stopping, so that one walk reports everything. A value of the wrong type
//! is described by its [`kind`], never quoted, and a URL is never quoted at
//! all: either may hold a secret.

use std::ops::RangeInclusive;
use std::time::Duration;

use secrecy::SecretString;
use serde_yaml::Value;

use super::section::{kind, Section};

impl Section<'_> {
    /// An optional string; `None` when absent or not a string.
    pub(super) fn string(&mut self, key: &'static str) -> Option<String> {
        match self.take(key)? {
            Value::String(s) => Some(s),
            other => {
                let problem = format!("expected a string, found {}", kind(&other));
                self.error(key, &problem);
                None
            }
        }
    }

    /// An optional string that must not be empty when given.
    pub(super) fn non_empty_string(&mut self, key: &'static str) -> Option<String> {
        let s = self.string(key)?;
        if s.is_empty() {
            self.error(key, "must not be empty");
            return None;
        }
        Some(s)
    }

    /// A string that must be present and not empty; `""` after an error.
    pub(super) fn required_string(&mut self, key: &'static str) -> String {
        let present = self.map.get(key).is_some_and(|v| !v.is_null());
        match self.string(key) {
            Some(s) if s.is_empty() => self.error(key, "must not be empty"),
            Some(s) => return s,
            None if !present => self.error(key, "required key is missing"),
            None => {}
        }
        String::new()
    }

    /// A string with a default, which must not be empty when given.
    pub(super) fn string_or(&mut self, key: &'static str, default: &str) -> String {
        self.non_empty_string(key)
            .unwrap_or_else(|| default.to_owned())
    }

    /// An optional URL that `accepts` (a scheme check) and `parses` (the
    /// check of the module that will read it, whose problem never quotes
    /// it); absent means the embedded default. Its value is never put in an
    /// error, since it may hold a password.
    pub(super) fn url(
        &mut self,
        key: &'static str,
        accepts: fn(&str) -> bool,
        expected: &str,
        parses: fn(&str) -> Result<(), String>,
    ) -> Option<SecretString> {
        let url = self.string(key)?;
        if url.is_empty() {
            self.error(
                key,
                "must not be empty; remove the key to use the embedded default",
            );
            return None;
        }
        if !accepts(&url) {
            let problem = format!(
                "unsupported {} URL scheme; expected {expected}",
                self.prefix
            );
            self.error(key, &problem);
        } else if let Err(problem) = parses(&url) {
            let problem = format!("invalid {} URL: {problem}", self.prefix);
            self.error(key, &problem);
        }
        Some(SecretString::from(url))
    }

    /// A boolean, or `default` when absent or bad.
    pub(super) fn bool_or(&mut self, key: &'static str, default: bool) -> bool {
        match self.take(key) {
            None => default,
            Some(Value::Bool(b)) => b,
            Some(other) => {
                let problem = format!("expected `true` or `false`, found {}", kind(&other));
                self.error(key, &problem);
                default
            }
        }
    }

    /// An integer within `range`, or `default` when absent or bad.
    pub(super) fn int_in<T>(&mut self, key: &'static str, range: RangeInclusive<T>, default: T) -> T
    where
        T: Copy + Into<u64> + TryFrom<u64>,
    {
        let Some(value) = self.take(key) else {
            return default;
        };
        let (low, high) = ((*range.start()).into(), (*range.end()).into());
        let problem = match &value {
            Value::Number(n) => match n.as_u64() {
                Some(v) if (low..=high).contains(&v) => {
                    return T::try_from(v).ok().unwrap_or(default)
                }
                Some(v) => format!("must be between {low} and {high}, found {v}"),
                None => format!("expected a positive integer, found {n}"),
            },
            other => format!("expected a positive integer, found {}", kind(other)),
        };
        self.error(key, &problem);
        default
    }

    /// An optional integer within `range`; `None` when absent or bad, with
    /// one message for every way of being bad.
    pub(super) fn optional_int_in<T>(
        &mut self,
        key: &'static str,
        range: RangeInclusive<T>,
    ) -> Option<T>
    where
        T: Copy + Into<u64> + TryFrom<u64>,
    {
        let value = self.take(key)?;
        let (low, high) = ((*range.start()).into(), (*range.end()).into());
        let found = match &value {
            Value::Number(n) => match n.as_u64() {
                Some(v) if (low..=high).contains(&v) => return T::try_from(v).ok(),
                _ => n.to_string(),
            },
            other => kind(other).to_owned(),
        };
        let problem = format!("expected an integer from {low} to {high}, found {found}");
        self.error(key, &problem);
        None
    }

    /// A number from 0 to 1 (`0.25`, or `1`), or `default` when absent or
    /// bad.
    pub(super) fn fraction_or(&mut self, key: &'static str, default: f64) -> f64 {
        let problem = match self.take(key) {
            None => return default,
            Some(Value::Number(n)) => match n.as_f64() {
                Some(f) if (0.0..=1.0).contains(&f) => return f,
                _ => format!("must be between 0 and 1, found {n}"),
            },
            Some(other) => format!("expected a number from 0 to 1, found {}", kind(&other)),
        };
        self.error(key, &problem);
        default
    }

    /// A humantime duration (`30s`, `10m`, `1h 30m`) of at least `min`.
    pub(super) fn duration(
        &mut self,
        key: &'static str,
        default: Duration,
        min: Duration,
    ) -> Duration {
        const EXPECTED: &str = "expected a duration such as `30s` or `10m`";
        let problem = match self.take(key) {
            None => return default,
            Some(Value::String(s)) => match humantime::parse_duration(&s) {
                Ok(d) if d >= min => return d,
                Ok(_) => format!("must be at least {}", humantime::format_duration(min)),
                Err(e) => format!("{EXPECTED}: {e}"),
            },
            Some(Value::Number(n)) => {
                format!("{EXPECTED}, found the bare number {n} (add a unit, e.g. `{n}s`)")
            }
            Some(other) => format!("{EXPECTED}, found {}", kind(&other)),
        };
        self.error(key, &problem);
        default
    }

    /// A list of humantime durations, each at least `min`: a YAML list, or a
    /// comma-separated string (the only way to write a list in a variable).
    pub(super) fn durations(
        &mut self,
        key: &'static str,
        default: &[Duration],
        min: Duration,
    ) -> Vec<Duration> {
        const EXPECTED: &str = "expected a list of durations such as [5s, 30s, 2m]";
        let items: Vec<Value> = match self.take(key) {
            None => return default.to_vec(),
            Some(Value::Sequence(items)) => items,
            Some(Value::String(text)) => text
                .split(',')
                .map(|part| Value::String(part.trim().to_string()))
                .collect(),
            Some(other) => {
                self.error(key, &format!("{EXPECTED}, found {}", kind(&other)));
                return default.to_vec();
            }
        };
        let mut parsed = Vec::new();
        for (index, item) in items.into_iter().enumerate() {
            let problem = match item {
                Value::String(text) => match humantime::parse_duration(&text) {
                    Ok(d) if d >= min => {
                        parsed.push(d);
                        continue;
                    }
                    Ok(_) => format!("must be at least {}", humantime::format_duration(min)),
                    Err(e) => format!("expected a duration such as `30s`: {e}"),
                },
                other => format!("expected a duration such as `30s`, found {}", kind(&other)),
            };
            self.error(&format!("{key}[{index}]"), &problem);
        }
        if parsed.len() > 10 {
            self.error(key, "at most 10 retry tiers");
        }
        parsed
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    //! The typed getters and the problem report, seen through loading.

    use crate::config::test_support::{errors, vars, SOURCE};
    use crate::config::{load_from_str, ConfigErrors};

    /// One bad value per row: the row's key must be the only one reported,
    /// with the expected problem.
    #[test]
    fn each_bad_value_is_reported_on_its_key() {
        let cases = [
            (
                "store: {url: ''}",
                "store.url",
                "must not be empty; remove the key to use the embedded default",
            ),
            (
                "broker: {url: 7}",
                "broker.url",
                "expected a string, found a number",
            ),
            ("data_dir: ''", "data_dir", "must not be empty"),
            (
                "data_dir: [a]",
                "data_dir",
                "expected a string, found a list",
            ),
            (
                "telemetry: {sample_ratio: 1.5}",
                "telemetry.sample_ratio",
                "must be between 0 and 1, found 1.5",
            ),
            (
                "telemetry: {sample_ratio: half}",
                "telemetry.sample_ratio",
                "expected a number from 0 to 1, found a string",
            ),
            (
                "telemetry: {otlp_endpoint: 'https://collector:4318'}",
                "telemetry.otlp_endpoint",
                "https is not supported",
            ),
            (
                "telemetry: {otlp_endpoint: 'collector:4318'}",
                "telemetry.otlp_endpoint",
                "expected an OTLP/HTTP base URL",
            ),
            (
                "store: {max_connections: 0}",
                "store.max_connections",
                "must be between 1 and 1000, found 0",
            ),
            (
                "store: {max_connections: -3}",
                "store.max_connections",
                "expected a positive integer, found -3",
            ),
            (
                "store: {max_connections: 2.5}",
                "store.max_connections",
                "expected a positive integer",
            ),
            (
                "broker: {delivery_limit: 1001}",
                "broker.delivery_limit",
                "must be between 1 and 1000",
            ),
            (
                "broker: {prefix: 'has space'}",
                "broker.prefix",
                "must be 1 to 64 characters",
            ),
            ("broker: {prefix: ''}", "broker.prefix", "must not be empty"),
            (
                "broker: {prefix: [a]}",
                "broker.prefix",
                "expected a string, found a list",
            ),
            (
                "worker: {concurrency: 1025}",
                "worker.concurrency",
                "must be between 1 and 1024",
            ),
            ("worker: {name: ''}", "worker.name", "must not be empty"),
            (
                "worker: 5",
                "worker",
                "expected a mapping of settings, found a number",
            ),
            (
                "worker: {concurrency: 2, extra: {a: 1}}",
                "worker.extra",
                "unknown key",
            ),
            (
                "job: {deadline: 500ms}",
                "job.deadline",
                "must be at least 1s",
            ),
            (
                "job: {deadline: soon}",
                "job.deadline",
                "expected a duration such as `30s` or `10m`",
            ),
            (
                "job: {lock_timeout: 10}",
                "job.lock_timeout",
                "expected a duration such as `30s` or `10m`",
            ),
            (
                "job: {deadline: 1m, connect_timeout: 1m, statement_timeout: 30s}",
                "job.connect_timeout",
                "must be shorter than `job.deadline` (1m is not shorter than 1m)",
            ),
            (
                "job: {statement_timeout: 11m}",
                "job.statement_timeout",
                "must be shorter than `job.deadline` (11m is not shorter than 10m)",
            ),
            (
                "aggregator: {prefetch: 2001}",
                "aggregator.prefetch",
                "must be between 1 and 2000",
            ),
            (
                "aggregator: {sweep_interval: 0s}",
                "aggregator.sweep_interval",
                "must be at least 1s",
            ),
            (
                "timezone: 8",
                "timezone",
                "expected a string, found a number",
            ),
            ("filters: {path: ''}", "filters.path", "must not be empty"),
            (
                "log: {format: xml}",
                "log.format",
                "expected `pretty` or `json`, found `xml`",
            ),
            (
                "log: {level: 'dbfleet=loud'}",
                "log.level",
                "invalid log filter",
            ),
            (
                "log: {level: loud}",
                "log.level",
                "invalid log filter: `loud`: neither a level (trace, debug, info, warn, error, off) \
                 nor `target=level`",
            ),
            (
                "store: {url: 'postgres://::::'}",
                "store.url",
                "invalid store URL: empty host",
            ),
            (
                "store: {url: 'postgres://u:p@db/x?sslmode=sometimes'}",
                "store.url",
                "invalid store URL: ",
            ),
            (
                "broker: {url: 'amqp://guest:p@mq:70000/%2f'}",
                "broker.url",
                "invalid broker URL: invalid port number",
            ),
            (
                "lgo: {level: info}",
                "lgo",
                "unknown key; did you mean `log`?",
            ),
            ("1: x", "1", "unknown key"),
        ];
        for (text, key, problem) in cases {
            let found = errors(text, vec![]);
            assert_eq!(found.len(), 1, "{text}: {found:#?}");
            assert_eq!(found[0].source, SOURCE, "{text}");
            assert_eq!(found[0].key, key, "{text}");
            assert!(
                found[0].problem.contains(problem),
                "{text}: {}",
                found[0].problem
            );
        }
    }

    #[test]
    fn url_passwords_never_appear_in_errors() {
        let text = "
store: {url: 'mysql://admin:hunter2@db/x', max_connections: 0}
broker: {url: 'http://guest:s3cret@mq', delivery_limit: many}
";
        let env = vars(&[("DBFLEET__BROKER__URL", "ftp://guest:s3cret@mq")]);
        // Nor when the scheme is right and the rest does not parse.
        let unparsable = "
store: {url: 'postgres://admin:hunter2@db:port/x?sslmode=bogus'}
broker: {url: 'amqp:guest:s3cret@mq'}
";
        let found = errors(unparsable, vec![]);
        let shown = format!("{} {found:?}", ConfigErrors(found.clone()));
        assert_eq!(found.len(), 2, "{shown}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("s3cret"),
            "{shown}"
        );
        let file_only = errors(text, vec![]);
        let with_env = errors(text, env);
        for found in [file_only, with_env] {
            let keys: Vec<&str> = found.iter().map(|e| e.key.as_str()).collect();
            assert!(
                keys.contains(&"store.url") && keys.contains(&"broker.url"),
                "{keys:?}"
            );
            let shown = format!("{} {found:?}", ConfigErrors(found.clone()));
            assert!(
                !shown.contains("hunter2") && !shown.contains("s3cret"),
                "{shown}"
            );
        }
        // Nor in the debug output of valid settings.
        let env = vars(&[
            ("DBFLEET__STORE__URL", "postgres://admin:hunter2@db/x"),
            ("DBFLEET__BROKER__URL", "amqp://guest:s3cret@mq"),
        ]);
        let shown = format!("{:?}", load_from_str(SOURCE, "", env).unwrap());
        assert!(
            !shown.contains("hunter2") && !shown.contains("s3cret"),
            "{shown}"
        );
    }
}
