//! Reading, overriding and validating the configuration file.
//!
//! The file is parsed into a plain YAML value tree, environment overrides are
//! written into that tree, and then one walk over the tree both builds
//! [`Settings`] and collects every problem. Each [`Section`] of the walk hands
//! out typed values (recording an error and falling back to the default when a
//! value is bad) and, when finished, reports the keys nobody asked for as
//! unknown. Keeping the schema in the walk itself, rather than in a separate
//! table, means a key cannot be known to one and forgotten by the other.

use std::collections::hash_map::{Entry, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_yaml::{Mapping, Value};

use super::section::{kind, ConfigError, ConfigErrors, Report, Section, ENV_SOURCE};
use super::{
    AggregatorSettings, BrokerSettings, DeclaredInstance, FilterSettings, JobSettings, LogFormat,
    LogSettings, Settings, StoreSettings, WorkerSettings,
};
use crate::domain::{DbType, InstanceName};
use crate::secret::PasswordRef;

/// Prefix of the environment variables that override configuration keys.
const ENV_PREFIX: &str = "DBFLEET__";

/// Last key parts whose environment values are kept verbatim: parsing them as
/// YAML would turn a prefix like `007` or a name like `true` into a number or a
/// boolean and then reject it as "not a string".
const STRING_KEYS: &[&str] = &[
    "url", "prefix", "name", "timezone", "path", "level", "format", "data_dir",
];

/// Top-level keys that only the file may set: a list does not map onto
/// `DBFLEET__SECTION__KEY` variables.
const FILE_ONLY_KEYS: &[&str] = &["instances"];

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
        if FILE_ONLY_KEYS.contains(&parts[0].as_str()) {
            report.push(
                ENV_SOURCE,
                &name,
                "cannot be set from the environment; declare instances in the file",
            );
            continue;
        }
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
        data_dir: PathBuf::from(root.string_or("data_dir", "data")),
        instances: instances(root),
    }
}

/// The URL is optional: without it the store is SQLite under `data_dir`.
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

/// `memory://` is the in-process broker; it takes no host or options.
fn broker_scheme(url: &str) -> bool {
    url == "memory://" || url.starts_with("amqp://") || url.starts_with("amqps://")
}

/// The URL is optional: without it the queue is in-process.
fn broker(s: &mut Section<'_>) -> BrokerSettings {
    let url = s.url("url", broker_scheme, "amqp://…, amqps://… or memory://");
    BrokerSettings {
        url,
        prefix: prefix(s),
        delivery_limit: s.int_in("delivery_limit", 1..=1000, 5),
        retry_delays: s.durations(
            "retry_delays",
            &DEFAULT_RETRY_DELAYS,
            Duration::from_secs(1),
        ),
    }
}

/// Delays between retries of a job that hit a transient failure.
const DEFAULT_RETRY_DELAYS: [Duration; 3] = [
    Duration::from_secs(5),
    Duration::from_secs(30),
    Duration::from_secs(120),
];
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
    let drain_timeout = s.duration(
        "drain_timeout",
        Duration::from_secs(30),
        Duration::from_millis(1),
    );
    WorkerSettings {
        concurrency,
        name,
        drain_timeout,
    }
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

/// The declared instances. Each item is checked on its own, and its name
/// against the items before it; problems after a valid name mention it.
fn instances(root: &mut Section<'_>) -> Vec<DeclaredInstance> {
    let mut seen = HashMap::new();
    root.list("instances", "instance", |s, index| {
        instance(s, index, &mut seen)
    })
    .into_iter()
    .flatten()
    .collect()
}

