//! Reading, overriding and validating the configuration file.
//!
//! The file is parsed into a plain YAML value tree, environment overrides are
//! written into that tree, and then one walk over the tree both builds
//! [`Settings`] and collects every problem. Each [`Section`] of the walk hands
//! out typed values (recording an error and falling back to the default when a
//! value is bad) and, when finished, reports the keys nobody asked for as
//! unknown. Keeping the schema in the walk itself, rather than in a separate
//! table, means a key cannot be known to one and forgotten by the other.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretString;
use serde_yaml::{Mapping, Value};

use super::{
    AggregatorSettings, BrokerSettings, FilterSettings, JobSettings, LogFormat, LogSettings,
    Settings, StoreSettings, WorkerSettings,
};

/// Prefix of the environment variables that override configuration keys.
const ENV_PREFIX: &str = "DBFLEET__";

/// Source named by errors about values that came from the environment.
const ENV_SOURCE: &str = "environment";

/// Last key parts whose environment values are kept verbatim: parsing them as
/// YAML would turn a prefix like `007` or a name like `true` into a number or a
/// boolean and then reject it as "not a string".
const STRING_KEYS: &[&str] = &[
    "url", "prefix", "name", "timezone", "path", "level", "format",
];

/// One problem with the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file path, or `"environment"` for values from `DBFLEET__…` variables.
    pub source: String,
    /// Dotted key such as `worker.concurrency`; empty for whole-file problems.
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

/// Load `path`, then apply overrides from `env` (pairs like
/// `("DBFLEET__STORE__URL", "postgres://…")`); other variables are ignored.
pub fn load(
    path: &Path,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Settings, ConfigErrors> {
    let source = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => load_from_str(&source, &text, env),
        Err(e) => Err(ConfigErrors(vec![ConfigError {
            source,
            key: String::new(),
            problem: format!("cannot read configuration file: {e}"),
        }])),
    }
}

