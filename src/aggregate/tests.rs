//! Hand-computed expectations: each test writes the arithmetic out.

use super::*;

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn days(rows: &[(&str, i64)]) -> Vec<Sample> {
    rows.iter()
        .map(|(day, size_mb)| Sample {
            day: d(day),
            size_mb: *size_mb,
        })
        .collect()
}

fn month(day: &str) -> Window {
    Window::containing(PeriodType::Monthly, d(day))
}

#[test]
fn division_rounds_half_away_from_zero() {
    for (n, q, expected) in [
        (5, 2, 3),   // 2.5
        (-5, 2, -3), // −2.5
        (7, 3, 2),   // 2.33
        (8, 3, 3),   // 2.67
        (-7, 3, -2),
        (-8, 3, -3),
        (0, 4, 0),
        (6, 3, 2),
    ] {
        assert_eq!(div_round(n, q), expected, "{n} / {q}");
    }
}

#[test]
fn averages_count_only_the_days_with_data_and_round_half_up() {
    // March with three days of data out of 31: 100, 101, 104 → sum 305,
    // 305 / 3 = 101.67 → 102 (the 28 missing days do not count).
    let samples = days(&[
        ("2026-03-01", 100),
        ("2026-03-15", 101),
        ("2026-03-31", 104),
    ]);
    let a = aggregate(&month("2026-03-10"), &samples).unwrap();
    assert_eq!(
        (a.avg_size_mb, a.max_size_mb, a.min_size_mb),
        (102, 104, 100)
    );
    assert_eq!(a.sample_count, 3);
    assert_eq!(
        (a.first_date, a.last_date),
        (d("2026-03-01"), d("2026-03-31"))
    );
    // (104 − 100) / 30 days = 0.1333 → 0.13 MiB a day.
    assert_eq!(a.growth_rate_mb_per_day, Some(0.13));
    // February has no data: the change is unknown, not zero.
    assert_eq!((a.size_change_mb, a.size_change_percent), (None, None));
    assert_eq!(a.trend, Trend::Unknown);

    // Two days 100 and 101: 100.5 rounds away from zero to 101.
    let half = days(&[("2026-03-01", 100), ("2026-03-02", 101)]);
    assert_eq!(
        aggregate(&month("2026-03-01"), &half).unwrap().avg_size_mb,
        101
    );
}

#[test]
fn a_period_without_data_has_no_aggregate() {
    let samples = days(&[("2026-02-10", 100)]);
    assert_eq!(aggregate(&month("2026-03-01"), &samples), None);
}

/// February averages 100 MiB; March's average `avg` gives `percent` and
/// the trend: strictly beyond ±5 % moves, ±5.00 % exactly is stable.
#[test]
fn the_trend_turns_strictly_beyond_five_percent() {
    for (march, change_mb, percent, trend) in [
        (105, 5, 5.0, Trend::Stable),
        (106, 6, 6.0, Trend::Growing),
        (95, -5, -5.0, Trend::Stable),
        (94, -6, -6.0, Trend::Shrinking),
        (100, 0, 0.0, Trend::Stable),
    ] {
        let samples = days(&[("2026-02-28", 100), ("2026-03-01", march)]);
        let a = aggregate(&month("2026-03-01"), &samples).unwrap();
        assert_eq!(a.size_change_mb, Some(change_mb), "{march}");
        assert_eq!(a.size_change_percent, Some(percent), "{march}");
        assert_eq!(a.trend, trend, "{march}");
    }
}

/// Just past the edge, and exactly on it.
#[test]
fn the_trend_reads_the_percent_rounded_to_hundredths() {
    // Previous: 2000. Current: 2100 and 2101 → 2100.5, a change of
    // 100.5 MiB (→ 101) and 100.5 / 2000 = 5.025 % → 5.03 %: growing.
    let samples = days(&[
        ("2026-02-01", 2000),
        ("2026-03-01", 2100),
        ("2026-03-02", 2101),
    ]);
    let a = aggregate(&month("2026-03-01"), &samples).unwrap();
    assert_eq!(a.size_change_mb, Some(101));
    assert_eq!(a.size_change_percent, Some(5.03));
    assert_eq!(a.trend, Trend::Growing);
    // 10,000 against 10,500 is exactly +5.00 %: stable.
    let edge = days(&[("2026-02-01", 10_000), ("2026-03-01", 10_500)]);
    let a = aggregate(&month("2026-03-01"), &edge).unwrap();
    assert_eq!((a.size_change_percent, a.trend), (Some(5.0), Trend::Stable));
}

#[test]
fn a_previous_average_of_zero_has_no_percent() {
    let samples = days(&[("2026-02-01", 0), ("2026-03-01", 10)]);
    let a = aggregate(&month("2026-03-01"), &samples).unwrap();
    assert_eq!(a.size_change_mb, Some(10));
    assert_eq!(a.size_change_percent, None);
    assert_eq!(a.trend, Trend::Growing);
}

#[test]
fn the_change_is_computed_from_exact_averages() {
    // Previous: 10 and 11 → 10.5. Current: 12 and 13 → 12.5.
    // Change 2 MiB exactly; 2 / 10.5 = 19.047 % → 19.05 %.
    let samples = days(&[
        ("2026-02-01", 10),
        ("2026-02-02", 11),
        ("2026-03-01", 12),
        ("2026-03-02", 13),
    ]);
    let a = aggregate(&month("2026-03-01"), &samples).unwrap();
    assert_eq!(a.avg_size_mb, 13, "12.5 rounds to 13");
    assert_eq!(a.size_change_mb, Some(2));
    assert_eq!(a.size_change_percent, Some(19.05));
}
