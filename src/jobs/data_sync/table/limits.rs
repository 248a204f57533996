//! The load limits of a copy, as pure functions: the pause that keeps the
//! rows read under `rows_per_second`, and the windows that keep one
//! incremental statement within `max_gap_hours` of its cursor.

use std::time::Duration;

use chrono::{NaiveDate, NaiveDateTime};

/// How long to wait after `rows` were read in `elapsed` so that the
/// average stays at or under `per_second`: the time those rows are due
/// to take, less the time they took.
pub(super) fn pause(rows: u64, elapsed: Duration, per_second: u32) -> Duration {
    if per_second == 0 {
        return Duration::ZERO;
    }
    let due = Duration::from_secs_f64(rows as f64 / f64::from(per_second));
    due.saturating_sub(elapsed)
}

/// The end of the window that starts at `start` (canonical text of a date
/// or timestamp) and spans `gap`; `None` when it reaches `horizon` (the
/// last window ends there) or the text is not a date or time.
pub(super) fn window_end(start: &str, gap: Duration, horizon: &str) -> Option<String> {
    let end = shifted(start, gap)?;
    (end.as_str() < horizon).then_some(end)
}

/// Canonical texts are fixed-width ISO forms, so they compare as text.
fn shifted(text: &str, gap: Duration) -> Option<String> {
    let gap = chrono::Duration::from_std(gap).ok()?;
    if let Ok(t) = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f") {
        let end = t.checked_add_signed(gap)?;
        return Some(end.format("%Y-%m-%d %H:%M:%S%.6f").to_string());
    }
    let d = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    // A date column moves by whole days, at least one.
    let days = ((gap.num_hours() + 23) / 24).max(1);
    let end = d.checked_add_signed(chrono::Duration::days(days))?;
    Some(end.format("%Y-%m-%d").to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3_600);

    #[test]
    fn the_pause_keeps_the_average_rate() {
        let s = Duration::from_secs;
        // 1,000 rows at 500/s are due at 2 s: after 0.5 s, wait 1.5 s.
        assert_eq!(
            pause(1_000, Duration::from_millis(500), 500),
            s(1) + s(1) / 2
        );
        // Behind the rate already: no pause.
        assert_eq!(pause(1_000, s(3), 500), Duration::ZERO);
        assert_eq!(pause(0, Duration::ZERO, 500), Duration::ZERO);
        assert_eq!(pause(1_000, Duration::ZERO, 0), Duration::ZERO);
    }

    #[test]
    fn windows_advance_by_the_gap_up_to_the_horizon() {
        let horizon = "2024-01-03 12:00:00.000000";
        let start = "2024-01-01 06:00:00.000000";
        let first = window_end(start, 24 * HOUR, horizon).unwrap();
        assert_eq!(first, "2024-01-02 06:00:00.000000");
        let second = window_end(&first, 24 * HOUR, horizon).unwrap();
        assert_eq!(second, "2024-01-03 06:00:00.000000");
        // The next would pass the horizon: the last window ends there.
        assert_eq!(window_end(&second, 24 * HOUR, horizon), None);
        // Dates move by whole days.
        assert_eq!(
            window_end("2024-01-01", 6 * HOUR, "2024-02-01").unwrap(),
            "2024-01-02"
        );
        assert_eq!(window_end("not a time", HOUR, horizon), None);
    }
}
