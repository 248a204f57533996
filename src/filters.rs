//! Which databases are left out of inventory and sizing.
//!
//! Every engine ships databases of its own (catalogs, templates, scratch
//! tables) that say nothing about the fleet's data; operators also keep
//! scratch databases by naming convention. The filter file lists both per
//! engine, as exact names and as SQL `LIKE` patterns, the notation DBAs
//! already use for such conventions.
//!
//! A filter file written by hand drifts: the loader is strict about what
//! would make the whole file meaningless (missing, not YAML, wrong root) and
//! lenient, with a warning, about one bad entry, so a typo in one engine's
//! rules does not stop the fleet.
//!
//! This module does no IO: the programs read the file (see
//! `fleet::load_filters`) and hand its text to [`DatabaseFilters::from_yaml_str`].

use std::collections::BTreeMap;

use regex::Regex;
use serde_yaml::Value;

const ROOT_KEY: &str = "database_filters";
const EXCLUDE_DATABASES: &str = "exclude_databases";
const EXCLUDE_PATTERNS: &str = "exclude_patterns";

/// Exclusion rules per engine, keyed by lower-case engine name.
#[derive(Debug, Clone, Default)]
pub struct DatabaseFilters {
    engines: BTreeMap<String, EngineRules>,
}

#[derive(Debug, Clone, Default)]
struct EngineRules {
    /// Lower-cased exact names.
    databases: Vec<String>,
    patterns: Vec<Pattern>,
}

#[derive(Debug, Clone)]
struct Pattern {
    /// As written (trimmed), for the exclusion reason.
    raw: String,
    regex: Regex,
}

#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    #[error("filter file `{path}` not found")]
    NotFound { path: String },
    #[error("cannot read filter file `{path}`: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "filter file `{source_name}` is not valid YAML at line {line}, column {column}: {message}"
    )]
    Syntax {
        source_name: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("filter file `{source_name}`: {message}")]
    Shape {
        source_name: String,
        message: String,
    },
}

impl DatabaseFilters {
    /// Parses filter YAML; `source_name` only labels errors and warnings.
    pub fn from_yaml_str(
        source_name: &str,
        text: &str,
    ) -> Result<(Self, Vec<String>), FilterError> {
        let root: Value = serde_yaml::from_str(text).map_err(|e| syntax_error(source_name, &e))?;
        let shape = |message: String| FilterError::Shape {
            source_name: source_name.to_string(),
            message,
        };
        let mut warnings = Vec::new();
        let per_engine = match root {
            // An empty file (or one holding only comments) excludes nothing.
            Value::Null => return Ok((Self::empty(), warnings)),
            Value::Mapping(mut root) => {
                let Some(per_engine) = root.remove(ROOT_KEY) else {
                    return Err(shape(format!("the root mapping has no `{ROOT_KEY}` key")));
                };
                for (key, _) in root {
                    warnings.push(format!(
                        "{source_name}: unknown top-level key {} ignored",
                        describe(&key)
                    ));
                }
                per_engine
            }
            other => {
                return Err(shape(format!(
                    "the root must be a mapping with a `{ROOT_KEY}` key, found {}",
                    kind(&other)
                )))
            }
        };
        let per_engine = match per_engine {
            Value::Null => return Ok((Self::empty(), warnings)),
            Value::Mapping(m) => m,
            other => {
                return Err(shape(format!(
                    "`{ROOT_KEY}` must map engine names to rules, found {}",
                    kind(&other)
                )))
            }
        };

        let mut engines: BTreeMap<String, EngineRules> = BTreeMap::new();
        for (key, rules) in per_engine {
            let engine = match &key {
                Value::String(s) if !s.trim().is_empty() => s.trim().to_lowercase(),
                _ => {
                    warnings.push(format!(
                        "{source_name}: engine key {} is not a name; its rules are ignored",
                        describe(&key)
                    ));
                    continue;
                }
            };
            let Value::Mapping(rules) = rules else {
                warnings.push(format!(
                    "{source_name}: rules of engine `{engine}` are {}, not a mapping; ignored",
                    kind(&rules)
                ));
                continue;
            };
            let parsed = parse_engine_rules(source_name, &engine, rules, &mut warnings);
            let entry = engines.entry(engine.clone()).or_default();
            if !entry.databases.is_empty() || !entry.patterns.is_empty() {
                warnings.push(format!(
                    "{source_name}: engine `{engine}` is listed more than once; rules merged"
                ));
            }
            entry.databases.extend(parsed.databases);
            entry.patterns.extend(parsed.patterns);
        }
        Ok((Self { engines }, warnings))
    }

