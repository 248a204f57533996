//! Days until full: a robust straight line through the last days of daily
//! sizes, against a ceiling.
//!
//! The fit is Theil–Sen: the slope is the median of the slopes between
//! every pair of days, the intercept the median of what is left. A
//! least-squares line follows a one-day spike (a bulk load dropped the next
//! day, a snapshot that counted a database twice) and would forecast from
//! it; the median ignores up to about a third of the days being outliers,
//! so one bad day moves the slope hardly at all. Missing days cost nothing:
//! slopes are per day between the days there are.
//!
//! A forecast is a number of days only when it has one: without enough
//! history or without a ceiling it says which is missing, and a size that
//! does not grow has no day it fills up. It is zero only for a size at or
//! above its ceiling. `read.rs` applies it to the fleet.

mod read;

pub use read::{forecasts, Forecast, Scope};

use chrono::NaiveDate;
use serde::Serialize;

/// Days of history a forecast needs at least.
pub const MIN_DAYS: usize = 3;

/// A straight line through daily sizes, MiB against days.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fit {
    /// MiB per day.
    pub slope: f64,
    /// MiB on the first day of the history.
    pub intercept: f64,
}

/// The Theil–Sen line through `points` (day, MiB); `None` with fewer than
/// two distinct days.
pub fn theil_sen(points: &[(NaiveDate, i64)]) -> Option<Fit> {
    let origin = points.iter().map(|(day, _)| *day).min()?;
    let xy: Vec<(f64, f64)> = points
        .iter()
        .map(|(day, mb)| (days(origin, *day), as_f64(*mb)))
        .collect();
    let mut slopes = Vec::new();
    for (i, (x1, y1)) in xy.iter().enumerate() {
        for (x2, y2) in &xy[i + 1..] {
            if x2 != x1 {
                slopes.push((y2 - y1) / (x2 - x1));
            }
        }
    }
    let slope = median(&mut slopes)?;
    let mut rest: Vec<f64> = xy.iter().map(|(x, y)| y - slope * x).collect();
    Some(Fit {
        slope,
        intercept: median(&mut rest)?,
    })
}

/// What a forecast found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outlook {
    /// The latest day's size, MiB.
    pub current_mb: Option<i64>,
    /// The fitted growth, MiB per day (negative: shrinking).
    pub growth_mb_per_day: Option<f64>,
    /// Whole days until the size reaches the ceiling; `None` when unknown
    /// or never (see `reason`).
    pub days_left: Option<i64>,
    /// Why `days_left` is absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Days of history fitted.
    pub samples: usize,
}

/// Days until `history` (day, MiB; any order, gaps allowed) reaches
/// `ceiling_mb`.
pub fn outlook(history: &[(NaiveDate, i64)], ceiling_mb: Option<i64>) -> Outlook {
    let current_mb = history
        .iter()
        .max_by_key(|(day, _)| *day)
        .map(|(_, mb)| *mb);
    let mut outlook = Outlook {
        current_mb,
        growth_mb_per_day: None,
        days_left: None,
        reason: None,
        samples: history.len(),
    };
    let fit = theil_sen(history).filter(|_| history.len() >= MIN_DAYS);
    let (Some(fit), Some(current)) = (fit, current_mb) else {
        let have = history.len();
        outlook.reason = Some(format!("only {have} day(s) of history; {MIN_DAYS} needed"));
        return outlook;
    };
    outlook.growth_mb_per_day = Some((fit.slope * 100.0).round() / 100.0);
    let Some(ceiling) = ceiling_mb else {
        outlook.reason = Some("no ceiling: set one under capacity.ceilings".to_string());
        return outlook;
    };
    if current >= ceiling {
        outlook.days_left = Some(0);
    } else if fit.slope <= 0.0 {
        outlook.reason = Some("not growing".to_string());
    } else {
        let left = as_f64(ceiling - current) / fit.slope;
        // Bounded: a slope of a byte a year is not ten thousand years away.
        #[allow(clippy::cast_possible_truncation)]
        let days = left.ceil().min(36_500.0) as i64;
        outlook.days_left = Some(days);
    }
    outlook
}

fn days(from: NaiveDate, to: NaiveDate) -> f64 {
    as_f64((to - from).num_days())
}

#[allow(clippy::cast_precision_loss)]
fn as_f64(n: i64) -> f64 {
    n as f64
}

fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