/// One declared instance; `None` (after recording why) when its name or
/// engine is unusable. Every key is read before giving up, so all of an
/// item's problems are reported together.
fn instance(
    s: &mut Section<'_>,
    index: usize,
    seen: &mut HashMap<InstanceName, usize>,
) -> Option<DeclaredInstance> {
    let name = instance_name(s);
    if let Some(name) = &name {
        s.set_context(format!("instance `{name}`"));
        match seen.entry(name.clone()) {
            Entry::Occupied(first) => {
                let problem = format!(
                    "duplicate name; already declared by instances[{}]",
                    first.get()
                );
                s.error("name", &problem);
            }
            Entry::Vacant(slot) => {
                slot.insert(index);
            }
        }
    }
    let db_type = engine(s);
    let host = s.required_string("host");
    let port = s.optional_int_in("port", 1..=u16::MAX);
    let username = s.required_string("username");
    let password = password(s);
    let database = s.non_empty_string("database");
    let active = s.bool_or("active", true);
    let db_type = db_type?;
    Some(DeclaredInstance {
        name: name?,
        db_type,
        host,
        port: port.unwrap_or_else(|| db_type.default_port()),
        username,
        password,
        database,
        active,
    })
}

fn instance_name(s: &mut Section<'_>) -> Option<InstanceName> {
    let raw = s.required_string("name");
    if raw.is_empty() {
        return None;
    }
    InstanceName::parse(&raw)
        .map_err(|e| s.error("name", &e.to_string()))
        .ok()
}

fn engine(s: &mut Section<'_>) -> Option<DbType> {
    let raw = s.required_string("engine");
    if raw.is_empty() {
        return None;
    }
    let parsed = raw.parse().ok();
    if parsed.is_none() {
        let problem =
            format!("unknown engine `{raw}`; expected mysql, mariadb, postgresql, postgres or pg");
        s.error("engine", &problem);
    }
    parsed
}

