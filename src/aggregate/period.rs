//! Calendar periods: the one containing a day, the one before it, and
//! which one a run aggregates.
//!
//! The period before is always the previous *calendar* period of the same
//! type (for March, February, whatever its length), never a window of the
//! same number of days: that is what people compare months with.

use chrono::{Datelike, Days, NaiveDate};

pub use crate::message::aggregate::PeriodType;

/// One period: its type and its first and last day, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub period: PeriodType,
    pub start: NaiveDate,
    pub end: NaiveDate,
}

impl Window {
    /// The period of type `period` that contains `day`.
    pub fn containing(period: PeriodType, day: NaiveDate) -> Window {
        let (start, end) = match period {
            PeriodType::Daily => (day, day),
            PeriodType::Weekly => {
                let monday = back(day, u64::from(day.weekday().num_days_from_monday()));
                (monday, forward(monday, 6))
            }
            PeriodType::Monthly => months(day, day.month(), 1),
            PeriodType::Quarterly => months(day, (day.month() - 1) / 3 * 3 + 1, 3),
            PeriodType::Yearly => months(day, 1, 12),
        };
        Window { period, start, end }
    }

    /// The period to aggregate on `today`: the current one when `current`,
    /// else the last completed one.
    pub fn chosen(period: PeriodType, today: NaiveDate, current: bool) -> Window {
        let this = Window::containing(period, today);
        if current {
            this
        } else {
            this.previous()
        }
    }

    /// The calendar period of the same type just before this one.
    pub fn previous(&self) -> Window {
        Window::containing(self.period, back(self.start, 1))
    }

    pub fn contains(&self, day: NaiveDate) -> bool {
        self.start <= day && day <= self.end
    }
}

/// `count` months from the first of `month` in `day`'s year.
fn months(day: NaiveDate, month: u32, count: u32) -> (NaiveDate, NaiveDate) {
    // Months 1..=12 of a year chrono can represent: `day` itself is in it.
    let start = NaiveDate::from_ymd_opt(day.year(), month, 1).unwrap_or(day);
    let next = start
        .checked_add_months(chrono::Months::new(count))
        .unwrap_or(NaiveDate::MAX);
    (start, back(next, 1))
}

fn back(day: NaiveDate, days: u64) -> NaiveDate {
    day.checked_sub_days(Days::new(days))
        .unwrap_or(NaiveDate::MIN)
}

fn forward(day: NaiveDate, days: u64) -> NaiveDate {
    day.checked_add_days(Days::new(days))
        .unwrap_or(NaiveDate::MAX)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn check(period: PeriodType, day: &str, expected: (&str, &str)) {
        let w = Window::containing(period, d(day));
        assert_eq!(
            (w.start, w.end),
            (d(expected.0), d(expected.1)),
            "{period} of {day}"
        );
    }

    #[test]
    fn the_period_containing_a_day() {
        use PeriodType::*;
        check(Daily, "2026-01-31", ("2026-01-31", "2026-01-31"));
        // 2026-01-01 is a Thursday: its ISO week starts in 2025.
        check(Weekly, "2026-01-01", ("2025-12-29", "2026-01-04"));
        check(Weekly, "2026-01-04", ("2025-12-29", "2026-01-04"));
        check(Weekly, "2026-01-05", ("2026-01-05", "2026-01-11"));
        check(Monthly, "2024-02-15", ("2024-02-01", "2024-02-29"));
        check(Monthly, "2026-12-31", ("2026-12-01", "2026-12-31"));
        check(Quarterly, "2026-03-31", ("2026-01-01", "2026-03-31"));
        check(Quarterly, "2026-04-01", ("2026-04-01", "2026-06-30"));
        check(Quarterly, "2026-11-30", ("2026-10-01", "2026-12-31"));
        check(Yearly, "2026-07-04", ("2026-01-01", "2026-12-31"));
    }

    #[test]
    fn the_previous_period_is_the_calendar_one() {
        use PeriodType::*;
        let prev = |p, day: &str| {
            let w = Window::containing(p, d(day)).previous();
            (w.start, w.end)
        };
        assert_eq!(
            prev(Daily, "2026-01-01"),
            (d("2025-12-31"), d("2025-12-31"))
        );
        assert_eq!(
            prev(Weekly, "2026-01-07"),
            (d("2025-12-29"), d("2026-01-04"))
        );
        assert_eq!(
            prev(Monthly, "2026-03-10"),
            (d("2026-02-01"), d("2026-02-28"))
        );
        assert_eq!(
            prev(Quarterly, "2026-02-01"),
            (d("2025-10-01"), d("2025-12-31"))
        );
        assert_eq!(
            prev(Yearly, "2026-02-01"),
            (d("2025-01-01"), d("2025-12-31"))
        );
    }

    #[test]
    fn a_run_takes_the_last_completed_period_unless_asked_for_the_current() {
        let today = d("2026-04-01");
        let last = Window::chosen(PeriodType::Quarterly, today, false);
        assert_eq!((last.start, last.end), (d("2026-01-01"), d("2026-03-31")));
        let current = Window::chosen(PeriodType::Quarterly, today, true);
        assert_eq!(
            (current.start, current.end),
            (d("2026-04-01"), d("2026-06-30"))
        );
        let yesterday = Window::chosen(PeriodType::Daily, today, false);
        assert_eq!(yesterday.start, d("2026-03-31"));
    }
}
