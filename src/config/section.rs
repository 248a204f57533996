//! The building blocks of loading: the problems found ([`ConfigError`],
//! collected in a [`Report`]) and [`Section`], one mapping of the YAML tree
//! whose typed getters record a problem and fall back to a default instead of
//! stopping, so that one walk reports everything.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::RangeInclusive;
use std::time::Duration;

use secrecy::SecretString;
use serde_yaml::{Mapping, Value};

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
    fn error(&mut self, key: &str, problem: &str) {
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

    fn has_error(&self, key: &str) -> bool {
        self.errors.iter().any(|e| e.key == key)
    }
}

/// One mapping of the tree being walked. Getters remove the keys they read,
/// so whatever remains when the section finishes is unknown.
pub(super) struct Section<'r> {
    /// Key path of this mapping (`store`, `instances[2]`); empty for the root.
    prefix: String,
    map: Mapping,
    /// Keys asked for, to suggest one for a misspelt key.
    known: Vec<&'static str>,
    /// Put before every problem, such as "instance `db-3`".
    context: Option<String>,
    report: &'r mut Report,
}

impl<'r> Section<'r> {
    pub(super) fn new(prefix: String, map: Mapping, report: &'r mut Report) -> Self {
        Section {
            prefix,
            map,
            known: Vec::new(),
            context: None,
            report,
        }
    }

    /// Name what this mapping describes in every later problem, including
    /// its unknown keys.
    pub(super) fn set_context(&mut self, context: String) {
        self.context = Some(context);
    }

