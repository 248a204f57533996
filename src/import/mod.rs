//! A file of instances to register at once (`dbfleet instance import`):
//! YAML shaped like the configuration's `instances:` list, or CSV with one
//! column per key.
//!
//! Both go through the configuration's own checks
//! ([`config::parse_instances`], [`config::check_instances`]), so a file and
//! the configuration accept the same instances with the same messages. What
//! this module adds is what a file of thousands of rows needs: every problem
//! placed on its line and all reported at once, and the line of each good
//! row, to place what the store refuses later (a name the configuration
//! manages) on it too.

mod csv;
mod yaml;

use std::fmt;
use std::path::Path;

use crate::config::{ConfigError, ConfigErrors, DeclaredInstance};
use crate::tls::TlsMode;

/// How a file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Csv,
}

impl Format {
    pub const NAMES: [&'static str; 2] = ["csv", "yaml"];

    /// By extension: `.csv` is CSV, anything else YAML.
    pub fn of_path(path: &Path) -> Format {
        let csv = path
            .extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("csv"));
        if csv {
            Format::Csv
        } else {
            Format::Yaml
        }
    }

    /// One of [`Format::NAMES`].
    pub fn parse(name: &str) -> Option<Format> {
        match name {
            "csv" => Some(Format::Csv),
            "yaml" => Some(Format::Yaml),
            _ => None,
        }
    }
}

/// A good row of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Its place in the file's list (`instances[index]`).
    pub index: usize,
    /// The line where it starts, when it could be found.
    pub line: Option<usize>,
    pub instance: DeclaredInstance,
}

/// One problem with a file: on a line when it is known, else named by its
/// key (`instances[3].port`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub source: String,
    pub line: Option<usize>,
    /// With a line, the key within the row (`port`; empty for the whole
    /// row); without, the full key; empty for the whole file.
    pub key: String,
    pub problem: String,
}

impl Problem {
    /// A problem with `field` of a good row, found after reading (by the
    /// store).
    pub fn in_row(source: &str, row: &Row, field: &str, problem: String) -> Problem {
        let key = match row.line {
            Some(_) => field.to_owned(),
            None => format!("instances[{}].{field}", row.index),
        };
        Problem {
            source: source.to_owned(),
            line: row.line,
            key,
            problem,
        }
    }

    fn whole_file(source: &str, problem: String) -> Problem {
        Problem {
            source: source.to_owned(),
            line: None,
            key: String::new(),
            problem,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.source)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.problem)
    }
}

/// Every problem of a file, in line order; never empty as an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

/// Read and check the file at `path`: its rows, or every problem in it.
/// An instance without `tls_mode` gets `tls_mode` (the fleet's default).
pub fn read(path: &Path, format: Format, tls_mode: TlsMode) -> Result<Vec<Row>, Problems> {
    let source = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| {
        Problems(vec![Problem::whole_file(
            &source,
            format!("cannot read the file: {e}"),
        )])
    })?;
    match format {
        Format::Yaml => yaml::read(&source, &bytes, tls_mode),
        Format::Csv => csv::read(&source, &bytes, tls_mode),
    }
}

/// The checked instances as rows on their lines (`lines[i]` is item `i`'s;
/// empty when unknown), or the walk's problems placed on those lines.
fn rows_or_problems(
    checked: Result<Vec<DeclaredInstance>, ConfigErrors>,
    lines: &[usize],
) -> Result<Vec<Row>, Vec<Problem>> {
    match checked {
        Ok(declared) => Ok(declared
            .into_iter()
            .enumerate()
            .map(|(index, instance)| Row {
                index,
                line: lines.get(index).copied(),
                instance,
            })
            .collect()),
        Err(ConfigErrors(errors)) => Err(errors.into_iter().map(|e| place(e, lines)).collect()),
    }
}

/// Put a problem keyed `instances[i].key` on item `i`'s line, and name the
/// line of every item its message mentions (`already declared by
/// instances[1]`). Without a line, the problem stays as the walk keyed it.
fn place(error: ConfigError, lines: &[usize]) -> Problem {
    let ConfigError {
        source,
        key,
        problem,
    } = error;
    let Some((index, field)) = item_key(&key) else {
        return Problem {
            source,
            line: None,
            key,
            problem,
        };
    };
    let line = lines.get(index).copied();
    Problem {
        source,
        line,
        key: if line.is_some() {
            field.to_owned()
        } else {
            key
        },
        problem: name_lines(&problem, lines),
    }
}

/// `instances[3].port` → `(3, "port")`; `instances[3]` → `(3, "")`.
fn item_key(key: &str) -> Option<(usize, &str)> {
    let rest = key.strip_prefix("instances[")?;
    let (index, rest) = rest.split_once(']')?;
    let field = match rest {
        "" => "",
        _ => rest.strip_prefix('.')?,
    };
    Some((index.parse().ok()?, field))
}

/// Replace each `instances[j]` in `text` with `line N` when item `j`'s line
/// is known.
fn name_lines(text: &str, lines: &[usize]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("instances[") {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        let mention = after
            .find(']')
            .and_then(|end| Some((end, item_key(&after[..=end])?.0)))
            .and_then(|(end, index)| Some((end, lines.get(index)?)));
        match mention {
            Some((end, line)) => {
                out.push_str(&format!("line {line}"));
                rest = &after[end + 1..];
            }
            None => {
                out.push_str("instances[");
                rest = &after["instances[".len()..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn error(key: &str, problem: &str) -> ConfigError {
        ConfigError {
            source: "f".into(),
            key: key.into(),
            problem: problem.into(),
        }
    }

    #[test]
    fn problems_are_placed_on_their_lines() {
        let lines = [3, 7, 9];
        let check = |key: &str, problem: &str, expected: &str| {
            assert_eq!(place(error(key, problem), &lines).to_string(), expected);
        };
        check("instances[1].port", "p", "f:7: port: p");
        check("instances[2]", "not a mapping", "f:9: not a mapping");
        check(
            "instances[2].name",
            "duplicate name; already declared by instances[0]",
            "f:9: name: duplicate name; already declared by line 3",
        );
        check("instances[5].host", "h", "f: instances[5].host: h");
        check("store", "unknown key", "f: store: unknown key");
        check("", "invalid YAML", "f: invalid YAML");
        check(
            "instances[0].x",
            "see instances[9] and instances[ and instances[1]",
            "f:3: x: see instances[9] and instances[ and line 7",
        );
    }

    #[test]
    fn format_by_name_and_extension() {
        for (path, format) in [
            ("a.csv", Format::Csv),
            ("dir.v1/A.CSV", Format::Csv),
            ("a.yaml", Format::Yaml),
            ("a.yml", Format::Yaml),
            ("csv", Format::Yaml),
        ] {
            assert_eq!(Format::of_path(Path::new(path)), format, "{path}");
        }
        for name in Format::NAMES {
            assert!(Format::parse(name).is_some());
        }
        assert_eq!(Format::parse("json"), None);
    }
}
