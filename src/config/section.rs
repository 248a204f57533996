//! [`Section`]: one mapping of the YAML tree being walked, and the walk
//! itself (sub-sections, lists of items, the keys nobody asked for).
//!
//! Getters remove the keys they read, so whatever is left when a section
//! finishes is reported as unknown, with the nearest known key suggested for
//! a misspelling. Problems go to the [`Report`]; the typed getters, which
//! record a problem and fall back to a default instead of stopping, are in
//! `value.rs`.

use serde_yaml::{Mapping, Value};

use super::report::Report;

/// One mapping of the tree being walked. Getters remove the keys they read,
/// so whatever remains when the section finishes is unknown.
pub(super) struct Section<'r> {
    /// Key path of this mapping (`store`, `instances[2]`); empty for the root.
    pub(super) prefix: String,
    pub(super) map: Mapping,
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
    use super::*;

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