/// Where the password comes from: a variable or a file, never the file
/// itself. A plaintext `password` is refused without repeating its value.
fn password(s: &mut Section<'_>) -> PasswordRef {
    if s.remove("password").is_some() {
        s.error(
            "password",
            "plaintext passwords are not accepted; use `password_env` or `password_file` \
             (neither means an empty password)",
        );
    }
    let env = s.non_empty_string("password_env");
    let file = s.non_empty_string("password_file");
    match (env, file) {
        (Some(_), Some(_)) => {
            s.error(
                "password_file",
                "give either `password_env` or `password_file`, not both",
            );
            PasswordRef::None
        }
        (Some(var), None) => PasswordRef::env(&var).unwrap_or_else(|e| {
            s.error("password_env", &e.to_string());
            PasswordRef::None
        }),
        (None, Some(path)) => PasswordRef::File(PathBuf::from(path)),
        (None, None) => PasswordRef::None,
    }
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

    fn exposed(url: &Option<secrecy::SecretString>) -> Option<&str> {
        url.as_ref().map(|u| u.expose_secret())
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
data_dir: /var/lib/dbfleet
";
        let s = load_from_str(SOURCE, text, vec![]).unwrap();
        assert_eq!(
            exposed(&s.store.url),
            Some("postgresql://u:p@db:5432/fleet")
        );
        assert_eq!(s.store.max_connections, 33);
        assert_eq!(exposed(&s.broker.url), Some("amqps://b/vh"));
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
        assert_eq!(s.data_dir, PathBuf::from("/var/lib/dbfleet"));
    }

    #[test]
    fn empty_file_gives_defaults() {
        let texts = [
            "",
            "# nothing but a comment\n",
            "worker:\njob: ~\ninstances: ~\n",
            "store: {url: ~}\nbroker: {url: ~}\ninstances: []\ndata_dir: ~\n",
        ];
        for text in texts {
            let s = load_from_str(SOURCE, text, vec![]).unwrap();
            // No URL means the embedded store and the in-process queue.
            assert!(s.store.url.is_none(), "{text}");
            assert_eq!(s.store.max_connections, 10);
            assert!(s.broker.url.is_none(), "{text}");
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
            assert_eq!(s.data_dir, PathBuf::from("data"));
            assert!(s.instances.is_empty());
        }
    }

    #[test]
    fn env_overrides_win_over_the_file() {
        let text = "
store: {url: 'postgres://file/x'}
broker: {url: 'amqp://file', prefix: fromfile}
worker: {concurrency: 2}
data_dir: /from/file
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
            // Kept verbatim too, not turned into the number 2024.
            ("DBFLEET__DATA_DIR", "2024"),
            ("PATH", "/usr/bin"),
            ("DBFLEETX__WORKER__CONCURRENCY", "1"),
        ]);
        let s = load_from_str(SOURCE, text, env).unwrap();
        assert_eq!(s.worker.concurrency, 8);
        assert_eq!(s.timezone, chrono_tz::Asia::Shanghai);
        assert_eq!(exposed(&s.store.url), Some("sqlite::memory:"));
        assert_eq!(exposed(&s.broker.url), Some("amqp://file"));
        assert_eq!(s.broker.prefix, "007");
        assert_eq!(s.worker.name.as_deref(), Some("true"));
        assert_eq!(s.job.deadline, secs(3600));
        assert_eq!(s.log.format, LogFormat::Json);
        assert_eq!(s.data_dir, PathBuf::from("2024"));
    }

    #[test]
    fn env_override_replaces_a_scalar_section() {
        let env = vars(&[("DBFLEET__WORKER__CONCURRENCY", "3")]);
        let s = load_from_str(SOURCE, "worker: 5\n", env).unwrap();
        assert_eq!(s.worker.concurrency, 3);
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
instances:
  - {name: db-1, engine: pg, host: h, username: u, prot: 1}
";
        let mut found: Vec<(String, String)> = errors(text, vec![])
            .into_iter()
            .inspect(|e| assert_eq!(e.source, SOURCE, "{e}"))
            .map(|e| (e.key, e.problem))
            .collect();
        found.sort();
        let expected = [
            ("colour", "unknown key"),
            (
                "instances[0].prot",
                "instance `db-1`: unknown key; did you mean `port`?",
            ),
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

    #[test]
    fn a_deadline_error_hides_the_comparison_against_its_default() {
        // The defaulted deadline (10m) is not what the user wrote, so a 15m
        // statement timeout must not be reported against it.
        let found = errors("job: {deadline: soon, statement_timeout: 15m}", vec![]);
        let keys: Vec<&str> = found.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["job.deadline"]);
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
            let found = errors(text, vec![]);
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
        let ConfigErrors(found) = load(path, vec![]).unwrap_err();
        assert_eq!(found.len(), 1);
        let text = found[0].to_string();
        assert!(
            text.starts_with("/nonexistent/dbfleet.yaml: cannot read configuration file: "),
            "{text}"
        );
    }

    #[test]
    fn instances_parse_with_defaults() {
        let text = "
instances:
  - {name: my-1, engine: mariadb, host: db1, username: root}
  - name: pg.2
    engine: pg
    host: db2.example.com
    port: 6432
    username: postgres
    password_env: PG_PASSWORD
    database: app
    active: false
  - {name: my_3, engine: MySQL, host: 10.0.0.3, username: u, password_file: /run/secrets/my}
  - {name: PG-4, engine: postgres, host: h, username: u, password_env: ~, active: true}
";
        let s = load_from_str(SOURCE, text, vec![]).unwrap();
        let instance =
            |name: &str, db_type, host: &str, port, username: &str, password| DeclaredInstance {
                name: InstanceName::parse(name).unwrap(),
                db_type,
                host: host.to_owned(),
                port,
                username: username.to_owned(),
                password,
                database: None,
                active: true,
            };
        let expected = [
            instance(
                "my-1",
                DbType::Mysql,
                "db1",
                3306,
                "root",
                PasswordRef::None,
            ),
            DeclaredInstance {
                database: Some("app".to_owned()),
                active: false,
                ..instance(
                    "pg.2",
                    DbType::Postgresql,
                    "db2.example.com",
                    6432,
                    "postgres",
                    PasswordRef::Env("PG_PASSWORD".to_owned()),
                )
            },
            instance(
                "my_3",
                DbType::Mysql,
                "10.0.0.3",
                3306,
                "u",
                PasswordRef::File(PathBuf::from("/run/secrets/my")),
            ),
            instance(
                "PG-4",
                DbType::Postgresql,
                "h",
                5432,
                "u",
                PasswordRef::None,
            ),
        ];
        assert_eq!(s.instances, expected);
    }

    /// One list with a problem (or several) in almost every item: all of them
    /// come out in file order, keyed `instances[i].field`, naming the
    /// instance once its name is valid.
    #[test]
    fn every_instance_problem_is_reported_at_once() {
        let text = "
instances:
  - {engine: mysql, host: h, username: u}
  - {name: db-1, host: h, username: u}
  - {name: db-2, engine: mysql, username: u}
  - {name: db-3, engine: oracle, host: h, port: '3306', username: u}
  - {name: db-4, engine: pg, host: '', port: 70000}
  - {name: db-5, engine: pg, host: h, username: u, hostname: x, usernme: y}
  - {name: db-6, engine: pg, host: h, username: u, password_env: A, password_file: /f}
  - {name: db-7, engine: pg, host: h, username: u, password: hunter2}
  - {name: db-1, engine: pg, host: h, username: u}
  - {name: 'db 9', engine: pg, host: h, username: u, port: 0}
  - db-10
  - {name: db-11, engine: pg, host: h, username: u, password_env: 1X, database: '', active: yes}
  - {name: db-12, engine: pg, host: h, username: u, port: -1, pasword_env: P}
";
        let found = errors(text, vec![]);
        for error in &found {
            assert_eq!(error.source, SOURCE, "{error}");
        }
        let found: Vec<(&str, &str)> = found
            .iter()
            .map(|e| (e.key.as_str(), e.problem.as_str()))
            .collect();
        let expected = [
            ("instances[0].name", "required key is missing"),
            (
                "instances[1].engine",
                "instance `db-1`: required key is missing",
            ),
            (
                "instances[2].host",
                "instance `db-2`: required key is missing",
            ),
            (
                "instances[3].engine",
                "instance `db-3`: unknown engine `oracle`; \
                 expected mysql, mariadb, postgresql, postgres or pg",
            ),
            (
                "instances[3].port",
                "instance `db-3`: expected an integer from 1 to 65535, found a string",
            ),
            ("instances[4].host", "instance `db-4`: must not be empty"),
            (
                "instances[4].port",
                "instance `db-4`: expected an integer from 1 to 65535, found 70000",
            ),
            (
                "instances[4].username",
                "instance `db-4`: required key is missing",
            ),
            ("instances[5].hostname", "instance `db-5`: unknown key"),
            (
                "instances[5].usernme",
                "instance `db-5`: unknown key; did you mean `username`?",
            ),
            (
                "instances[6].password_file",
                "instance `db-6`: give either `password_env` or `password_file`, not both",
            ),
            (
                "instances[7].password",
                "instance `db-7`: plaintext passwords are not accepted; \
                 use `password_env` or `password_file` (neither means an empty password)",
            ),
            (
                "instances[8].name",
                "instance `db-1`: duplicate name; already declared by instances[1]",
            ),
            (
                "instances[9].name",
                "invalid instance name `db 9`: \
                 use 1 to 128 characters among letters, digits, `-`, `_` and `.`",
            ),
            (
                "instances[9].port",
                "expected an integer from 1 to 65535, found 0",
            ),
            (
                "instances[10]",
                "expected a mapping of instance settings, found a string",
            ),
            (
                "instances[11].password_env",
                "instance `db-11`: invalid password reference: \
                 `1X` is not an environment variable name",
            ),
            (
                "instances[11].database",
                "instance `db-11`: must not be empty",
            ),
            (
                "instances[11].active",
                "instance `db-11`: expected `true` or `false`, found a string",
            ),
            (
                "instances[12].port",
                "instance `db-12`: expected an integer from 1 to 65535, found -1",
            ),
            (
                "instances[12].pasword_env",
                "instance `db-12`: unknown key; did you mean `password_env`?",
            ),
        ];
        assert_eq!(found, expected);
    }

    #[test]
    fn instance_errors_read_as_file_key_instance_problem() {
        let text = "instances:\n  - {name: db-3, engine: pg, host: h, username: u, port: x}\n";
        let shown = ConfigErrors(errors(text, vec![])).to_string();
        assert_eq!(
            shown,
            "dbfleet.yaml: instances[0].port: instance `db-3`: \
             expected an integer from 1 to 65535, found a string"
        );
    }

    /// Whatever its type, a plaintext password is refused by key alone.
    #[test]
    fn plaintext_passwords_never_appear_in_errors() {
        for value in ["hunter2", "'hunter2'", "[hunter2]", "{v: hunter2}", "~"] {
            let text = format!(
                "instances:\n  - {{name: db, engine: pg, host: h, username: u, password: {value}}}\n"
            );
            let found = errors(&text, vec![]);
            let keys: Vec<&str> = found.iter().map(|e| e.key.as_str()).collect();
            assert_eq!(keys, ["instances[0].password"], "{value}");
            assert!(
                found[0]
                    .problem
                    .contains("plaintext passwords are not accepted"),
                "{}",
                found[0]
            );
            let shown = format!("{} {found:?}", ConfigErrors(found.clone()));
            assert!(!shown.contains("hunter2"), "{shown}");
        }
    }

    #[test]
    fn instances_must_be_a_list() {
        let cases = [
            ("instances: {name: db-1}", "a mapping"),
            ("instances: db-1", "a string"),
            ("instances: 3", "a number"),
        ];
        for (text, found_kind) in cases {
            let found = errors(text, vec![]);
            assert_eq!(found.len(), 1, "{text}: {found:#?}");
            assert_eq!(found[0].key, "instances");
            assert_eq!(
                found[0].problem,
                format!("expected a list of instances, found {found_kind}")
            );
        }
    }

    #[test]
    fn instances_cannot_come_from_the_environment() {
        let text = "instances:\n  - {name: db-1, engine: pg, host: h, username: u}\n";
        let names = [
            "DBFLEET__INSTANCES",
            "DBFLEET__INSTANCES__0__HOST",
            "DBFLEET__instances__NAME",
        ];
        for name in names {
            let found = errors(text, vars(&[(name, "x")]));
            let expected = ConfigError {
                source: ENV_SOURCE.to_owned(),
                key: name.to_owned(),
                problem: "cannot be set from the environment; declare instances in the file"
                    .to_owned(),
            };
            assert_eq!(found, [expected], "{name}");
        }
    }

    #[test]
    fn shipped_config_files_load() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let load_file = |name: &str| {
            load(&dir.join(name), vec![]).unwrap_or_else(|e| unreachable!("{name}:\n{e}"))
        };

        let s = load_file(crate::config::DEFAULT_PATH);
        assert_eq!(
            exposed(&s.store.url),
            Some("postgres://postgres@127.0.0.1:5432/dbfleet")
        );
        assert_eq!(
            exposed(&s.broker.url),
            Some("amqp://guest:guest@127.0.0.1:5672/%2f")
        );
        assert_eq!(s.broker.prefix, "dbfleet");
        assert_eq!(s.worker.concurrency, 4);
        assert_eq!(s.job.deadline, secs(600));
        assert_eq!(s.timezone, chrono_tz::UTC);
        assert_eq!(s.data_dir, PathBuf::from("data"));
        assert!(s.instances.is_empty());

        let s = load_file("config/quickstart.yaml");
        assert!(s.store.url.is_none() && s.broker.url.is_none());
        assert_eq!(s.data_dir, PathBuf::from("data"));
        assert_eq!(s.worker.concurrency, 4);
        assert_eq!(s.log.level, "warn");
        assert_eq!(
            s.filters.path,
            PathBuf::from("config/database_filters.yaml")
        );
        let local = |name: &str, db_type: DbType, port, username: &str| DeclaredInstance {
            name: InstanceName::parse(name).unwrap(),
            db_type,
            host: "127.0.0.1".to_owned(),
            port,
            username: username.to_owned(),
            password: PasswordRef::None,
            database: None,
            active: true,
        };
        assert_eq!(
            s.instances,
            [
                local("local-mariadb", DbType::Mysql, 3306, "root"),
                local("local-postgres", DbType::Postgresql, 5432, "postgres"),
            ]
        );
    }
}