    /// Filters that exclude nothing.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Some(reason) when excluded: "exclude_database" or
    /// "exclude_pattern:<raw trimmed pattern>".
    pub fn exclusion(&self, engine: &str, database: &str) -> Option<String> {
        if database.trim().is_empty() {
            return None;
        }
        let rules = self.engines.get(&engine.trim().to_lowercase())?;
        let lowered = database.to_lowercase();
        if rules.databases.contains(&lowered) {
            return Some(EXCLUDE_DATABASE_REASON.to_string());
        }
        rules
            .patterns
            .iter()
            .find(|p| p.regex.is_match(database))
            .map(|p| format!("exclude_pattern:{}", p.raw))
    }

    /// Splits `names` into kept names (in input order) and excluded names
    /// with their reason.
    pub fn partition<'a>(
        &self,
        engine: &str,
        names: impl IntoIterator<Item = &'a str>,
    ) -> (Vec<String>, Vec<(String, String)>) {
        let mut allowed = Vec::new();
        let mut excluded = Vec::new();
        for name in names {
            match self.exclusion(engine, name) {
                Some(reason) => excluded.push((name.to_string(), reason)),
                None => allowed.push(name.to_string()),
            }
        }
        (allowed, excluded)
    }

    /// Engines that have rules, sorted.
    pub fn engines(&self) -> Vec<String> {
        self.engines.keys().cloned().collect()
    }
}

const EXCLUDE_DATABASE_REASON: &str = "exclude_database";

fn parse_engine_rules(
    source_name: &str,
    engine: &str,
    rules: serde_yaml::Mapping,
    warnings: &mut Vec<String>,
) -> EngineRules {
    let mut parsed = EngineRules::default();
    for (key, value) in rules {
        let field = key.as_str().map(str::trim).unwrap_or_default();
        let context = format!("{source_name}: {engine}.{field}");
        match field {
            EXCLUDE_DATABASES => {
                parsed.databases = string_list(&context, value, warnings)
                    .into_iter()
                    .map(|d| d.to_lowercase())
                    .collect();
            }
            EXCLUDE_PATTERNS => {
                for raw in string_list(&context, value, warnings) {
                    match like_to_regex(&raw) {
                        Ok(regex) => parsed.patterns.push(Pattern { raw, regex }),
                        Err(e) => warnings.push(format!(
                            "{context}: pattern `{raw}` cannot be used ({e}); ignored"
                        )),
                    }
                }
            }
            _ => warnings.push(format!(
                "{source_name}: unknown key {} in the rules of engine `{engine}` ignored",
                describe(&key)
            )),
        }
    }
    parsed
}

/// The trimmed, non-blank strings of a YAML list. A missing list (`~`) is
/// empty; anything else that is not a list is dropped whole.
fn string_list(context: &str, value: Value, warnings: &mut Vec<String>) -> Vec<String> {
    let items = match value {
        Value::Null => return Vec::new(),
        Value::Sequence(items) => items,
        other => {
            warnings.push(format!(
                "{context} must be a list of strings, found {}; ignored",
                kind(&other)
            ));
            return Vec::new();
        }
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        match item {
            Value::String(s) if !s.trim().is_empty() => out.push(s.trim().to_string()),
            Value::String(_) => warnings.push(format!("{context}[{i}] is blank; ignored")),
            other => warnings.push(format!(
                "{context}[{i}] is {}, not a string; ignored",
                kind(&other)
            )),
        }
    }
    out
}

