//! The declared instances: the file's `instances` list, each item checked on
//! its own and its name against the items before it.
//!
//! An item whose name or engine is unusable is dropped, but only after every
//! one of its keys has been read, so all of its problems are reported
//! together. A password is a reference (a variable or a file), never the
//! password itself.

use std::collections::hash_map::{Entry, HashMap};
use std::path::PathBuf;

use serde_yaml::Value;

use super::section::{kind, Section};
use super::tls::instance_tls;
use super::{DeclaredCredential, DeclaredInstance};
use crate::domain::{CredentialName, DbType, InstanceName};
use crate::labels::Labels;
use crate::secret::PasswordRef;
use crate::tls::TlsMode;

/// The declared instances. Each item is checked on its own, and its name
/// against the items before it; problems after a valid name mention it.
pub(super) fn instances(root: &mut Section<'_>, tls_mode: TlsMode) -> Vec<DeclaredInstance> {
    let mut seen = HashMap::new();
    root.list("instances", "instance", |s, index| {
        instance(s, index, &mut seen, tls_mode)
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
    tls_mode: TlsMode,
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
    let (username, password, credential) = login(s);
    let database = s.non_empty_string("database");
    let active = s.bool_or("active", true);
    let labels = labels(s);
    let tls = instance_tls(s, db_type, tls_mode);
    let db_type = db_type?;
    Some(DeclaredInstance {
        name: name?,
        db_type,
        host,
        port: port.unwrap_or_else(|| db_type.default_port()),
        username,
        password,
        credential,
        database,
        active,
        labels,
        tls,
    })
}

/// The declared named credentials, each checked on its own and its name
/// against the ones before it.
pub(super) fn credentials(root: &mut Section<'_>) -> Vec<DeclaredCredential> {
    let mut seen = HashMap::new();
    root.list("credentials", "credential", |s, index| {
        let name = s.required_string("name");
        let name = (!name.is_empty())
            .then(|| CredentialName::parse(&name).map_err(|e| s.error("name", &e.to_string())))
            .and_then(Result::ok);
        if let Some(name) = &name {
            s.set_context(format!("credential `{name}`"));
            if let Some(first) = seen.insert(name.clone(), index) {
                let problem = format!("duplicate name; already declared by credentials[{first}]");
                s.error("name", &problem);
            }
        }
        let username = s.required_string("username");
        let password = password(s);
        Some(DeclaredCredential {
            name: name?,
            username,
            password,
        })
    })
    .into_iter()
    .flatten()
    .collect()
}

/// Who the instance logs in as: a named `credential`, or a `username` and
/// a password reference of its own, never both.
fn login(s: &mut Section<'_>) -> (String, PasswordRef, Option<CredentialName>) {
    let credential = s.non_empty_string("credential").and_then(|raw| {
        CredentialName::parse(&raw)
            .map_err(|e| s.error("credential", &e.to_string()))
            .ok()
    });
    // Given, even if invalid: its error is reported, not `username`'s absence.
    let named = credential.is_some() || !s.is_valid("credential");
    if !named {
        return (s.required_string("username"), password(s), None);
    }
    let username = s.string("username");
    let own_password = password(s) != PasswordRef::None;
    if username.is_some() || own_password {
        let problem = "give either `credential` or `username` with `password_env` or \
                       `password_file`, not both";
        s.error("credential", problem);
    }
    (String::new(), PasswordRef::None, credential)
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

/// `labels:`, a mapping of keys to values. A number or boolean value is
/// its text (YAML reads `tier: 1` as a number); anything else is refused.
fn labels(s: &mut Section<'_>) -> Labels {
    let map = match s.take("labels") {
        None => return Labels::default(),
        Some(Value::Mapping(map)) => map,
        Some(other) => {
            let problem = format!(
                "expected a mapping of label keys to values, found {}",
                kind(&other)
            );
            s.error("labels", &problem);
            return Labels::default();
        }
    };
    let mut pairs = Vec::new();
    for (key, value) in map {
        let text = |v: &Value| match v {
            Value::String(t) => Some(t.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Null => Some(String::new()),
            _ => None,
        };
        match (text(&key), text(&value)) {
            (Some(key), Some(value)) => pairs.push((key, value)),
            (Some(key), None) => {
                let problem = format!(
                    "label `{key}`: expected a text value, found {}",
                    kind(&value)
                );
                s.error("labels", &problem);
            }
            (None, _) => s.error(
                "labels",
                &format!("expected text keys, found {}", kind(&key)),
            ),
        }
    }
    Labels::new(pairs).unwrap_or_else(|problems| {
        for problem in problems {
            s.error("labels", &problem);
        }
        Labels::default()
    })
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
    use crate::config::test_support::{errors, SOURCE};
    use crate::config::{load_from_str, ConfigErrors};

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
                credential: None,
                database: None,
                active: true,
                labels: Labels::default(),
                tls: crate::tls::TlsSettings::default(),
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
                 use 1 to 128 characters among letters and digits (of any script), `-`, `_` \
                 and `.`; no spaces or other punctuation",
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
    fn labels_are_text_and_every_bad_one_is_named() {
        let text = "instances:
  - {name: a, engine: pg, host: h, username: u, labels: {env: prod, tier: 1, canary: true}}
  - {name: b, engine: pg, host: h, username: u, labels: {Env_: x, ok: [1], -k: v}}
  - {name: c, engine: pg, host: h, username: u, labels: env=prod}
";
        let found = errors(text, vec![]);
        let found: Vec<String> = found
            .iter()
            .map(|e| format!("{}: {}", e.key, e.problem))
            .collect();
        assert_eq!(
            found,
            [
                "instances[1].labels: instance `b`: label `ok`: expected a text value, found a list",
                "instances[1].labels: instance `b`: label key `Env_`: \
                 must start and end with a letter or digit",
                "instances[1].labels: instance `b`: label key `-k`: \
                 must start and end with a letter or digit",
                "instances[2].labels: instance `c`: \
                 expected a mapping of label keys to values, found a string",
            ]
        );
        let good = "instances:\n  - {name: a, engine: pg, host: h, username: u, \
                    labels: {env: prod, tier: 1, canary: true}}\n";
        let s = load_from_str(SOURCE, good, vec![]).unwrap();
        assert_eq!(
            s.instances[0].labels.to_string(),
            "canary=true,env=prod,tier=1"
        );
    }

    #[test]
    fn an_instance_logs_in_with_a_named_credential_or_its_own_never_both() {
        let text = "credentials:
  - {name: monitor, username: dbfleet, password_file: /run/secrets/monitor}
  - {name: monitor, username: x}
  - {name: 'bad name', username: x, password: hunter2}
instances:
  - {name: a, engine: pg, host: h, credential: monitor}
  - {name: b, engine: pg, host: h, credential: monitor, username: u}
  - {name: c, engine: pg, host: h, credential: monitor, password_env: PW}
  - {name: d, engine: pg, host: h, credential: 'no good'}
  - {name: e, engine: pg, host: h}
";
        let found = errors(text, vec![]);
        let found: Vec<String> = found
            .iter()
            .map(|e| format!("{}: {}", e.key, e.problem))
            .collect();
        let either = "give either `credential` or `username` with `password_env` or \
                      `password_file`, not both";
        assert_eq!(
            found,
            [
                "credentials[1].name: credential `monitor`: duplicate name; \
                 already declared by credentials[0]"
                    .to_string(),
                "credentials[2].name: invalid credential name `bad name`: use 1 to 128 \
                 characters among letters and digits (of any script), `-`, `_` and `.`"
                    .to_string(),
                "credentials[2].password: plaintext passwords are not accepted; use \
                 `password_env` or `password_file` (neither means an empty password)"
                    .to_string(),
                format!("instances[1].credential: instance `b`: {either}"),
                format!("instances[2].credential: instance `c`: {either}"),
                "instances[3].credential: instance `d`: invalid credential name `no good`: \
                 use 1 to 128 characters among letters and digits (of any script), `-`, `_` \
                 and `.`"
                    .to_string(),
                "instances[4].username: instance `e`: required key is missing".to_string(),
            ]
        );
        let good = "credentials:\n  - {name: monitor, username: dbfleet, password_env: MON_PW}\n\
                    instances:\n  - {name: a, engine: pg, host: h, credential: monitor}\n";
        let s = load_from_str(SOURCE, good, vec![]).unwrap();
        assert_eq!(s.credentials[0].password, PasswordRef::Env("MON_PW".into()));
        assert_eq!(
            s.instances[0].credential.as_ref().map(|c| c.as_str()),
            Some("monitor")
        );
        assert!(s.instances[0].username.is_empty());
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
}