/// Like [`load`] with the YAML text given directly; `source` names it in errors.
pub fn load_from_str(
    source: &str,
    text: &str,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Settings, ConfigErrors> {
    let whole_file = |problem: String| {
        ConfigErrors(vec![ConfigError {
            source: source.to_owned(),
            key: String::new(),
            problem,
        }])
    };
    let mut root = match parse(text) {
        Ok(Value::Null) => Mapping::new(),
        Ok(Value::Mapping(map)) => map,
        Ok(other) => {
            let found = kind(&other);
            return Err(whole_file(format!(
                "the configuration must be a mapping of sections, found {found}"
            )));
        }
        Err(problem) => return Err(whole_file(problem)),
    };
    let mut report = Report::new(source);
    apply_env(&mut root, env, &mut report);
    let settings = Section::new(String::new(), root, &mut report).finish_with(build_settings);
    if report.errors.is_empty() {
        Ok(settings)
    } else {
        Err(ConfigErrors(report.errors))
    }
}

/// Parse the YAML text, turning a syntax error into a message with its place.
fn parse(text: &str) -> Result<Value, String> {
    serde_yaml::from_str(text).map_err(|e| {
        let message = e.to_string();
        match e.location() {
            // serde_yaml repeats the place inside its message; say it once.
            Some(at) => {
                let (line, column) = (at.line(), at.column());
                let inner = message.replacen(&format!(" at line {line} column {column}"), "", 1);
                format!("invalid YAML at line {line}, column {column}: {inner}")
            }
            None => format!("invalid YAML: {message}"),
        }
    })
}

/// Write every `DBFLEET__SECTION__KEY` variable into the tree, remembering
/// which keys came from where so that errors about them name the variable.
fn apply_env(
    root: &mut Mapping,
    env: impl IntoIterator<Item = (String, String)>,
    report: &mut Report,
) {
    for (name, raw) in env {
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        let parts: Vec<String> = rest.split("__").map(str::to_lowercase).collect();
        let Some(leaf) = parts.last().filter(|_| parts.iter().all(|p| !p.is_empty())) else {
            report.push(
                ENV_SOURCE,
                &name,
                "malformed name; expected DBFLEET__SECTION__KEY",
            );
            continue;
        };
        let value = env_value(leaf, raw);
        set_path(root, &parts, value);
        report.origins.insert(parts.join("."), name);
    }
}

/// The tree value of an environment variable: numbers and booleans are parsed
/// (so `8` is an integer), everything else stays the string as written.
fn env_value(leaf: &str, raw: String) -> Value {
    if STRING_KEYS.contains(&leaf) {
        return Value::String(raw);
    }
    match serde_yaml::from_str::<Value>(&raw) {
        Ok(scalar @ (Value::Number(_) | Value::Bool(_))) => scalar,
        _ => Value::String(raw),
    }
}

/// Set `parts` (a key path) in the tree, creating or replacing intermediate
/// mappings: the environment wins over whatever the file had there.
fn set_path(map: &mut Mapping, parts: &[String], value: Value) {
    let Some((first, rest)) = parts.split_first() else {
        return;
    };
    let key = Value::String(first.clone());
    if rest.is_empty() {
        map.insert(key, value);
        return;
    }
    let child = map.entry(key).or_insert(Value::Null);
    if !child.is_mapping() {
        *child = Value::Mapping(Mapping::new());
    }
    if let Value::Mapping(child) = child {
        set_path(child, rest, value);
    }
}

/// The collected errors, and where environment overrides came from.
struct Report {
    source: String,
    /// Dotted key → name of the variable that set it.
    origins: BTreeMap<String, String>,
    errors: Vec<ConfigError>,
}

impl Report {
    fn new(source: &str) -> Self {
        Report {
            source: source.to_owned(),
            origins: BTreeMap::new(),
            errors: Vec::new(),
        }
    }

    fn push(&mut self, source: &str, key: &str, problem: &str) {
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
struct Section<'r> {
    /// Dotted path of this mapping; empty for the root.
    prefix: String,
    map: Mapping,
    /// Keys asked for, to suggest one for a misspelt key.
    known: Vec<&'static str>,
    report: &'r mut Report,
}

impl<'r> Section<'r> {
    fn new(prefix: String, map: Mapping, report: &'r mut Report) -> Self {
        Section {
            prefix,
            map,
            known: Vec::new(),
            report,
        }
    }

    fn path(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.prefix)
        }
    }

    fn error(&mut self, key: &str, problem: &str) {
        let path = self.path(key);
        self.report.error(&path, problem);
    }

    fn is_valid(&self, key: &str) -> bool {
        !self.report.has_error(&self.path(key))
    }

    /// Remove and return `key`; an explicit `null` counts as absent.
    fn take(&mut self, key: &'static str) -> Option<Value> {
        self.known.push(key);
        self.map.remove(key).filter(|v| !v.is_null())
    }

    /// Run `build` on the sub-mapping `key`, then report its unknown keys.
    fn section<T>(&mut self, key: &'static str, build: impl FnOnce(&mut Section<'_>) -> T) -> T {
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

    fn finish_with<T>(mut self, build: impl FnOnce(&mut Section<'_>) -> T) -> T {
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
    fn string(&mut self, key: &'static str) -> Option<String> {
        match self.take(key)? {
            Value::String(s) => Some(s),
            other => {
                let problem = format!("expected a string, found {}", kind(&other));
                self.error(key, &problem);
                None
            }
        }
    }

    /// A string that must be present and not empty; `""` after an error.
    fn required_string(&mut self, key: &'static str) -> String {
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
    fn string_or(&mut self, key: &'static str, default: &str) -> String {
        match self.string(key) {
            Some(s) if s.is_empty() => self.error(key, "must not be empty"),
            Some(s) => return s,
            None => {}
        }
        default.to_owned()
    }

    /// A URL that `accepts` (a scheme check). Its value is never put in an
    /// error, since it may hold a password.
    fn url(
        &mut self,
        key: &'static str,
        accepts: fn(&str) -> bool,
        expected: &str,
    ) -> SecretString {
        let url = self.required_string(key);
        if !url.is_empty() && !accepts(&url) {
            let problem = format!(
                "unsupported {} URL scheme; expected {expected}",
                self.prefix
            );
            self.error(key, &problem);
        }
        SecretString::from(url)
    }

    /// An integer within `range`, or `default` when absent or bad.
    fn int_in<T>(&mut self, key: &'static str, range: RangeInclusive<T>, default: T) -> T
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

    /// A humantime duration (`30s`, `10m`, `1h 30m`) of at least `min`.
    fn duration(&mut self, key: &'static str, default: Duration, min: Duration) -> Duration {
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

/// Build the whole [`Settings`] from the root section.
fn build_settings(root: &mut Section<'_>) -> Settings {
    Settings {
        store: root.section("store", store),
        broker: root.section("broker", broker),
        worker: root.section("worker", worker),
        job: root.section("job", job),
        aggregator: root.section("aggregator", aggregator),
        timezone: timezone(root),
        filters: root.section("filters", filters),
        log: root.section("log", log),
    }
}

fn store(s: &mut Section<'_>) -> StoreSettings {
    StoreSettings {
        url: s.url("url", store_scheme, "postgres://… or sqlite:…"),
        max_connections: s.int_in("max_connections", 1..=1000, 10),
    }
}

fn store_scheme(url: &str) -> bool {
    ["postgres://", "postgresql://", "sqlite:"]
        .iter()
        .any(|s| url.starts_with(s))
}

/// `memory://` is the in-process broker of tests; it takes no host or options.
fn broker_scheme(url: &str) -> bool {
    url == "memory://" || url.starts_with("amqp://") || url.starts_with("amqps://")
}

fn broker(s: &mut Section<'_>) -> BrokerSettings {
    let url = s.url("url", broker_scheme, "amqp://…, amqps://… or memory://");
    BrokerSettings {
        url,
        prefix: prefix(s),
        delivery_limit: s.int_in("delivery_limit", 1..=1000, 5),
    }
}

/// The broker name prefix: it becomes part of exchange and queue names, so it
/// is kept to characters that every broker and every shell accepts.
fn prefix(s: &mut Section<'_>) -> String {
    let prefix = s.string_or("prefix", "dbfleet");
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if prefix.chars().count() > 64 || !prefix.chars().all(allowed) {
        let problem = format!("`{prefix}` must be 1 to 64 characters of A-Z a-z 0-9 . _ -");
        s.error("prefix", &problem);
    }
    prefix
}

fn worker(s: &mut Section<'_>) -> WorkerSettings {
    let concurrency = s.int_in("concurrency", 1..=1024, 4);
    let name = s.string("name");
    if name.as_deref() == Some("") {
        s.error(
            "name",
            "must not be empty; remove the key to use the host name",
        );
    }
    WorkerSettings { concurrency, name }
}

/// Job time budgets. The connect and statement timeouts must fit inside the
/// deadline, else a job would always be failed by the sweeper first.
fn job(s: &mut Section<'_>) -> JobSettings {
    let second = Duration::from_secs(1);
    let millisecond = Duration::from_millis(1);
    let settings = JobSettings {
        deadline: s.duration("deadline", Duration::from_secs(600), second),
        connect_timeout: s.duration("connect_timeout", Duration::from_secs(20), millisecond),
        statement_timeout: s.duration("statement_timeout", Duration::from_secs(300), millisecond),
        lock_timeout: s.duration("lock_timeout", Duration::from_secs(10), millisecond),
    };
    let inner = [
        ("connect_timeout", settings.connect_timeout),
        ("statement_timeout", settings.statement_timeout),
    ];
    for (key, value) in inner {
        // Comparing against a defaulted stand-in would only confuse.
        let both_valid = s.is_valid(key) && s.is_valid("deadline");
        if both_valid && value >= settings.deadline {
            let problem = format!(
                "must be shorter than `job.deadline` ({} is not shorter than {})",
                humantime::format_duration(value),
                humantime::format_duration(settings.deadline)
            );
            s.error(key, &problem);
        }
    }
    settings
}

fn aggregator(s: &mut Section<'_>) -> AggregatorSettings {
    AggregatorSettings {
        prefetch: s.int_in("prefetch", 1..=2000, 100),
        // Zero would make the sweeper spin.
        sweep_interval: s.duration(
            "sweep_interval",
            Duration::from_secs(15),
            Duration::from_secs(1),
        ),
    }
}

fn timezone(root: &mut Section<'_>) -> chrono_tz::Tz {
    let name = root.string_or("timezone", "UTC");
    name.parse().unwrap_or_else(|_| {
        root.error("timezone", &format!("unknown time zone `{name}`"));
        chrono_tz::Tz::UTC
    })
}

fn filters(s: &mut Section<'_>) -> FilterSettings {
    FilterSettings {
        path: PathBuf::from(s.string_or("path", "config/database_filters.yaml")),
    }
}

fn log(s: &mut Section<'_>) -> LogSettings {
    let format = match s.string_or("format", "pretty").as_str() {
        "pretty" => LogFormat::Pretty,
        "json" => LogFormat::Json,
        other => {
            let problem = format!("expected `pretty` or `json`, found `{other}`");
            s.error("format", &problem);
            LogFormat::Pretty
        }
    };
    let level = s.string_or("level", "info");
    // Checked here so a typo shows up in `config check`, not at start-up.
    if let Err(e) = tracing_subscriber::EnvFilter::try_new(&level) {
        s.error("level", &format!("invalid log filter: {e}"));
    }
    LogSettings { format, level }
}

/// Describe what a value is, for "expected …, found …" messages; never its
/// content, which may be a secret.
fn kind(value: &Value) -> &'static str {
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
    use super::*;
    use secrecy::ExposeSecret;

    const SOURCE: &str = "dbfleet.yaml";

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// The two required URLs, for tests about other keys.
    fn urls() -> Vec<(String, String)> {
        vars(&[
            ("DBFLEET__STORE__URL", "postgres://u@db/x"),
            ("DBFLEET__BROKER__URL", "memory://"),
        ])
    }

    fn errors(text: &str, env: Vec<(String, String)>) -> Vec<ConfigError> {
        match load_from_str(SOURCE, text, env) {
            Ok(settings) => unreachable!("expected errors, got {settings:?}"),
            Err(ConfigErrors(errors)) => errors,
        }
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn full_file_gives_every_value_as_written() {
        let text = "
store: {url: 'postgresql://u:p@db:5432/fleet', max_connections: 33}
broker: {url: 'amqps://b/vh', prefix: fleet-2.test_x, delivery_limit: 9}
worker: {concurrency: 12, name: w-7}
job: {deadline: 1h, connect_timeout: 45s, statement_timeout: 30m, lock_timeout: 2s}
aggregator: {prefetch: 250, sweep_interval: 1m 30s}
timezone: Asia/Shanghai
filters: {path: /etc/dbfleet/filters.yaml}
log: {format: json, level: 'dbfleet=debug,info'}
";
        let s = load_from_str(SOURCE, text, vec![]).unwrap();
        assert_eq!(
            s.store.url.expose_secret(),
            "postgresql://u:p@db:5432/fleet"
        );
        assert_eq!(s.store.max_connections, 33);
        assert_eq!(s.broker.url.expose_secret(), "amqps://b/vh");
        assert_eq!(s.broker.prefix, "fleet-2.test_x");
        assert_eq!(s.broker.delivery_limit, 9);
        assert_eq!(s.worker.concurrency, 12);
        assert_eq!(s.worker.name.as_deref(), Some("w-7"));
        assert_eq!(s.job.deadline, secs(3600));
        assert_eq!(s.job.connect_timeout, secs(45));
        assert_eq!(s.job.statement_timeout, secs(1800));
        assert_eq!(s.job.lock_timeout, secs(2));
        assert_eq!(s.aggregator.prefetch, 250);
        assert_eq!(s.aggregator.sweep_interval, secs(90));
        assert_eq!(s.timezone, chrono_tz::Asia::Shanghai);
        assert_eq!(s.filters.path, PathBuf::from("/etc/dbfleet/filters.yaml"));
        assert_eq!(s.log.format, LogFormat::Json);
        assert_eq!(s.log.level, "dbfleet=debug,info");
    }

    #[test]
    fn empty_file_gives_defaults() {
        for text in ["", "# nothing but a comment\n", "worker:\njob: ~\n"] {
            let s = load_from_str(SOURCE, text, urls()).unwrap();
            assert_eq!(s.store.url.expose_secret(), "postgres://u@db/x");
            assert_eq!(s.store.max_connections, 10);
            assert_eq!(s.broker.url.expose_secret(), "memory://");
            assert_eq!(s.broker.prefix, "dbfleet");
            assert_eq!(s.broker.delivery_limit, 5);
            assert_eq!(s.worker.concurrency, 4);
            assert_eq!(s.worker.name, None);
            assert_eq!(s.job.deadline, secs(600));
            assert_eq!(s.job.connect_timeout, secs(20));
            assert_eq!(s.job.statement_timeout, secs(300));
            assert_eq!(s.job.lock_timeout, secs(10));
            assert_eq!(s.aggregator.prefetch, 100);
            assert_eq!(s.aggregator.sweep_interval, secs(15));
            assert_eq!(s.timezone, chrono_tz::UTC);
            assert_eq!(
                s.filters.path,
                PathBuf::from("config/database_filters.yaml")
            );
            assert_eq!(s.log.format, LogFormat::Pretty);
            assert_eq!(s.log.level, "info");
        }
    }

    #[test]
    fn empty_file_without_env_misses_both_urls() {
        let found: Vec<(String, String, String)> = errors("", vec![])
            .into_iter()
            .map(|e| (e.source, e.key, e.problem))
            .collect();
        let missing = |key: &str| (SOURCE.into(), key.into(), "required key is missing".into());
        assert_eq!(found, vec![missing("store.url"), missing("broker.url")]);
    }

    #[test]
    fn env_overrides_win_over_the_file() {
        let text = "
store: {url: 'postgres://file/x'}
broker: {url: 'amqp://file', prefix: fromfile}
worker: {concurrency: 2}
";
        let env = vars(&[
            ("DBFLEET__WORKER__CONCURRENCY", "8"),
            ("DBFLEET__TIMEZONE", "Asia/Shanghai"),
            ("DBFLEET__STORE__URL", "sqlite::memory:"),
            // A string key stays verbatim even when it looks like a number.
            ("DBFLEET__BROKER__PREFIX", "007"),
            ("DBFLEET__WORKER__NAME", "true"),
            ("DBFLEET__JOB__DEADLINE", "1h"),
            ("DBFLEET__LOG__FORMAT", "json"),
            ("PATH", "/usr/bin"),
            ("DBFLEETX__WORKER__CONCURRENCY", "1"),
        ]);
        let s = load_from_str(SOURCE, text, env).unwrap();
        assert_eq!(s.worker.concurrency, 8);
        assert_eq!(s.timezone, chrono_tz::Asia::Shanghai);
        assert_eq!(s.store.url.expose_secret(), "sqlite::memory:");
        assert_eq!(s.broker.url.expose_secret(), "amqp://file");
        assert_eq!(s.broker.prefix, "007");
        assert_eq!(s.worker.name.as_deref(), Some("true"));
        assert_eq!(s.job.deadline, secs(3600));
        assert_eq!(s.log.format, LogFormat::Json);
    }

    #[test]
    fn env_override_replaces_a_scalar_section() {
        let mut env = urls();
        env.extend(vars(&[("DBFLEET__WORKER__CONCURRENCY", "3")]));
        let s = load_from_str(SOURCE, "worker: 5\n", env).unwrap();
        assert_eq!(s.worker.concurrency, 3);
    }

    #[test]
    fn env_problems_name_the_variable() {
        let mut env = urls();
        env.extend(vars(&[
            ("DBFLEET__WORKER__CONCURENCY", "8"),
            ("DBFLEET__BOGUS", "1"),
            ("DBFLEET__AGGREGATOR__PREFETCH", "lots"),
            ("DBFLEET__LOG__LEVEL", ""),
            ("DBFLEET__JOB____DEADLINE", "1m"),
        ]));
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
    fn every_problem_is_reported_at_once() {
        let text = "
store:
  url: postgres://db/x
  max_conections: 5
worker:
  concurrency: lots
job:
  deadline: 5
timezone: Mars/Olympus
colour: blue
broker:
  prefix: ok
";
        let mut found: Vec<(String, String)> = errors(text, vec![])
            .into_iter()
            .inspect(|e| assert_eq!(e.source, SOURCE, "{e}"))
            .map(|e| (e.key, e.problem))
            .collect();
        found.sort();
        let expected = [
            ("broker.url", "required key is missing"),
            ("colour", "unknown key"),
            ("job.deadline", "expected a duration such as `30s` or `10m`"),
            (
                "store.max_conections",
                "unknown key; did you mean `max_connections`?",
            ),
            ("timezone", "unknown time zone `Mars/Olympus`"),
            (
                "worker.concurrency",
                "expected a positive integer, found a string",
            ),
        ];
        assert_eq!(found.len(), expected.len(), "{found:#?}");
        for ((key, problem), (want_key, want_problem)) in found.iter().zip(expected) {
            assert_eq!(key, want_key);
            assert!(problem.contains(want_problem), "{key}: {problem}");
        }
    }

    /// One bad value per row, with valid URLs from the environment: the row's
    /// key must be the only one reported, with the expected problem.
    #[test]
    fn each_bad_value_is_reported_on_its_key() {
        let cases = [
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
            let found = errors(text, urls());
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
    fn a_deadline_error_hides_the_comparison_against_its_default() {
        // The defaulted deadline (10m) is not what the user wrote, so a 15m
        // statement timeout must not be reported against it.
        let found = errors("job: {deadline: soon, statement_timeout: 15m}", urls());
        let keys: Vec<&str> = found.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["job.deadline"]);
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
            let mut env = urls();
            env.push((
                format!("DBFLEET__{}__URL", section.to_uppercase()),
                url.into(),
            ));
            let result = load_from_str(SOURCE, "", env);
            assert_eq!(
                result.is_ok(),
                accepted,
                "{section}.url = {url}: {result:?}"
            );
            if let Err(ConfigErrors(found)) = result {
                let want = format!("unsupported {section} URL scheme; expected");
                assert!(found[0].problem.starts_with(&want), "{}", found[0]);
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
    fn whole_file_problems_are_single_errors() {
        let cases = [
            (
                "store:\n  url: x\n  bad: [1,\n",
                "invalid YAML at line 4, column 1: ",
            ),
            (
                "store:\n  url: a\n    b: c\n",
                "invalid YAML at line 3, column 6: ",
            ),
            ("a: 1\n---\nb: 2\n", "invalid YAML: "),
            (
                "- a\n- b\n",
                "the configuration must be a mapping of sections, found a list",
            ),
            (
                "just text",
                "the configuration must be a mapping of sections, found a string",
            ),
        ];
        for (text, problem) in cases {
            let found = errors(text, urls());
            assert_eq!(found.len(), 1, "{text}: {found:#?}");
            assert_eq!(
                (found[0].source.as_str(), found[0].key.as_str()),
                (SOURCE, "")
            );
            assert!(
                found[0].problem.starts_with(problem),
                "{text}: {}",
                found[0]
            );
        }
    }

    #[test]
    fn missing_file_is_one_error() {
        let path = Path::new("/nonexistent/dbfleet.yaml");
        let ConfigErrors(found) = load(path, urls()).unwrap_err();
        assert_eq!(found.len(), 1);
        let text = found[0].to_string();
        assert!(
            text.starts_with("/nonexistent/dbfleet.yaml: cannot read configuration file: "),
            "{text}"
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

    #[test]
    fn default_config_file_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(crate::config::DEFAULT_PATH);
        let s = load(&path, vec![]).unwrap();
        assert_eq!(
            s.store.url.expose_secret(),
            "postgres://postgres@127.0.0.1:5432/dbfleet"
        );
        assert_eq!(
            s.broker.url.expose_secret(),
            "amqp://guest:guest@127.0.0.1:5672/%2f"
        );
        assert_eq!(s.broker.prefix, "dbfleet");
        assert_eq!(s.worker.concurrency, 4);
        assert_eq!(s.job.deadline, secs(600));
        assert_eq!(s.timezone, chrono_tz::UTC);
    }
}
