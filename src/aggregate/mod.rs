//! Period aggregates of the daily size history: what one period's days
//! say (average, maximum, minimum, how many days, the first and last of
//! them, the growth rate inside the period) and how the period compares
//! with the one before it (change in MiB and percent, trend).
//!
//! Pure: the `aggregate` job reads the days from the store, this module
//! computes, the store files the result.
//!
//! Where this departs from the reference (WhaleFall's aggregation):
//! - Averages are kept as exact fractions until the end and then rounded
//!   *half away from zero* to whole MiB ([`div_round`]); the reference
//!   truncates. The change in MiB is computed from the two exact averages
//!   and rounded the same way; the percent change is rounded to
//!   hundredths, half away from zero, and the trend is read from that
//!   rounded percent, so a reader can check it from what is shown.
//! - A previous period without data gives an *unknown* change and trend
//!   (`None`), where the reference writes 0 and `stable`.
//! - A previous period whose average is 0 MiB has no percent change; the
//!   trend is then `growing` if the size grew, else `stable`.
//! - The growth rate is the rate inside the period, MiB per day from the
//!   first to the last day with data; the reference repeats the percent
//!   change there. A period with one day of data has none.
//! - Only the days with data count: a missing day neither lowers the
//!   average nor counts as a sample.
//! - The instance's figures are those of its daily totals (the average
//!   total, the largest and smallest total); the reference's instance
//!   `avg_size_mb` is the average size *per database*, next to a mean
//!   total, which reads as the instance's size and is not.

pub mod period;

use chrono::NaiveDate;
use serde::Serialize;

pub use period::{PeriodType, Window};

/// Percent change (in hundredths of a percent) beyond which a period is
/// growing or shrinking: ±5 %, the reference's threshold. Exactly ±5.00 %
/// is `stable`.
pub const TREND_THRESHOLD_CENTIPERCENT: i128 = 500;

/// One day's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    pub day: NaiveDate,
    pub size_mb: i64,
}

/// How a period compares with the one before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trend {
    Growing,
    Shrinking,
    Stable,
    /// The previous period has no data.
    Unknown,
}

impl Trend {
    pub fn as_str(self) -> &'static str {
        match self {
            Trend::Growing => "growing",
            Trend::Shrinking => "shrinking",
            Trend::Stable => "stable",
            Trend::Unknown => "unknown",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        [
            Trend::Growing,
            Trend::Shrinking,
            Trend::Stable,
            Trend::Unknown,
        ]
        .into_iter()
        .find(|t| t.as_str() == name)
    }
}

/// The figures of one scope (a database, or the instance) for one period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Aggregate {
    /// Average over the days with data, MiB, rounded half away from zero.
    pub avg_size_mb: i64,
    pub max_size_mb: i64,
    pub min_size_mb: i64,
    /// Days with data in the period.
    pub sample_count: i64,
    pub first_date: NaiveDate,
    pub last_date: NaiveDate,
    /// Change of the average against the previous period, MiB; `None`
    /// when that period has no data.
    pub size_change_mb: Option<i64>,
    /// The same in percent of the previous average, to hundredths; `None`
    /// when that period has no data or averaged 0 MiB.
    pub size_change_percent: Option<f64>,
    /// MiB per day from the first to the last day with data, to
    /// hundredths; `None` with a single day.
    pub growth_rate_mb_per_day: Option<f64>,
    pub trend: Trend,
}

/// One period's aggregates of one instance: what a run files.
#[derive(Debug, Clone, PartialEq)]
pub struct PeriodSet {
    pub window: Window,
    /// Each database with data in the period, by name.
    pub databases: Vec<(String, Aggregate)>,
    /// The instance's, from its daily totals, when it has any.
    pub instance: Option<Aggregate>,
}

/// The daily history a period set is computed from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    /// Each database's days, by name.
    pub databases: std::collections::BTreeMap<String, Vec<Sample>>,
    /// The instance's daily totals.
    pub totals: Vec<Sample>,
}

