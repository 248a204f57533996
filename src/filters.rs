//! Which databases are left out of inventory and sizing.
//!
//! Every engine ships databases of its own (catalogs, templates, scratch
//! tables) that say nothing about the fleet's data; operators also keep
//! scratch databases by naming convention. The filter file lists both per
//! engine, as exact names and as SQL `LIKE` patterns, the notation DBAs
//! already use for such conventions.
//!
//! The loader is strict (ruling 13): an unknown key, a rule that is not a
//! list of names, a blank or non-string entry or a pattern that cannot be
//! read is an error, and every such problem of the file is reported at
//! once. A silently ignored exclusion would let scratch databases into the
//! history, or a typo leave the system ones in, with nobody told.
//!
//! Patterns take `\` as their escape, as SQL `LIKE` does: `tmp\_%` is
//! `tmp_` followed by anything, while `tmp_%` also matches `tmpX…`.
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
    /// Every malformed rule of the file, one line each.
    #[error("{}", .problems.iter().map(|p| format!("filter file `{source_name}`: {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid {
        source_name: String,
        problems: Vec<String>,
    },
}

impl DatabaseFilters {
    /// Parses filter YAML; `source_name` only labels errors.
    pub fn from_yaml_str(source_name: &str, text: &str) -> Result<Self, FilterError> {
        let root: Value = serde_yaml::from_str(text).map_err(|e| syntax_error(source_name, &e))?;
        let mut problems = Vec::new();
        let per_engine =
            rules_section(root, &mut problems).map_err(|message| FilterError::Shape {
                source_name: source_name.to_string(),
                message,
            })?;
        let engines = parse_engines(per_engine, &mut problems);
        if problems.is_empty() {
            Ok(Self { engines })
        } else {
            Err(FilterError::Invalid {
                source_name: source_name.to_string(),
                problems,
            })
        }
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

/// The `database_filters` mapping of the file (empty for an empty file or
/// key); a file without it is an error (`Err` is its message), other
/// top-level keys are problems.
fn rules_section(root: Value, problems: &mut Vec<String>) -> Result<serde_yaml::Mapping, String> {
    let per_engine = match root {
        // An empty file (or one holding only comments) excludes nothing.
        Value::Null => return Ok(serde_yaml::Mapping::new()),
        Value::Mapping(mut root) => {
            let Some(per_engine) = root.remove(ROOT_KEY) else {
                return Err(format!("the root mapping has no `{ROOT_KEY}` key"));
            };
            for (key, _) in root {
                problems.push(format!(
                    "unknown top-level key {} (the only key is `{ROOT_KEY}`)",
                    describe(&key)
                ));
            }
            per_engine
        }
        other => {
            return Err(format!(
                "the root must be a mapping with a `{ROOT_KEY}` key, found {}",
                kind(&other)
            ))
        }
    };
    match per_engine {
        Value::Null => Ok(serde_yaml::Mapping::new()),
        Value::Mapping(m) => Ok(m),
        other => Err(format!(
            "`{ROOT_KEY}` must map engine names to rules, found {}",
            kind(&other)
        )),
    }
}

/// The rules of each engine; engine keys are trimmed and lower-cased, and
/// two keys that fold to one name are a problem (which rules were meant?).
fn parse_engines(
    per_engine: serde_yaml::Mapping,
    problems: &mut Vec<String>,
) -> BTreeMap<String, EngineRules> {
    let mut engines = BTreeMap::new();
    for (key, rules) in per_engine {
        let engine = match &key {
            Value::String(s) if !s.trim().is_empty() => s.trim().to_lowercase(),
            _ => {
                problems.push(format!("engine key {} is not a name", describe(&key)));
                continue;
            }
        };
        let rules = match rules {
            // `mysql:` with nothing under it: no rules, as `mysql: {}`.
            Value::Null => serde_yaml::Mapping::new(),
            Value::Mapping(rules) => rules,
            other => {
                problems.push(format!(
                    "{ROOT_KEY}.{engine}: must be a mapping of rules, found {}",
                    kind(&other)
                ));
                continue;
            }
        };
        let parsed = parse_engine_rules(&engine, rules, problems);
        if engines.insert(engine.clone(), parsed).is_some() {
            problems.push(format!(
                "{ROOT_KEY}.{engine}: listed more than once (engine names ignore case)"
            ));
        }
    }
    engines
}

fn parse_engine_rules(
    engine: &str,
    rules: serde_yaml::Mapping,
    problems: &mut Vec<String>,
) -> EngineRules {
    let mut parsed = EngineRules::default();
    for (key, value) in rules {
        let field = key.as_str().map(str::trim).unwrap_or_default();
        let context = format!("{ROOT_KEY}.{engine}.{field}");
        match field {
            EXCLUDE_DATABASES => {
                parsed.databases = string_list(&context, value, problems)
                    .into_iter()
                    .map(|d| d.to_lowercase())
                    .collect();
            }
            EXCLUDE_PATTERNS => {
                for (i, raw) in string_list(&context, value, problems)
                    .into_iter()
                    .enumerate()
                {
                    match like_to_regex(&raw) {
                        Ok(regex) => parsed.patterns.push(Pattern { raw, regex }),
                        Err(e) => problems.push(format!("{context}[{i}]: pattern `{raw}` {e}")),
                    }
                }
            }
            _ => problems.push(format!(
                "{ROOT_KEY}.{engine}: unknown key {} (expected `{EXCLUDE_DATABASES}` or \
                 `{EXCLUDE_PATTERNS}`)",
                describe(&key)
            )),
        }
    }
    parsed
}

/// The trimmed strings of a YAML list; a missing list (`~`) is empty.
/// Anything that is not a non-blank string is a problem.
fn string_list(context: &str, value: Value, problems: &mut Vec<String>) -> Vec<String> {
    let items = match value {
        Value::Null => return Vec::new(),
        Value::Sequence(items) => items,
        other => {
            problems.push(format!(
                "{context}: must be a list of names, found {}",
                kind(&other)
            ));
            return Vec::new();
        }
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        match item {
            Value::String(s) if !s.trim().is_empty() => out.push(s.trim().to_string()),
            Value::String(_) => problems.push(format!("{context}[{i}]: is blank")),
            other => problems.push(format!("{context}[{i}]: is {}, not a name", kind(&other))),
        }
    }
    out
}

/// Why a pattern cannot be used.
#[derive(Debug, thiserror::Error)]
enum PatternError {
    #[error("ends with `\\`, which escapes nothing (write `\\\\` for a backslash)")]
    TrailingEscape,
    #[error(
        "holds a non-breaking space (U+00A0): in double quotes YAML reads `\\_` as one; \
         write the pattern in single quotes"
    )]
    NonBreakingSpace,
    #[error("cannot be compiled: {0}")]
    Regex(#[from] regex::Error),
}

/// Compiles a SQL `LIKE` pattern: `%` is any run of characters (even none),
/// `_` exactly one, `\` makes the next character literal (`\_`, `\%`,
/// `\\`), everything else is literal. Matching is anchored and
/// case-insensitive.
fn like_to_regex(pattern: &str) -> Result<Regex, PatternError> {
    if pattern.contains('\u{a0}') {
        return Err(PatternError::NonBreakingSpace);
    }
    let mut source = String::from(r"(?is)\A");
    let mut literal = [0u8; 4];
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '%' => source.push_str(".*"),
            '_' => source.push('.'),
            '\\' => {
                let escaped = chars.next().ok_or(PatternError::TrailingEscape)?;
                source.push_str(&regex::escape(escaped.encode_utf8(&mut literal)));
            }
            _ => source.push_str(&regex::escape(c.encode_utf8(&mut literal))),
        }
    }
    source.push_str(r"\z");
    Ok(Regex::new(&source)?)
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

