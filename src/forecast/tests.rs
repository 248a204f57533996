use chrono::NaiveDate;

use super::*;

fn day(n: i64) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + chrono::Duration::days(n)
}

/// `mb(n)` on days `0..days`.
fn history(days: i64, mb: impl Fn(i64) -> i64) -> Vec<(NaiveDate, i64)> {
    (0..days).map(|n| (day(n), mb(n))).collect()
}

#[test]
fn a_linear_history_fills_its_ceiling_on_the_day_the_line_says() {
    // 1,000 MiB growing 10 MiB a day for 30 days: 1,290 now; 2,000 is 71 days on.
    let linear = history(30, |n| 1000 + 10 * n);
    let fit = theil_sen(&linear).unwrap();
    assert!((fit.slope - 10.0).abs() < 1e-9 && (fit.intercept - 1000.0).abs() < 1e-9);
    let o = outlook(&linear, Some(2000));
    assert_eq!(o.current_mb, Some(1290));
    assert_eq!(o.growth_mb_per_day, Some(10.0));
    assert_eq!(o.days_left, Some(71));
    assert_eq!((o.reason, o.samples), (None, 30));
}

#[test]
fn a_flat_or_shrinking_history_never_fills_up() {
    let flat = outlook(&history(30, |_| 5000), Some(6000));
    assert_eq!((flat.days_left, flat.growth_mb_per_day), (None, Some(0.0)));
    assert_eq!(flat.reason.as_deref(), Some("not growing"));
    let shrinking = outlook(&history(30, |n| 5000 - 20 * n), Some(6000));
    assert_eq!(shrinking.days_left, None);
    assert_eq!(shrinking.growth_mb_per_day, Some(-20.0));
}

#[test]
fn a_one_day_spike_does_not_move_the_forecast() {
    let mut spiky = history(30, |n| 1000 + 10 * n);
    spiky[20].1 += 50_000; // a bulk load dropped the next day
    let o = outlook(&spiky, Some(2000));
    assert_eq!(o.growth_mb_per_day, Some(10.0), "{o:?}");
    assert_eq!(o.days_left, Some(71));
    // Least squares would have followed it.
    let n = 30.0;
    let xs: Vec<f64> = (0..30).map(f64::from).collect();
    #[allow(clippy::cast_precision_loss)]
    let ys: Vec<f64> = spiky.iter().map(|(_, mb)| *mb as f64).collect();
    let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
    let cov: f64 = xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let var: f64 = xs.iter().map(|x| (x - mx) * (x - mx)).sum();
    assert!(cov / var > 50.0, "least squares slope {}", cov / var);
}

#[test]
fn missing_days_and_unordered_rows_change_nothing() {
    let mut gappy: Vec<_> = history(30, |n| 1000 + 10 * n)
        .into_iter()
        .filter(|(d, _)| (*d - day(0)).num_days() % 3 != 1)
        .collect();
    gappy.reverse();
    let o = outlook(&gappy, Some(2000));
    assert_eq!((o.growth_mb_per_day, o.days_left), (Some(10.0), Some(71)));
}

#[test]
fn without_history_or_ceiling_the_forecast_is_unknown_never_zero() {
    let short = outlook(&history(2, |n| 100 + n), Some(200));
    assert_eq!(short.days_left, None);
    assert!(short.reason.unwrap().contains("only 2 day(s)"));
    let none = outlook(&[], Some(200));
    assert_eq!((none.current_mb, none.days_left), (None, None));
    let no_ceiling = outlook(&history(10, |n| 100 + n), None);
    assert_eq!(no_ceiling.days_left, None);
    assert_eq!(no_ceiling.growth_mb_per_day, Some(1.0));
    assert!(no_ceiling.reason.unwrap().contains("no ceiling"));
}

#[test]
fn a_size_at_its_ceiling_has_zero_days_left() {
    let full = outlook(&history(10, |n| 1990 + 5 * n), Some(2000));
    assert_eq!(full.days_left, Some(0));
    let shrinking_but_full = outlook(&history(10, |n| 2100 - n), Some(2000));
    assert_eq!(shrinking_but_full.days_left, Some(0));
}