impl PeriodSet {
    /// Every aggregate of `window` that `history` gives.
    pub fn compute(window: Window, history: &History) -> PeriodSet {
        let databases = history
            .databases
            .iter()
            .filter_map(|(name, days)| Some((name.clone(), aggregate(&window, days)?)))
            .collect();
        let instance = aggregate(&window, &history.totals);
        PeriodSet {
            window,
            databases,
            instance,
        }
    }
}

/// The aggregate of `window` from `samples`, which may hold days of the
/// previous period too (they give the change) and of nothing else; `None`
/// when no day of `window` has data.
pub fn aggregate(window: &Window, samples: &[Sample]) -> Option<Aggregate> {
    let mut current: Vec<Sample> = samples
        .iter()
        .copied()
        .filter(|s| window.contains(s.day))
        .collect();
    current.sort_by_key(|s| s.day);
    let (first, last) = (*current.first()?, *current.last()?);
    let previous = window.previous();
    let before: Vec<Sample> = samples
        .iter()
        .copied()
        .filter(|s| previous.contains(s.day))
        .collect();
    let (sum, count) = totals(&current);
    let change = change(&current, &before);
    Some(Aggregate {
        avg_size_mb: narrow(div_round(sum, count)),
        max_size_mb: current.iter().map(|s| s.size_mb).max().unwrap_or(0),
        min_size_mb: current.iter().map(|s| s.size_mb).min().unwrap_or(0),
        sample_count: narrow(count),
        first_date: first.day,
        last_date: last.day,
        size_change_mb: change.mb,
        size_change_percent: change.percent,
        growth_rate_mb_per_day: growth_rate(first, last),
        trend: change.trend,
    })
}

struct Change {
    mb: Option<i64>,
    percent: Option<f64>,
    trend: Trend,
}

/// The change of the exact average of `current` against that of `before`.
fn change(current: &[Sample], before: &[Sample]) -> Change {
    let (sum, count) = totals(current);
    let (prev_sum, prev_count) = totals(before);
    if prev_count == 0 {
        let (mb, percent, trend) = (None, None, Trend::Unknown);
        return Change { mb, percent, trend };
    }
    // avg − prev_avg = diff / (count × prev_count), exactly.
    let diff = sum * prev_count - prev_sum * count;
    let mb = Some(narrow(div_round(diff, count * prev_count)));
    if prev_sum == 0 {
        let trend = if diff > 0 {
            Trend::Growing
        } else {
            Trend::Stable
        };
        return Change {
            mb,
            percent: None,
            trend,
        };
    }
    // (avg − prev_avg) / prev_avg × 100, in hundredths of a percent.
    let centi = div_round(diff * 10_000, prev_sum * count);
    let trend = if centi > TREND_THRESHOLD_CENTIPERCENT {
        Trend::Growing
    } else if centi < -TREND_THRESHOLD_CENTIPERCENT {
        Trend::Shrinking
    } else {
        Trend::Stable
    };
    Change {
        mb,
        percent: Some(hundredths(centi)),
        trend,
    }
}

fn growth_rate(first: Sample, last: Sample) -> Option<f64> {
    let days = i128::from((last.day - first.day).num_days());
    if days == 0 {
        return None;
    }
    let delta = i128::from(last.size_mb) - i128::from(first.size_mb);
    Some(hundredths(div_round(delta * 100, days)))
}

fn totals(samples: &[Sample]) -> (i128, i128) {
    let sum = samples.iter().map(|s| i128::from(s.size_mb)).sum();
    (sum, i128::try_from(samples.len()).unwrap_or(i128::MAX))
}

/// `n / d` rounded half away from zero (`d` > 0): 2.5 → 3, −2.5 → −3.
pub fn div_round(n: i128, d: i128) -> i128 {
    if d <= 0 {
        return 0;
    }
    let (q, r) = (n / d, n % d);
    if 2 * r.abs() >= d {
        q + n.signum()
    } else {
        q
    }
}

fn narrow(n: i128) -> i64 {
    i64::try_from(n).unwrap_or(if n < 0 { i64::MIN } else { i64::MAX })
}

#[allow(clippy::cast_precision_loss)]
fn hundredths(centi: i128) -> f64 {
    narrow(centi) as f64 / 100.0
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
