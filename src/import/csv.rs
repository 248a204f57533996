//! CSV files: a header naming the columns, which are the configuration's
//! keys, then one instance per record.
//!
//! Each record becomes the mapping a YAML item would be (its non-empty
//! cells; an empty cell is an absent key) and goes through the
//! configuration's walk, so the checks and messages are the same. `port` and
//! `active` cells are read as YAML scalars, so `5432` is a number and `false`
//! a boolean, as in a YAML file; every other cell stays the text as written
//! (a name such as `007` is not a number). A `labels` cell is
//! `key=value;key=value`, the mapping a YAML item's `labels:` would be.
//! Cells are trimmed. The header is
//! checked first and on its own: a missing or unknown column would
//! otherwise be one problem per row.

use ::csv::{Position, ReaderBuilder, StringRecord, Trim};
use serde_yaml::{Mapping, Value};

use super::{rows_or_problems, Problem, Problems, Row};
use crate::config;
use crate::tls::TlsMode;

/// Every column, in the order the README shows them.
const COLUMNS: [&str; 15] = [
    "name",
    "engine",
    "host",
    "port",
    "username",
    "password_env",
    "password_file",
    "credential",
    "database",
    "active",
    "labels",
    "tls_mode",
    "tls_ca_file",
    "tls_cert_file",
    "tls_key_file",
];

/// Columns every instance needs: a header without one is refused at once.
/// (`username` is needed unless a row names a `credential`; each row says.)
const REQUIRED: [&str; 3] = ["name", "engine", "host"];

/// Columns whose cells are YAML scalars rather than text.
const TYPED: [&str; 2] = ["port", "active"];

pub(super) fn read(source: &str, bytes: &[u8], tls_mode: TlsMode) -> Result<Vec<Row>, Problems> {
    // Spreadsheets often start their CSV with a byte-order mark.
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let file = File { source, bytes };
    let mut reader = ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(Trim::All)
        .from_reader(bytes);
    let mut records = reader.records().filter(|r| !r.as_ref().is_ok_and(blank));
    let header = match records.next() {
        Some(Ok(header)) => header,
        Some(Err(e)) => return Err(Problems(vec![file.unreadable(&e)])),
        None => {
            let problem = format!("no header line; expected the columns {}", COLUMNS.join(","));
            return Err(Problems(vec![Problem::whole_file(source, problem)]));
        }
    };
    let columns = file.columns(&header).map_err(Problems)?;
    let (items, lines, mut problems) = file.items(&columns, records);
    match rows_or_problems(config::check_instances(source, items, tls_mode), &lines) {
        Ok(rows) if problems.is_empty() => Ok(rows),
        Ok(_) => Err(Problems(problems)),
        Err(found) => {
            problems.extend(found);
            problems.sort_by_key(|p| p.line);
            Err(Problems(problems))
        }
    }
}

/// A line with nothing but separators and spaces.
fn blank(record: &StringRecord) -> bool {
    record.iter().all(str::is_empty)
}

/// The file being read: its name in problems, and its bytes to find lines.
struct File<'a> {
    source: &'a str,
    bytes: &'a [u8],
}

impl File<'_> {
    /// The header's columns, or every problem with it.
    fn columns(&self, header: &StringRecord) -> Result<Vec<&'static str>, Vec<Problem>> {
        let mut problems = Vec::new();
        let mut columns = Vec::new();
        for name in header {
            match COLUMNS.iter().find(|c| **c == name) {
                Some(c) if columns.contains(c) => {
                    problems.push(self.at(header, format!("column `{c}` appears twice")));
                }
                Some(c) => columns.push(*c),
                None => problems.push(self.at(header, unknown_column(name))),
            }
        }
        for missing in REQUIRED.iter().filter(|c| !columns.contains(c)) {
            let problem = format!("missing column `{missing}`, which every instance needs");
            problems.push(self.at(header, problem));
        }
        if problems.is_empty() {
            Ok(columns)
        } else {
            Err(problems)
        }
    }

    /// Each record as an item for the walk, with its line; records that
    /// cannot be one are problems.
    fn items(
        &self,
        columns: &[&'static str],
        records: impl Iterator<Item = ::csv::Result<StringRecord>>,
    ) -> (Vec<Value>, Vec<usize>, Vec<Problem>) {
        let (mut items, mut lines, mut problems) = (Vec::new(), Vec::new(), Vec::new());
        for record in records {
            match record.map_err(|e| self.unreadable(&e)) {
                Err(problem) => problems.push(problem),
                Ok(record) if record.len() != columns.len() => {
                    let (found, header) = (record.len(), columns.len());
                    let problem = format!("has {found} fields; the header has {header}");
                    problems.push(self.at(&record, problem));
                }
                Ok(record) => {
                    lines.push(self.line(record.position()).unwrap_or(0));
                    items.push(item(columns, &record));
                }
            }
        }
        (items, lines, problems)
    }

    /// The physical line (from 1) where the record at `at` starts. The
    /// reader places a record where the previous one ended, before the
    /// empty lines it skips, so those are counted here.
    fn line(&self, at: Option<&Position>) -> Option<usize> {
        let at = at?;
        let start = usize::try_from(at.byte()).ok()?;
        let empty_lines = self
            .bytes
            .get(start..)?
            .iter()
            .take_while(|b| matches!(b, b'\r' | b'\n'))
            .filter(|b| **b == b'\n')
            .count();
        Some(usize::try_from(at.line()).ok()? + empty_lines)
    }

    /// A problem with a whole record.
    fn at(&self, record: &StringRecord, problem: String) -> Problem {
        Problem {
            source: self.source.to_owned(),
            line: self.line(record.position()),
            key: String::new(),
            problem,
        }
    }

    /// A record the reader could not take (a cell that is not UTF-8);
    /// never shows the cell.
    fn unreadable(&self, e: &::csv::Error) -> Problem {
        let problem = match e.kind() {
            ::csv::ErrorKind::Utf8 { .. } => "a cell is not UTF-8 text".to_owned(),
            _ => format!("cannot read this record: {e}"),
        };
        Problem {
            source: self.source.to_owned(),
            line: self.line(e.position()),
            key: String::new(),
            problem,
        }
    }
}

