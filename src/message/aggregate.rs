//! `aggregate`: period figures of one instance's daily size history
//! (average, maximum, minimum, change against the period before), at
//! database and instance level, computed from the control store alone.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// A kind of calendar period. Weeks are ISO weeks (Monday to Sunday),
/// quarters start in January, April, July and October.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeriodType {
    Daily,
    Weekly,
    Monthly,
    Quarterly,
    Yearly,
}

impl PeriodType {
    /// Every period type, shortest first.
    pub const ALL: [PeriodType; 5] = [
        PeriodType::Daily,
        PeriodType::Weekly,
        PeriodType::Monthly,
        PeriodType::Quarterly,
        PeriodType::Yearly,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PeriodType::Daily => "daily",
            PeriodType::Weekly => "weekly",
            PeriodType::Monthly => "monthly",
            PeriodType::Quarterly => "quarterly",
            PeriodType::Yearly => "yearly",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == name)
    }
}

impl std::fmt::Display for PeriodType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which periods, which one of each, counted from which day.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Params {
    /// The period types to aggregate; every one when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub periods: Option<Vec<PeriodType>>,
    /// `false` (the default): the last completed period of each type;
    /// `true`: the current one, still partial.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub current: bool,
    /// The day to count from instead of the job's today (a backfill).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<NaiveDate>,
}

impl Params {
    /// The requested period types, each once, shortest first.
    pub fn periods(&self) -> Vec<PeriodType> {
        let Some(wanted) = &self.periods else {
            return PeriodType::ALL.to_vec();
        };
        let mut periods = wanted.clone();
        periods.sort();
        periods.dedup();
        periods
    }
}

/// What one period type's aggregation wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeriodOutput {
    pub period: PeriodType,
    /// The period's first day.
    pub start: NaiveDate,
    /// The period's last day (in the future for a current period).
    pub end: NaiveDate,
    /// Databases with data in the period, one aggregate each.
    pub databases: u32,
    /// Whether the instance's own aggregate was written (it had a total
    /// on some day of the period).
    pub instance_row: bool,
}

/// What one run produced.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Output {
    /// One entry per period type, shortest first.
    pub periods: Vec<PeriodOutput>,
}

impl Output {
    /// Database aggregates written, over every period.
    pub fn database_aggregates(&self) -> i64 {
        self.periods.iter().map(|p| i64::from(p.databases)).sum()
    }

    /// Instance aggregates written, over every period.
    pub fn instance_aggregates(&self) -> i64 {
        let written = self.periods.iter().filter(|p| p.instance_row).count();
        i64::try_from(written).unwrap_or(i64::MAX)
    }
}
