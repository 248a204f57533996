//! A file of instances on its own, for `dbfleet instance import`: the same
//! `instances:` list as the configuration, read by the same walk
//! (`instances.rs`), so its keys, defaults and messages cannot drift from
//! the configuration's.
//!
//! Problems are keyed `instances[i].key`, as in the configuration; the
//! importer puts each on the line of its item. Items read from elsewhere (a
//! CSV file's rows) go through [`check_instances`], the same walk.

use serde_yaml::{Mapping, Value};

use super::instances::instances;
use super::load::parse;
use super::report::{ConfigError, ConfigErrors, Report};
use super::section::{kind, Section};
use super::DeclaredInstance;
use crate::tls::TlsMode;

/// The instances of a YAML file whose one key is `instances`, a list shaped
/// like the configuration's; `source` names the file in problems.
/// An item without `tls_mode` gets `tls_mode` (the fleet's default).
pub fn parse_instances(
    source: &str,
    text: &str,
    tls_mode: TlsMode,
) -> Result<Vec<DeclaredInstance>, ConfigErrors> {
    let whole_file = |problem: String| {
        ConfigErrors(vec![ConfigError {
            source: source.to_owned(),
            key: String::new(),
            problem,
        }])
    };
    let root = match parse(text) {
        Ok(Value::Mapping(map)) if map.contains_key("instances") => map,
        Ok(Value::Mapping(_) | Value::Null) => {
            return Err(whole_file("expected an `instances:` list".to_owned()))
        }
        Ok(other) => {
            let problem = format!(
                "expected a mapping with an `instances:` list, found {}",
                kind(&other)
            );
            return Err(whole_file(problem));
        }
        Err(problem) => return Err(whole_file(problem)),
    };
    walk(source, root, tls_mode)
}

/// The checks of [`parse_instances`] on items read some other way, each a
/// mapping of the configuration's keys (a CSV row's non-empty cells): item
/// `i` is `instances[i]` in problems.
pub fn check_instances(
    source: &str,
    items: Vec<Value>,
    tls_mode: TlsMode,
) -> Result<Vec<DeclaredInstance>, ConfigErrors> {
    let mut root = Mapping::new();
    root.insert(Value::from("instances"), Value::Sequence(items));
    walk(source, root, tls_mode)
}

/// The configuration's walk over a root holding `instances` (and whatever
/// else, reported as unknown keys).
fn walk(
    source: &str,
    root: Mapping,
    tls_mode: TlsMode,
) -> Result<Vec<DeclaredInstance>, ConfigErrors> {
    let mut report = Report::new(source);
    let declared =
        Section::new(String::new(), root, &mut report).finish_with(|s| instances(s, tls_mode));
    if report.errors.is_empty() {
        Ok(declared)
    } else {
        Err(ConfigErrors(report.errors))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::config::load_from_str;

    const LIST: &str = "instances:
  - {name: a, engine: pg, host: h, username: u, password_env: PW}
  - name: b
    engine: mariadb
    host: h2
    port: 3307
    username: u
    active: false
";

    #[test]
    fn a_file_reads_as_the_configuration_reads_its_list() {
        let from_config = load_from_str("c.yaml", LIST, vec![]).unwrap().instances;
        assert_eq!(
            parse_instances("f.yaml", LIST, TlsMode::Prefer).unwrap(),
            from_config
        );
    }

    #[test]
    fn problems_are_the_configurations_plus_unknown_top_level_keys() {
        let text = format!(
            "{LIST}  - {{name: a, engine: pg, host: h, username: u, prot: 1}}\nstore: {{}}\n"
        );
        let found: Vec<String> = parse_instances("f.yaml", &text, TlsMode::Prefer)
            .unwrap_err()
            .0
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            found,
            [
                "f.yaml: instances[2].name: instance `a`: duplicate name; \
                 already declared by instances[0]",
                "f.yaml: instances[2].prot: instance `a`: unknown key; did you mean `port`?",
                "f.yaml: store: unknown key",
            ]
        );
    }

    #[test]
    fn a_file_without_a_list_is_one_problem() {
        let cases = [
            ("", "expected an `instances:` list"),
            ("store: {}\n", "expected an `instances:` list"),
            (
                "- a\n",
                "expected a mapping with an `instances:` list, found a list",
            ),
            ("instances: [\n", "invalid YAML at line 2, column 1: "),
        ];
        for (text, problem) in cases {
            let found = parse_instances("f.yaml", text, TlsMode::Prefer)
                .unwrap_err()
                .0;
            assert_eq!(found.len(), 1, "{text}: {found:?}");
            assert!(found[0].key.is_empty(), "{text}");
            assert!(
                found[0].problem.starts_with(problem),
                "{text}: {}",
                found[0]
            );
        }
    }

    #[test]
    fn items_from_elsewhere_are_keyed_by_their_index() {
        let item = |port: Value| {
            let mut map = Mapping::new();
            for (k, v) in [
                ("name", "x"),
                ("engine", "pg"),
                ("host", "h"),
                ("username", "u"),
            ] {
                map.insert(Value::from(k), Value::from(v));
            }
            map.insert(Value::from("port"), port);
            Value::Mapping(map)
        };
        let good =
            check_instances("f.csv", vec![item(Value::from(6432))], TlsMode::Prefer).unwrap();
        assert_eq!(good[0].port, 6432);
        let bad =
            check_instances("f.csv", vec![item(Value::from("x"))], TlsMode::Prefer).unwrap_err();
        assert_eq!(
            bad.to_string(),
            "f.csv: instances[0].port: instance `x`: \
             expected an integer from 1 to 65535, found a string"
        );
    }
}
