//! Reading, overriding and validating the configuration file.
//!
//! The file is parsed into a plain YAML value tree, environment overrides are
//! written into that tree, and then one walk over the tree both builds
//! [`Settings`] and collects every problem. Each [`Section`] of the walk hands
//! out typed values (recording an error and falling back to the default when a
//! value is bad) and, when finished, reports the keys nobody asked for as
//! unknown. Keeping the schema in the walk itself, rather than in a separate
//! table, means a key cannot be known to one and forgotten by the other.
//!
//! This file holds the entry points and the environment layering. The walk
//! is `settings.rs` (one function per section) and `instances.rs`; the
//! getters are `value.rs`, on the [`Section`] of `section.rs`.

use std::path::Path;

use serde_yaml::{Mapping, Value};

use super::report::{ConfigError, ConfigErrors, Report, ENV_SOURCE};
use super::section::{kind, Section};
use super::settings::build_settings;
use super::Settings;

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
const FILE_ONLY_KEYS: &[&str] = &["instances", "credentials", "schedules"];

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
            // Both programs take the file as `--config` or `$DBFLEET_CONFIG`.
            problem: format!(
                "cannot read configuration file: {e} (name the file with --config or DBFLEET_CONFIG)"
            ),
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
pub(super) fn parse(text: &str) -> Result<Value, String> {
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::config::test_support::{errors, exposed, secs, vars, SOURCE};
    use crate::config::{DeclaredInstance, LogFormat};
    use crate::domain::{DbType, InstanceName};
    use crate::secret::PasswordRef;
    use std::path::PathBuf;

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
            labels: crate::labels::Labels::default(),
            credential: None,
            tls: crate::tls::TlsSettings::default(),
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