    fn path(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.prefix)
        }
    }

    pub(super) fn error(&mut self, key: &str, problem: &str) {
        let path = self.path(key);
        match &self.context {
            Some(context) => {
                let problem = format!("{context}: {problem}");
                self.report.error(&path, &problem);
            }
            None => self.report.error(&path, problem),
        }
    }

    pub(super) fn is_valid(&self, key: &str) -> bool {
        !self.report.has_error(&self.path(key))
    }

    /// Remove and return `key`; an explicit `null` counts as absent. The
    /// remaining keys keep their order, so unknown ones are reported in file
    /// order.
    pub(super) fn take(&mut self, key: &'static str) -> Option<Value> {
        self.known.push(key);
        self.map.shift_remove(key).filter(|v| !v.is_null())
    }

    /// Remove `key` (even an explicit `null`) without ever suggesting it for
    /// a misspelt key: for keys that are recognised only to be refused.
    pub(super) fn remove(&mut self, key: &str) -> Option<Value> {
        self.map.shift_remove(key)
    }

    /// Run `build` on the sub-mapping `key`, then report its unknown keys.
    pub(super) fn section<T>(
        &mut self,
        key: &'static str,
        build: impl FnOnce(&mut Section<'_>) -> T,
    ) -> T {
        let map = match self.take(key) {
            Some(Value::Mapping(map)) => map,
            None => Mapping::new(),
            Some(other) => {
                let problem = format!("expected a mapping of settings, found {}", kind(&other));
                self.error(key, &problem);
                Mapping::new()
            }
        };
        let prefix = self.path(key);
        Section::new(prefix, map, self.report).finish_with(build)
    }

    /// Run `build` on each mapping of the list `key` (with its index), each
    /// item a section `key[index]` of its own; `item` names one item in
    /// problems (`instance`). Items that are not mappings are reported and skipped.
    pub(super) fn list<T>(
        &mut self,
        key: &'static str,
        item: &str,
        mut build: impl FnMut(&mut Section<'_>, usize) -> T,
    ) -> Vec<T> {
        let items = match self.take(key) {
            Some(Value::Sequence(items)) => items,
            None => Vec::new(),
            Some(other) => {
                let problem = format!("expected a list of {item}s, found {}", kind(&other));
                self.error(key, &problem);
                Vec::new()
            }
        };
        let mut built = Vec::with_capacity(items.len());
        for (index, value) in items.into_iter().enumerate() {
            let prefix = format!("{}[{index}]", self.path(key));
            match value {
                Value::Mapping(map) => {
                    let section = Section::new(prefix, map, self.report);
                    built.push(section.finish_with(|s| build(s, index)));
                }
                other => {
                    let problem = format!(
                        "expected a mapping of {item} settings, found {}",
                        kind(&other)
                    );
                    self.report.error(&prefix, &problem);
                }
            }
        }
        built
    }

    pub(super) fn finish_with<T>(mut self, build: impl FnOnce(&mut Section<'_>) -> T) -> T {
        let built = build(&mut self);
        for (key, _) in std::mem::take(&mut self.map) {
            let name = key_name(&key);
            let problem = match closest(&name, &self.known) {
                Some(near) => format!("unknown key; did you mean `{near}`?"),
                None => "unknown key".to_owned(),
            };
            self.error(&name, &problem);
        }
        built
    }

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

    /// An optional URL that `accepts` (a scheme check); absent means the
    /// embedded default. Its value is never put in an error, since it may
    /// hold a password.
    pub(super) fn url(
        &mut self,
        key: &'static str,
        accepts: fn(&str) -> bool,
        expected: &str,
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
}

impl Section<'_> {
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

/// Describe what a value is, for "expected …, found …" messages; never its
/// content, which may be a secret.
pub(super) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

/// A mapping key as written; non-string keys (`1:`, `true:`) as YAML.
fn key_name(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        other => serde_yaml::to_string(other)
            .map(|s| s.trim_end().to_owned())
            .unwrap_or_else(|_| kind(other).to_owned()),
    }
}

/// The known key nearest to `name`, if it is within two edits and the
/// suggestion is not a wholesale replacement of a very short key.
fn closest(name: &str, known: &[&'static str]) -> Option<&'static str> {
    known
        .iter()
        .map(|k| (edit_distance(name, k), *k))
        .filter(|(d, k)| *d <= 2 && *d < k.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Levenshtein distance, one row at a time.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    //! The typed getters and the problem report, seen through loading.

    use super::*;
    use crate::config::load_from_str;
    use secrecy::ExposeSecret;

    const SOURCE: &str = "dbfleet.yaml";

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn errors(text: &str, env: Vec<(String, String)>) -> Vec<ConfigError> {
        match load_from_str(SOURCE, text, env) {
            Ok(settings) => unreachable!("expected errors, got {settings:?}"),
            Err(ConfigErrors(errors)) => errors,
        }
    }

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
    fn url_schemes() {
        let cases = [
            ("store", "postgres://h/d", true),
            ("store", "postgresql://h/d", true),
            ("store", "sqlite:dbfleet.db", true),
            ("store", "mysql://h/d", false),
            ("broker", "amqp://h", true),
            ("broker", "amqps://h", true),
            ("broker", "memory://", true),
            ("broker", "memory://extra", false),
            ("broker", "http://h", false),
        ];
        for (section, url, accepted) in cases {
            let env = vec![(
                format!("DBFLEET__{}__URL", section.to_uppercase()),
                url.to_owned(),
            )];
            let result = load_from_str(SOURCE, "", env);
            assert_eq!(
                result.is_ok(),
                accepted,
                "{section}.url = {url}: {result:?}"
            );
            match result {
                Ok(s) => {
                    let got = if section == "store" {
                        s.store.url
                    } else {
                        s.broker.url
                    };
                    assert_eq!(got.as_ref().map(|u| u.expose_secret()), Some(url));
                }
                Err(ConfigErrors(found)) => {
                    let want = format!("unsupported {section} URL scheme; expected");
                    assert_eq!(found.len(), 1, "{found:#?}");
                    assert!(found[0].problem.starts_with(&want), "{}", found[0]);
                }
            }
        }
    }

    #[test]
    fn url_passwords_never_appear_in_errors() {
        let text = "
store: {url: 'mysql://admin:hunter2@db/x', max_connections: 0}
broker: {url: 'http://guest:s3cret@mq', delivery_limit: many}
";
        let env = vars(&[("DBFLEET__BROKER__URL", "ftp://guest:s3cret@mq")]);
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

    #[test]
    fn closest_key_within_two_edits() {
        let known = ["concurrency", "name", "log", "job"];
        let cases = [
            ("concurency", Some("concurrency")),
            ("concurrenyc", Some("concurrency")),
            ("nmae", Some("name")),
            ("lgo", Some("log")),
            ("parallelism", None),
            ("x", None),
        ];
        for (name, want) in cases {
            assert_eq!(closest(name, &known), want, "{name}");
        }
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
