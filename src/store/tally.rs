//! Named integer counters a job kind folds into its batch's summary
//! (capacity sync: `total_records`, `total_size_mb`).
//!
//! The store does not know the names: a job row keeps what it adds
//! (`batch_jobs.tally`), a batch the sum over its succeeded jobs
//! (`batches.summary`), both as JSON objects. Arithmetic saturates, and a
//! counter that falls back to 0 keeps its name, so a batch's summary keeps
//! the same keys once they appeared.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Tally(pub BTreeMap<String, i64>);

impl Tally {
    /// The counter named `key`; 0 when absent.
    pub fn get(&self, key: &str) -> i64 {
        self.0.get(key).copied().unwrap_or(0)
    }

    pub fn add(&mut self, other: &Tally) {
        for (key, n) in &other.0 {
            let counter = self.0.entry(key.clone()).or_insert(0);
            *counter = counter.saturating_add(*n);
        }
    }

    pub fn sub(&mut self, other: &Tally) {
        for (key, n) in &other.0 {
            let counter = self.0.entry(key.clone()).or_insert(0);
            *counter = counter.saturating_sub(*n);
        }
    }

    /// The same counters, each at 0: the summary of a batch that has seen
    /// none of them yet.
    pub fn zeroed(&self) -> Tally {
        Tally(self.0.keys().map(|key| (key.clone(), 0)).collect())
    }

    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, i64)>) -> Self {
        Self(pairs.into_iter().map(|(k, n)| (k.to_string(), n)).collect())
    }

    /// The JSON object stored in `tally` and `summary` columns.
    pub(crate) fn to_json(&self) -> Value {
        Value::Object(
            self.0
                .iter()
                .map(|(key, n)| (key.clone(), Value::from(*n)))
                .collect(),
        )
    }

    /// A stored `tally` or `summary`; NULL reads as empty.
    pub(crate) fn from_json(value: Option<Value>) -> Result<Self, serde_json::Error> {
        value.map_or(Ok(Self::default()), serde_json::from_value)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_by_name() {
        let mut sum = Tally::from_pairs([("records", 5), ("size", 50)]);
        sum.add(&Tally::from_pairs([("records", 2), ("other", 1)]));
        assert_eq!(
            sum,
            Tally::from_pairs([("records", 7), ("size", 50), ("other", 1)])
        );
        sum.sub(&Tally::from_pairs([("records", 7), ("size", 10)]));
        assert_eq!(
            sum,
            Tally::from_pairs([("records", 0), ("size", 40), ("other", 1)])
        );
        assert_eq!((sum.get("records"), sum.get("absent")), (0, 0));
        let mut max = Tally::from_pairs([("n", i64::MAX)]);
        max.add(&Tally::from_pairs([("n", 1)]));
        assert_eq!(max.get("n"), i64::MAX, "saturates");
    }

    #[test]
    fn json_round_trip() {
        let tally = Tally::from_pairs([("total_records", 3), ("total_size_mb", 40)]);
        let json = tally.to_json();
        assert_eq!(
            json.to_string(),
            r#"{"total_records":3,"total_size_mb":40}"#
        );
        assert_eq!(Tally::from_json(Some(json)).unwrap(), tally);
        assert_eq!(Tally::from_json(None).unwrap(), Tally::default());
        assert!(Tally::from_json(Some(Value::from("x"))).is_err());
    }
}
