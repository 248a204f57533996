//! `capacity:`: what the capacity reads need from the operator, the
//! ceilings that forecasts count down to and the history they fit.
//!
//! ```yaml
//! capacity:
//!   forecast_days: 30          # days of history a forecast fits
//!   ceilings:
//!     - { selector: "tier=1", size: 2TiB }             # each matching instance
//!     - { instance: pay-prod, size: 500GiB }           # one instance
//!     - { instance: pay-prod, database: ledger, size: 100GiB }
//!   table_sizes_schedule: false   # no default weekly `table_sizes` schedule
//! ```
//!
//! Table sizes are capacity history that no command files by itself, so
//! `serve` runs `table-sizes-weekly` (Sundays at 03:00) unless a schedule
//! of kind `table_sizes` is declared or `table_sizes_schedule` is `false`
//! (see `schedules.rs`).
//!
//! The most specific ceiling wins: an instance's own over a selector's,
//! the first of equals in file order. A database has only the ceilings that
//! name it.

use serde::Serialize;

use super::section::Section;
use crate::domain::InstanceName;
use crate::labels::Selector;

/// The `capacity:` section.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CapacitySettings {
    /// Days of daily sizes a forecast fits (default 30).
    pub forecast_days: u32,
    pub ceilings: Vec<Ceiling>,
    /// Run the default weekly `table_sizes` schedule when none is declared
    /// (default `true`).
    pub table_sizes_schedule: bool,
}

/// Where a ceiling applies, and how big it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ceiling {
    pub instance: Option<InstanceName>,
    pub database: Option<String>,
    #[serde(skip)]
    pub selector: Option<Selector>,
    pub size_mb: i64,
}

impl CapacitySettings {
    /// The ceiling of `instance`'s total (labels `labels`), MiB.
    pub fn instance_ceiling(&self, instance: &str, labels: &crate::labels::Labels) -> Option<i64> {
        let own = self.ceilings.iter().find(|c| {
            c.database.is_none() && c.instance.as_ref().is_some_and(|i| i.as_str() == instance)
        });
        let by_selector = || {
            self.ceilings
                .iter()
                .find(|c| c.selector.as_ref().is_some_and(|s| s.matches(labels)))
        };
        own.or_else(by_selector).map(|c| c.size_mb)
    }

    /// The ceiling of one database of `instance`, MiB.
    pub fn database_ceiling(&self, instance: &str, database: &str) -> Option<i64> {
        self.ceilings
            .iter()
            .find(|c| {
                c.instance.as_ref().is_some_and(|i| i.as_str() == instance)
                    && c.database.as_deref() == Some(database)
            })
            .map(|c| c.size_mb)
    }
}

pub(super) fn capacity(s: &mut Section<'_>) -> CapacitySettings {
    CapacitySettings {
        forecast_days: s.int_in("forecast_days", 3..=3650, 30),
        ceilings: s
            .list("ceilings", "ceiling", ceiling)
            .into_iter()
            .flatten()
            .collect(),
        table_sizes_schedule: s.bool_or("table_sizes_schedule", true),
    }
}

fn ceiling(s: &mut Section<'_>, _index: usize) -> Option<Ceiling> {
    let instance = s.non_empty_string("instance").and_then(|raw| {
        InstanceName::parse(&raw)
            .map_err(|e| s.error("instance", &e.to_string()))
            .ok()
    });
    let selector = s.non_empty_string("selector").and_then(|raw| {
        Selector::parse(&raw)
            .map_err(|e| s.error("selector", &e.to_string()))
            .ok()
    });
    let database = s.non_empty_string("database");
    let size_mb = s.non_empty_string("size").and_then(|raw| {
        size_mb(&raw)
            .map_err(|problem| s.error("size", &problem))
            .ok()
    });
    match (&instance, &selector) {
        (Some(_), Some(_)) => s.error("selector", "give `instance` or `selector`, not both"),
        (None, None) if s.is_valid("instance") && s.is_valid("selector") => s.error(
            "instance",
            "required: the instance (or a `selector`) the ceiling applies to",
        ),
        _ => {}
    }
    if database.is_some() && selector.is_some() {
        s.error(
            "database",
            "a database ceiling names its `instance`, not a selector",
        );
    }
    if size_mb.is_none() && s.is_valid("size") {
        s.error("size", "required key is missing");
    }
    Some(Ceiling {
        instance,
        database,
        selector,
        size_mb: size_mb?,
    })
}

/// `500GiB`, `2TiB`, `750MiB` (binary units, as the sizes dbfleet stores)
/// as MiB.
pub fn size_mb(raw: &str) -> Result<i64, String> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (number, unit) = raw.split_at(split);
    let factor = match unit.trim() {
        "MiB" => 1,
        "GiB" => 1024,
        "TiB" => 1024 * 1024,
        _ => {
            return Err(format!(
                "expected a size such as `500GiB` (MiB, GiB or TiB), found `{raw}`"
            ))
        }
    };
    match number.parse::<i64>() {
        Ok(n) if n > 0 => n
            .checked_mul(factor)
            .ok_or_else(|| format!("`{raw}` is too large")),
        _ => Err(format!(
            "expected a positive whole number before the unit, found `{raw}`"
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::test_support::problems;

    #[test]
    fn sizes_take_binary_units() {
        assert_eq!(size_mb("750MiB"), Ok(750));
        assert_eq!(size_mb("500GiB"), Ok(512_000));
        assert_eq!(size_mb("2 TiB"), Ok(2 * 1024 * 1024));
        assert!(size_mb("500GB").unwrap_err().contains("MiB, GiB or TiB"));
        assert!(size_mb("0GiB").unwrap_err().contains("positive"));
        assert!(size_mb("GiB").unwrap_err().contains("positive"));
    }

    #[test]
    fn each_bad_ceiling_is_reported_on_its_key() {
        let yaml = "capacity:\n  ceilings:\n\
                    \x20   - { instance: a, selector: 'env=prod', size: 1GiB }\n\
                    \x20   - { size: 1GiB }\n\
                    \x20   - { instance: a, size: 10GB }\n\
                    \x20   - { selector: 'env=prod', database: x, size: 1GiB }\n\
                    \x20   - { instance: a }\n";
        let found = problems(yaml);
        for expected in [
            "capacity.ceilings[0].selector: give `instance` or `selector`, not both",
            "capacity.ceilings[1].instance: required",
            "capacity.ceilings[2].size: expected a size such as `500GiB`",
            "capacity.ceilings[3].database: a database ceiling names its `instance`",
            "capacity.ceilings[4].size: required key is missing",
        ] {
            assert!(
                found.iter().any(|p| p.contains(expected)),
                "{expected} in {found:#?}"
            );
        }
    }
}