/// A YAML key as it should appear in a problem.
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

    fn parse(text: &str) -> DatabaseFilters {
        DatabaseFilters::from_yaml_str("test.yaml", text).unwrap()
    }

    #[test]
    fn exclusion_table() {
        let filters = parse(REFERENCE);
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
        // `\` escapes the next character: `\_` is an underscore, `\%` a
        // percent sign, `\\` a backslash.
        check("a\\_b", "a_b", true);
        check("a\\_b", "a\\xb", false);
        check("a\\_b", "axb", false);
        check("100\\%", "100%", true);
        check("100\\%", "1000", false);
        check("a\\\\b", "a\\b", true);
        check("a\\\\_", "a\\x", true);
        check("\\x", "x", true);
        check("$x^", "$x^", true);
        check("ÉTÉ%", "été 2024", true);
        check("%\n%", "a\nb", true);
        check("a%", "a\nb", true);
    }

    #[test]
    fn first_pattern_wins_and_exact_list_first() {
        let f = parse(
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
        let f = parse("database_filters:\n  mysql:\n    exclude_patterns: [' tmp_% ']\n");
        assert_eq!(
            f.exclusion("mysql", "tmp_1").as_deref(),
            Some("exclude_pattern:tmp_%")
        );
        // Trimmed before compiling too: a leading space is not required.
        assert_eq!(f.exclusion("mysql", " tmp_1"), None);
    }

    #[test]
    fn partition_keeps_order() {
        let f = parse(REFERENCE);
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

    /// What a valid file may look like: the YAML and the engines that end
    /// up with rules.
    #[test]
    fn loading_table() {
        fn check(text: &str, engines: &[&str]) {
            assert_eq!(parse(text).engines(), engines, "engines for {text:?}");
        }
        // Empty file, comments only, empty root key: no rules.
        check("", &[]);
        check("# nothing yet\n", &[]);
        check("database_filters:\n", &[]);
        check("database_filters: {}\n", &[]);
        // Engine keys trimmed and lower-cased.
        check(
            "database_filters:\n  ' MySQL ':\n    exclude_databases: [a]\n",
            &["mysql"],
        );
        // An engine or a rule left empty is simply empty.
        check("database_filters:\n  mysql:\n", &["mysql"]);
        check(
            "database_filters:\n  mysql:\n    exclude_patterns:\n",
            &["mysql"],
        );
    }

    /// Every malformed rule is an error naming where it is; all of a file's
    /// problems are reported together.
    #[test]
    fn invalid_table() {
        fn check(text: &str, fragments: &[&str]) {
            let err = DatabaseFilters::from_yaml_str("test.yaml", text).unwrap_err();
            let FilterError::Invalid { problems, .. } = &err else {
                panic!("expected invalid rules, got {err:?}");
            };
            assert_eq!(problems.len(), fragments.len(), "{text:?}: {problems:?}");
            for (problem, fragment) in problems.iter().zip(fragments) {
                assert!(
                    problem.contains(fragment),
                    "{problem:?} should contain {fragment:?}"
                );
            }
            for line in err.to_string().lines() {
                assert!(line.starts_with("filter file `test.yaml`: "), "{line}");
            }
        }
        check(
            "database_filters:\n  5:\n    exclude_databases: [a]\n  '  ':\n    exclude_databases: [a]\n  mysql: {}\n",
            &["engine key `5`", "engine key `  `"],
        );
        check(
            "database_filters:\n  ~:\n    exclude_databases: [a]\n",
            &["engine key empty"],
        );
        check(
            "database_filters:\n  mysql: [a, b]\n  postgresql:\n    exclude_databases: [x]\n",
            &["database_filters.mysql: must be a mapping of rules, found a list"],
        );
        check(
            "database_filters:\n  mysql:\n    exclude_patterns: 5\n    exclude_databases: [a]\n",
            &["database_filters.mysql.exclude_patterns: must be a list of names, found a number"],
        );
        check(
            "database_filters:\n  mysql:\n    exclude_databases: a\n",
            &["mysql.exclude_databases: must be a list"],
        );
        check(
            "database_filters:\n  mysql:\n    exclude_databases: [' a ', 5, '', '  ', ~, [x], b]\n",
            &[
                "[1]: is a number",
                "[2]: is blank",
                "[3]: is blank",
                "[4]: is empty",
                "[5]: is a list",
            ],
        );
        check(
            "database_filters:\n  mysql:\n    exclude_database: [a]\n",
            &["unknown key `exclude_database`"],
        );
        check(
            "version: 1\ndatabase_filters:\n  mysql: {}\n",
            &["unknown top-level key `version`"],
        );
        check(
            "database_filters:\n  mysql:\n    exclude_databases: [a]\n  MYSQL:\n    exclude_databases: [b]\n",
            &["database_filters.mysql: listed more than once"],
        );
        check(
            "database_filters:\n  mysql:\n    exclude_patterns: ['ok%', 'tmp\\']\n",
            &["exclude_patterns[1]: pattern `tmp\\` ends with `\\`"],
        );
        check(
            "database_filters:\n  mysql:\n    exclude_patterns: [\"tmp\\_%\"]\n",
            &["non-breaking space"],
        );
        check(
            "x: 1\ndatabase_filters:\n  mysql:\n    exclude_database: [a]\n  pg: 3\n",
            &[
                "top-level key `x`",
                "unknown key `exclude_database`",
                "pg: must be a mapping",
            ],
        );
    }

    #[test]
    fn list_entries_are_trimmed_and_kept() {
        let f = parse(
            "database_filters:\n  mysql:\n    exclude_databases: [' a ', B]\n    exclude_patterns: [' x% ']\n",
        );
        assert_eq!(
            f.exclusion("mysql", "a").as_deref(),
            Some("exclude_database")
        );
        assert_eq!(
            f.exclusion("mysql", "b").as_deref(),
            Some("exclude_database")
        );
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
    fn load(path: &Path) -> Result<DatabaseFilters, FilterError> {
        let text = std::fs::read_to_string(path).unwrap();
        DatabaseFilters::from_yaml_str(&path.display().to_string(), &text)
    }

    #[test]
    fn shipped_defaults_match_the_reference() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/database_filters.yaml");
        let f = load(&path).unwrap();
        assert_eq!(
            f.engines(),
            vec!["mysql", "oracle", "postgresql", "sqlserver"]
        );
        let cases = [
            ("mysql", "information_schema", Some("exclude_database")),
            ("mysql", "performance_schema", Some("exclude_database")),
            ("mysql", "mysql", Some("exclude_database")),
            ("mysql", "sys", Some("exclude_database")),
            ("mysql", "tmp_x", Some(r"exclude_pattern:tmp\_%")),
            ("mysql", "temp_x", Some(r"exclude_pattern:temp\_%")),
            ("mysql", "#sql-1", Some("exclude_pattern:#sql%")),
            ("mysql", "shop", None),
            ("postgresql", "template0", Some("exclude_database")),
            ("postgresql", "template1", Some("exclude_database")),
            ("postgresql", "postgres", Some("exclude_database")),
            ("postgresql", "pg_x", Some(r"exclude_pattern:pg\_%")),
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

    /// Each pattern of the shipped file matches what it means and not its
    /// near miss; a pattern added without a row here fails the test.
    #[test]
    fn shipped_patterns_mean_what_they_say() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/database_filters.yaml");
        let text = std::fs::read_to_string(&path).unwrap();
        let f = DatabaseFilters::from_yaml_str("shipped", &text).unwrap();
        // (engine, pattern, meant, near miss)
        let cases = [
            ("mysql", r"tmp\_%", "tmp_orders", "tmporders"),
            ("mysql", r"temp\_%", "temp_1", "tempo"),
            ("mysql", "#sql%", "#sql-1a2b", "x#sql"),
            ("postgresql", r"pg\_%", "pg_stage", "pgadmin"),
            (
                "sqlserver",
                "ReportServer%",
                "ReportServerTempDB",
                "MyReportServer",
            ),
            ("oracle", "SYS%", "SYSAUX2", "XSYS"),
            ("oracle", "SYSTEM%", "SYSTEM2", "MYSYSTEM"),
        ];
        for (engine, pattern, meant, near_miss) in cases {
            let reason = format!("exclude_pattern:{pattern}");
            let got = f.exclusion(engine, meant);
            // SYSTEM% is shadowed by SYS%, which is reported first.
            assert!(got.is_some(), "{engine} {pattern} should exclude {meant}");
            if pattern != "SYSTEM%" {
                assert_eq!(got.as_deref(), Some(reason.as_str()), "{engine} {meant}");
            }
            assert_eq!(
                f.exclusion(engine, near_miss),
                None,
                "{engine} {pattern} on {near_miss}"
            );
        }
        let shipped: Vec<String> = f
            .engines
            .values()
            .flat_map(|rules| rules.patterns.iter().map(|p| p.raw.clone()))
            .collect();
        let tested: Vec<&str> = cases.iter().map(|c| c.1).collect();
        for pattern in &shipped {
            assert!(
                tested.contains(&pattern.as_str()),
                "no case for `{pattern}`"
            );
        }
    }

    #[test]
    fn a_malformed_rule_is_an_error_not_a_warning() {
        for text in [
            "database_filters:\n  mysql:\n    exclude_database: [a]\n",
            "version: 1\ndatabase_filters:\n  mysql: {}\n",
            "database_filters:\n  mysql:\n    exclude_patterns: 5\n",
            "database_filters:\n  mysql:\n    exclude_databases: [a, 5]\n",
        ] {
            assert!(
                DatabaseFilters::from_yaml_str("f.yaml", text).is_err(),
                "{text:?} must be refused"
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
