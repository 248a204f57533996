//! Labels on instances, and selectors that pick instances by them.
//!
//! A fleet of thousands of instances is environments, teams, clusters and
//! regions, not a flat list. Labels and selectors use Kubernetes' syntax
//! and rules because the operators who run dbfleet already read them every
//! day: a key is an optional DNS-subdomain prefix and `/`, then a name of
//! at most 63 characters; a value is at most 63 characters. Both start and
//! end with a letter or digit and hold `-`, `_` and `.` inside. Keeping to
//! those rules means a label copied from a Kubernetes object means the same
//! thing here.
//!
//! Labels are data, never secrets: they appear in listings, logs and the
//! batch they selected.

mod selector;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

pub use selector::{Selector, SelectorError};

/// The reserved label that places an instance in a network zone: its jobs
/// go only to workers started with the same `worker.zone`.
pub const ZONE: &str = "zone";

/// The label naming the cluster (or the server) an instance belongs to:
/// the fleet's cap of concurrent jobs (`job.max_per_host`) counts per
/// cluster when an instance has one, so records of one server under
/// several host names share a cap.
pub const CLUSTER: &str = "cluster";

/// The labels of one instance, ordered by key so listings and the store
/// read the same every time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Labels(BTreeMap<String, String>);

impl Labels {
    /// Labels from key/value pairs, each checked; every bad pair is named.
    pub fn new<K, V>(pairs: impl IntoIterator<Item = (K, V)>) -> Result<Self, Vec<String>>
    where
        K: Into<String>,
        V: Into<String>,
    {
        let mut labels = BTreeMap::new();
        let mut problems = Vec::new();
        for (key, value) in pairs {
            let (key, value) = (key.into(), value.into());
            if let Err(problem) = check_key(&key) {
                problems.push(format!("label key `{key}`: {problem}"));
            } else if let Err(problem) = check_value(&value) {
                problems.push(format!("label `{key}` value `{value}`: {problem}"));
            } else {
                labels.insert(key, value);
            }
        }
        if problems.is_empty() {
            Ok(Self(labels))
        } else {
            Err(problems)
        }
    }

    /// Parse `key=value` pairs as typed on a command line (`--label env=prod`).
    pub fn parse_pairs<'a>(pairs: impl IntoIterator<Item = &'a str>) -> Result<Self, Vec<String>> {
        let mut split = Vec::new();
        let mut problems = Vec::new();
        for pair in pairs {
            match pair.split_once('=') {
                Some((key, value)) => split.push((key.trim(), value.trim())),
                None => problems.push(format!("label `{pair}`: expected key=value")),
            }
        }
        match Self::new(split) {
            Ok(labels) if problems.is_empty() => Ok(labels),
            Ok(_) => Err(problems),
            Err(more) => Err(problems.into_iter().chain(more).collect()),
        }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// The instance's network zone ([`ZONE`]); `None`: the default zone.
    pub fn zone(&self) -> Option<&str> {
        self.get(ZONE).filter(|zone| !zone.is_empty())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The store's form: a JSON object, `{}` when there are none.
    pub fn to_json(&self) -> String {
        let map = self
            .0
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::from(v.as_str())));
        serde_json::Value::Object(map.collect()).to_string()
    }

    /// Read the store's form back; labels written by this module only.
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text).map(Self)
    }
}

impl fmt::Display for Labels {
    /// `env=prod,team=payments`, the form `--label` and selectors accept.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (key, value)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{key}={value}")?;
        }
        Ok(())
    }
}

const MAX_NAME: usize = 63;
const MAX_PREFIX: usize = 253;

/// A key: `[prefix/]name`, the prefix a DNS subdomain.
pub(crate) fn check_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        let dns = |label: &str| {
            !label.is_empty()
                && label.len() <= MAX_NAME
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        };
        if prefix.len() > MAX_PREFIX || !prefix.split('.').all(dns) {
            return Err("the prefix before `/` must be a lower-case DNS subdomain".into());
        }
    }
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    check_word(name)
}

/// A value: empty, or a word like a key's name.
pub(crate) fn check_value(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Ok(());
    }
    check_word(value)
}

fn check_word(word: &str) -> Result<(), String> {
    let alnum = |c: char| c.is_ascii_alphanumeric();
    if word.len() > MAX_NAME {
        return Err(format!("at most {MAX_NAME} characters"));
    }
    if !word
        .chars()
        .all(|c| alnum(c) || matches!(c, '-' | '_' | '.'))
    {
        return Err("only ASCII letters, digits, `-`, `_` and `.`".into());
    }
    if !word.starts_with(alnum) || !word.ends_with(alnum) {
        return Err("must start and end with a letter or digit".into());
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values_follow_kubernetes_rules() {
        for good in ["env", "app.kubernetes.io/name", "a", "team_2", "x-y.z"] {
            assert_eq!(check_key(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "-env",
            "env-",
            "UPPER/x",
            "a/",
            "é",
            "a b",
            &"k".repeat(64),
        ] {
            assert!(check_key(bad).is_err(), "{bad}");
        }
        assert_eq!(check_value(""), Ok(()));
        assert!(check_value("prod!").is_err());
    }

    #[test]
    fn every_bad_pair_is_named_at_once() {
        let problems = Labels::parse_pairs(["env=prod", "nokey", "-x=1", "team=a b"]).unwrap_err();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].contains("`nokey`: expected key=value"));
        assert!(problems[1].contains("label key `-x`"));
        assert!(problems[2].contains("label `team` value `a b`"));
    }

    #[test]
    fn labels_round_trip_through_the_store_form_and_display() {
        let labels = Labels::parse_pairs(["team=payments", "env=prod"]).unwrap();
        assert_eq!(labels.to_string(), "env=prod,team=payments");
        assert_eq!(Labels::from_json(&labels.to_json()).unwrap(), labels);
        assert_eq!(Labels::default().to_json(), "{}");
    }
}