fn unknown_column(name: &str) -> String {
    if name == "password" {
        // The configuration's own refusal; the cells are never read.
        return "column `password`: plaintext passwords are not accepted; use `password_env` \
                or `password_file` (neither means an empty password)"
            .to_owned();
    }
    format!(
        "unknown column `{name}`; the columns are {}",
        COLUMNS.join(",")
    )
}

/// The mapping a YAML item would be: each non-empty cell under its column.
fn item(columns: &[&'static str], record: &StringRecord) -> Value {
    let mut map = Mapping::new();
    for (column, cell) in columns.iter().zip(record) {
        if cell.is_empty() {
            continue;
        }
        let value = if TYPED.contains(column) {
            scalar(cell)
        } else if *column == "labels" {
            labels(cell)
        } else {
            Value::from(cell)
        };
        map.insert(Value::from(*column), value);
    }
    Value::Mapping(map)
}

/// A number or a boolean as YAML reads it; anything else the text itself.
fn scalar(cell: &str) -> Value {
    match serde_yaml::from_str::<Value>(cell) {
        Ok(typed @ (Value::Number(_) | Value::Bool(_))) => typed,
        _ => Value::from(cell),
    }
}

/// A `labels` cell as a mapping; a cell that is not `key=value` pairs
/// stays text, which the walk refuses as it refuses a YAML string.
fn labels(cell: &str) -> Value {
    let pairs: Option<Mapping> = cell
        .split(';')
        .filter(|pair| !pair.trim().is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=')?;
            Some((Value::from(key.trim()), Value::from(value.trim())))
        })
        .collect();
    pairs.map_or_else(|| Value::from(cell), Value::Mapping)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::domain::DbType;
    use crate::secret::PasswordRef;

    fn problems(text: &str) -> String {
        read("f.csv", text.as_bytes(), TlsMode::Prefer)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn rows_read_as_yaml_items_would() {
        let text =
            "\u{feff}name,engine,host,port,username,password_env,password_file,database,active\n\
                    007, mariadb ,h1,,u,PW,,,\n\
                    \n\
                    b,pg,\"h,2\",6432,u,,/run/pw,app,false\n";
        let rows = read("f.csv", text.as_bytes(), TlsMode::Prefer).unwrap();
        let a = &rows[0].instance;
        assert_eq!(
            (a.name.as_str(), a.db_type, a.port),
            ("007", DbType::Mysql, 3306)
        );
        assert_eq!(
            (&a.password, a.active),
            (&PasswordRef::Env("PW".into()), true)
        );
        let b = &rows[1].instance;
        assert_eq!((b.host.as_str(), b.port, b.active), ("h,2", 6432, false));
        assert_eq!(b.password, PasswordRef::File(PathBuf::from("/run/pw")));
        assert_eq!(b.database.as_deref(), Some("app"));
        let lines: Vec<_> = rows.iter().map(|r| r.line).collect();
        assert_eq!(lines, [Some(2), Some(4)]);
    }

    #[test]
    fn every_bad_row_is_reported_on_its_line() {
        let text = "name,engine,host,port,username,active\n\
                    a,pg,h,,u,\n\
                    \r\n\
                    b,oracle,h,x,u,yes\n\
                    c,pg,h,1\n\
                    d,pg,\"two\nlines\",1,,\n\
                    a,pg,h,,u,\n";
        assert_eq!(
            problems(text),
            "f.csv:4: engine: instance `b`: unknown engine `oracle`; \
             expected mysql, mariadb, postgresql, postgres or pg\n\
             f.csv:4: port: instance `b`: expected an integer from 1 to 65535, found a string\n\
             f.csv:4: active: instance `b`: expected `true` or `false`, found a string\n\
             f.csv:5: has 4 fields; the header has 6\n\
             f.csv:6: username: instance `d`: required key is missing\n\
             f.csv:8: name: instance `a`: duplicate name; already declared by line 2"
        );
    }

    #[test]
    fn a_bad_header_is_reported_once() {
        assert_eq!(
            problems("name,engine,hostname,name,password\nx,y,z,w,hunter2\n"),
            "f.csv:1: unknown column `hostname`; the columns are \
             name,engine,host,port,username,password_env,password_file,credential,database,active,\
             labels,tls_mode,tls_ca_file,tls_cert_file,tls_key_file\n\
             f.csv:1: column `name` appears twice\n\
             f.csv:1: column `password`: plaintext passwords are not accepted; \
             use `password_env` or `password_file` (neither means an empty password)\n\
             f.csv:1: missing column `host`, which every instance needs"
        );
        assert!(problems("\n\n").starts_with("f.csv: no header line"));
    }

    #[test]
    fn a_cell_that_is_not_text_is_reported_without_its_bytes() {
        let bytes = b"name,engine,host,username\na,pg,h,u\n\nb,pg,\xff\xfe,u\n";
        let found = read("f.csv", bytes, TlsMode::Prefer)
            .unwrap_err()
            .to_string();
        assert_eq!(found, "f.csv:4: a cell is not UTF-8 text");
    }
}