/// Compiles a SQL `LIKE` pattern: `%` is any run of characters (even none),
/// `_` exactly one, everything else literal. There is no escape character:
/// filter files written for the original rules keep their meaning, so
/// `tmp_%` also matches `tmpX`. Matching is anchored and case-insensitive.
fn like_to_regex(pattern: &str) -> Result<Regex, regex::Error> {
    let mut source = String::from(r"(?is)\A");
    let mut literal = [0u8; 4];
    for c in pattern.chars() {
        match c {
            '%' => source.push_str(".*"),
            '_' => source.push('.'),
            _ => source.push_str(&regex::escape(c.encode_utf8(&mut literal))),
        }
    }
    source.push_str(r"\z");
    Regex::new(&source)
}

fn syntax_error(source_name: &str, e: &serde_yaml::Error) -> FilterError {
    let (line, column) = e
        .location()
        .map(|l| (l.line(), l.column()))
        .unwrap_or((0, 0));
    // serde_yaml repeats the location in its message; it is already in ours.
    let message = e.to_string();
    let message = message
        .replace(&format!(" at line {line} column {column}"), "")
        .trim_start_matches(": ")
        .to_string();
    FilterError::Syntax {
        source_name: source_name.to_string(),
        line,
        column,
        message,
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "empty",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

/// A YAML key as it should appear in a warning.
fn describe(key: &Value) -> String {
    match key {
        Value::String(s) => format!("`{s}`"),
        Value::Number(n) => format!("`{n}`"),
        Value::Bool(b) => format!("`{b}`"),
        other => kind(other).to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    const REFERENCE: &str = r"
database_filters:
  mysql:
    exclude_databases: [information_schema, performance_schema, mysql, sys]
    exclude_patterns: ['tmp_%', 'temp_%', '#sql%']
  postgresql:
    exclude_databases: [template0, template1, postgres]
    exclude_patterns: ['pg_%']
";

    fn parse(text: &str) -> (DatabaseFilters, Vec<String>) {
        DatabaseFilters::from_yaml_str("test.yaml", text).unwrap()
    }

    #[test]
    fn exclusion_table() {
        let (filters, warnings) = parse(REFERENCE);
        assert!(warnings.is_empty(), "{warnings:?}");
        fn check(filters: &DatabaseFilters, engine: &str, db: &str, expected: Option<&str>) {
            assert_eq!(
                filters.exclusion(engine, db).as_deref(),
                expected,
                "engine {engine:?} database {db:?}"
            );
        }
        let f = &filters;
        // Exact names, case-insensitive, whole name only.
        check(f, "mysql", "mysql", Some("exclude_database"));
        check(f, "mysql", "MySQL", Some("exclude_database"));
        check(f, "mysql", "Information_Schema", Some("exclude_database"));
        check(f, "mysql", "mysql2", None);
        check(f, "mysql", "my", None);
        check(f, "mysql", "shop", None);
        // Patterns: `_` is one character, not a literal underscore.
        check(f, "mysql", "tmp_orders", Some("exclude_pattern:tmp_%"));
        check(f, "mysql", "tmpXorders", Some("exclude_pattern:tmp_%"));
        check(f, "mysql", "tmp_", Some("exclude_pattern:tmp_%"));
        check(f, "mysql", "tmp", None);
        check(f, "mysql", "TMP_A", Some("exclude_pattern:tmp_%"));
        check(f, "mysql", "my_tmp_x", None);
        check(f, "mysql", "temp_1", Some("exclude_pattern:temp_%"));
        check(f, "mysql", "#sql-abc", Some("exclude_pattern:#sql%"));
        check(f, "mysql", "#sql", Some("exclude_pattern:#sql%"));
        check(f, "mysql", "x#sql", None);
        check(
            f,
            "postgresql",
            "pg_catalog_copy",
            Some("exclude_pattern:pg_%"),
        );
        check(f, "postgresql", "pgAdmin", Some("exclude_pattern:pg_%"));
        check(f, "postgresql", "pg", None);
        check(f, "postgresql", "template0", Some("exclude_database"));
        check(f, "postgresql", "postgres", Some("exclude_database"));
        check(f, "postgresql", "app", None);
        // Engine keys are folded; unknown and blank engines exclude nothing.
        check(f, " MySQL ", "mysql", Some("exclude_database"));
        check(f, "oracle", "SYSTEM", None);
        check(f, "", "mysql", None);
        check(f, "  ", "mysql", None);
        // Blank names are never excluded.
        check(f, "mysql", "", None);
        check(f, "mysql", "   ", None);
        // Rules of one engine do not leak into another.
        check(f, "postgresql", "mysql", None);
        check(f, "mysql", "postgres", None);
    }

    #[test]
    fn pattern_table() {
        fn check(pattern: &str, name: &str, expected: bool) {
            let regex = like_to_regex(pattern).unwrap();
            assert_eq!(regex.is_match(name), expected, "{pattern:?} on {name:?}");
        }
        check("%", "", true);
        check("%", "anything", true);
        check("_", "", false);
        check("_", "a", true);
        check("_", "é", true);
        check("_", "ab", false);
        check("a%b", "ab", true);
        check("a%b", "axxb", true);
        check("a%b", "axxbc", false);
        check("a.b", "a.b", true);
        check("a.b", "axb", false);
        check("a+b", "a+b", true);
        check("a+b", "aab", false);
        check("(x)", "(x)", true);
        check("[ab]", "a", false);
        check("[ab]", "[ab]", true);
        check("a\\_b", "a\\xb", true);
        check("a\\_b", "a_b", false);
        check("$x^", "$x^", true);
        check("ÉTÉ%", "été 2024", true);
        check("%\n%", "a\nb", true);
        check("a%", "a\nb", true);
    }

    #[test]
    fn first_pattern_wins_and_exact_list_first() {
        let (f, _) = parse(
            "database_filters:\n  mysql:\n    exclude_databases: [tmp_keep]\n    exclude_patterns: ['tmp%', 't%']\n",
        );
        assert_eq!(
            f.exclusion("mysql", "tmp_keep").as_deref(),
            Some("exclude_database")
        );
        assert_eq!(
            f.exclusion("mysql", "tmp_x").as_deref(),
            Some("exclude_pattern:tmp%")
        );
        assert_eq!(
            f.exclusion("mysql", "tx").as_deref(),
            Some("exclude_pattern:t%")
        );
    }

    #[test]
    fn pattern_reason_is_trimmed_raw_pattern() {
        let (f, _) = parse("database_filters:\n  mysql:\n    exclude_patterns: [' tmp_% ']\n");
        assert_eq!(
            f.exclusion("mysql", "tmp_1").as_deref(),
            Some("exclude_pattern:tmp_%")
        );
        // Trimmed before compiling too: a leading space is not required.
        assert_eq!(f.exclusion("mysql", " tmp_1"), None);
    }

    #[test]
    fn partition_keeps_order() {
        let (f, _) = parse(REFERENCE);
        let (allowed, excluded) =
            f.partition("mysql", ["shop", "mysql", "tmp_1", "crm", "sys", "a"]);
        assert_eq!(allowed, vec!["shop", "crm", "a"]);
        assert_eq!(
            excluded,
            vec![
                ("mysql".to_string(), "exclude_database".to_string()),
                ("tmp_1".to_string(), "exclude_pattern:tmp_%".to_string()),
                ("sys".to_string(), "exclude_database".to_string()),
            ]
        );
        let (allowed, excluded) = f.partition("sqlserver", ["master", "x"]);
        assert_eq!(allowed, vec!["master", "x"]);
        assert!(excluded.is_empty());
    }

    /// One row per loading rule: the YAML, the engines that end up with
    /// rules, and a fragment each expected warning must contain.
    #[test]
    fn loading_table() {
        fn check(text: &str, engines: &[&str], warnings: &[&str]) {
            let (f, got) = parse(text);
            assert_eq!(f.engines(), engines, "engines for {text:?}");
            assert_eq!(got.len(), warnings.len(), "warnings for {text:?}: {got:?}");
            for (w, fragment) in got.iter().zip(warnings) {
                assert!(w.contains(fragment), "{w:?} should contain {fragment:?}");
                assert!(w.contains("test.yaml"), "{w:?} should name the file");
            }
        }
        // Empty file, comments only, empty root key: no rules.
        check("", &[], &[]);
        check("# nothing yet\n", &[], &[]);
        check("database_filters:\n", &[], &[]);
        check("database_filters: {}\n", &[], &[]);
        // Engine keys trimmed and lower-cased.
        check(
            "database_filters:\n  ' MySQL ':\n    exclude_databases: [a]\n",
            &["mysql"],
            &[],
        );
        // Non-string and blank engine keys dropped.
        check(
            "database_filters:\n  5:\n    exclude_databases: [a]\n  '  ':\n    exclude_databases: [a]\n  mysql: {}\n",
            &["mysql"],
            &["`5`", "`  `"],
        );
        check(
            "database_filters:\n  ~:\n    exclude_databases: [a]\n",
            &[],
            &["engine key empty"],
        );
        // Engine rules that are not a mapping: that engine ignored.
        check(
            "database_filters:\n  mysql: [a, b]\n  postgresql:\n    exclude_databases: [x]\n",
            &["postgresql"],
            &["`mysql` are a list"],
        );
        check("database_filters:\n  mysql:\n", &[], &["`mysql` are empty"]);
        // Malformed rule: warning, that rule ignored, the other kept.
        check(
            "database_filters:\n  mysql:\n    exclude_patterns: 5\n    exclude_databases: [a]\n",
            &["mysql"],
            &["mysql.exclude_patterns must be a list"],
        );
        check(
            "database_filters:\n  mysql:\n    exclude_databases: a\n",
            &["mysql"],
            &["mysql.exclude_databases must be a list"],
        );
        // A rule left empty is simply empty.
        check(
            "database_filters:\n  mysql:\n    exclude_patterns:\n",
            &["mysql"],
            &[],
        );
        // List entries: non-strings and blanks dropped, others trimmed.
        check(
            "database_filters:\n  mysql:\n    exclude_databases: [' a ', 5, '', '  ', ~, [x], b]\n",
            &["mysql"],
            &[
                "[1] is a number",
                "[2] is blank",
                "[3] is blank",
                "[4] is empty",
                "[5] is a list",
            ],
        );
        // Unknown keys are reported.
        check(
            "database_filters:\n  mysql:\n    exclude_database: [a]\n",
            &["mysql"],
            &["unknown key `exclude_database`"],
        );
        check(
            "version: 1\ndatabase_filters:\n  mysql: {}\n",
            &["mysql"],
            &["unknown top-level key `version`"],
        );
        // The same engine twice after folding: merged.
        check(
            "database_filters:\n  mysql:\n    exclude_databases: [a]\n  MYSQL:\n    exclude_databases: [b]\n",
            &["mysql"],
            &["more than once"],
        );
    }

    #[test]
    fn list_entries_are_trimmed_and_kept() {
        let (f, _) = parse(
            "database_filters:\n  mysql:\n    exclude_databases: [' a ', 5, '', B]\n  MYSQL:\n    exclude_patterns: ['x%']\n",
        );
        assert_eq!(
            f.exclusion("mysql", "a").as_deref(),
            Some("exclude_database")
        );
        assert_eq!(
            f.exclusion("mysql", "b").as_deref(),
            Some("exclude_database")
        );
        assert_eq!(f.exclusion("mysql", "5"), None);
        assert_eq!(
            f.exclusion("mysql", "xy").as_deref(),
            Some("exclude_pattern:x%")
        );
    }

    #[test]
    fn error_table() {
        fn check(text: &str, fragments: &[&str]) {
            let err = DatabaseFilters::from_yaml_str("conf/f.yaml", text).unwrap_err();
            let message = err.to_string();
            for fragment in fragments {
                assert!(
                    message.contains(fragment),
                    "{message:?} should contain {fragment:?}"
                );
            }
        }
        check(
            "database_filters:\n  mysql:\n    exclude_databases: [a\n  x: : y\n",
            &["conf/f.yaml", "line "],
        );
        check("database_filters: [\n", &["conf/f.yaml", "line 2"]);
        check("a: 1\n  b: 2\n", &["conf/f.yaml", "line 2"]);
        check("- a\n- b\n", &["conf/f.yaml", "a list"]);
        check("just text\n", &["conf/f.yaml", "a string"]);
        check("other: 1\n", &["conf/f.yaml", "no `database_filters` key"]);
        check(
            "database_filters: [mysql]\n",
            &["conf/f.yaml", "must map engine names"],
        );
        check("database_filters: 5\n", &["conf/f.yaml", "a number"]);
    }

    #[test]
    fn syntax_error_carries_location() {
        let err = DatabaseFilters::from_yaml_str("f.yaml", "a: 1\n  b: 2\n").unwrap_err();
        match err {
            FilterError::Syntax { line, .. } => assert_eq!(line, 2),
            other => panic!("expected a syntax error, got {other:?}"),
        }
    }

    use std::path::Path;

    /// The shipped file, read the way the programs read it.
    fn load(path: &Path) -> Result<(DatabaseFilters, Vec<String>), FilterError> {
        let text = std::fs::read_to_string(path).unwrap();
        DatabaseFilters::from_yaml_str(&path.display().to_string(), &text)
    }

    #[test]
    fn shipped_defaults_match_the_reference() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/database_filters.yaml");
        let (f, warnings) = load(&path).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(
            f.engines(),
            vec!["mysql", "oracle", "postgresql", "sqlserver"]
        );
        let cases = [
            ("mysql", "information_schema", Some("exclude_database")),
            ("mysql", "performance_schema", Some("exclude_database")),
            ("mysql", "mysql", Some("exclude_database")),
            ("mysql", "sys", Some("exclude_database")),
            ("mysql", "tmp_x", Some("exclude_pattern:tmp_%")),
            ("mysql", "temp_x", Some("exclude_pattern:temp_%")),
            ("mysql", "#sql-1", Some("exclude_pattern:#sql%")),
            ("mysql", "shop", None),
            ("postgresql", "template0", Some("exclude_database")),
            ("postgresql", "template1", Some("exclude_database")),
            ("postgresql", "postgres", Some("exclude_database")),
            ("postgresql", "pg_x", Some("exclude_pattern:pg_%")),
            ("postgresql", "shop", None),
            ("sqlserver", "master", Some("exclude_database")),
            ("sqlserver", "model", Some("exclude_database")),
            ("sqlserver", "msdb", Some("exclude_database")),
            ("sqlserver", "tempdb", Some("exclude_database")),
            (
                "sqlserver",
                "ReportServerTempDB",
                Some("exclude_pattern:ReportServer%"),
            ),
            ("oracle", "users", Some("exclude_database")),
            ("oracle", "SYSAUX", Some("exclude_database")),
            ("oracle", "SYSTEM", Some("exclude_database")),
            ("oracle", "SYSX", Some("exclude_pattern:SYS%")),
            ("oracle", "APP", None),
        ];
        for (engine, db, expected) in cases {
            assert_eq!(
                f.exclusion(engine, db).as_deref(),
                expected,
                "{engine} {db}"
            );
        }
    }

    #[test]
    fn empty_filters_exclude_nothing() {
        let f = DatabaseFilters::empty();
        assert!(f.engines().is_empty());
        assert_eq!(f.exclusion("mysql", "mysql"), None);
    }
}
