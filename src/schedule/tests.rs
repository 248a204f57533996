//! The scheduling rules, each on instants chosen by the test: the clock is
//! an argument, never read.

#![allow(clippy::unwrap_used)]

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::{Due, Timing, Window};

const PARIS: Tz = chrono_tz::Europe::Paris;

/// An instant given as Paris wall-clock time.
fn paris(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    PARIS
        .with_ymd_and_hms(y, mo, d, h, mi, s)
        .earliest()
        .unwrap()
        .with_timezone(&Utc)
}

fn timing(pattern: &str, grace_minutes: u64, windows: &[&str]) -> Timing {
    let windows = windows.iter().map(|w| Window::parse(w).unwrap()).collect();
    let grace = std::time::Duration::from_secs(grace_minutes * 60);
    Timing::new(pattern, PARIS, grace, windows).unwrap()
}

/// Long before any slot the tests use.
fn always() -> DateTime<Utc> {
    paris(2020, 1, 1, 0, 0, 0)
}

#[test]
fn a_slot_fires_at_its_time_in_the_configured_zone_and_once() {
    let t = timing("0 2 * * *", 60, &[]);
    let slot = paris(2026, 11, 30, 2, 0, 0);
    assert_eq!(slot, Utc.with_ymd_and_hms(2026, 11, 30, 1, 0, 0).unwrap());
    let yesterday = paris(2026, 11, 29, 2, 0, 0);
    let before = t.due(paris(2026, 11, 30, 1, 59, 59), always(), None);
    assert_eq!(before, Due::Missed { slot: yesterday });
    assert_eq!(
        t.due(paris(2026, 11, 30, 2, 0, 0), always(), None),
        Due::Fire { slot }
    );
    assert_eq!(
        t.due(paris(2026, 11, 30, 2, 0, 30), always(), Some(slot)),
        Due::Idle
    );
}

#[test]
fn a_slot_missed_within_grace_fires_once_and_after_grace_is_missed() {
    let t = timing("0 2 * * *", 60, &[]);
    let slot = paris(2026, 11, 30, 2, 0, 0);
    let yesterday = paris(2026, 11, 29, 2, 0, 0);
    assert_eq!(
        t.due(paris(2026, 11, 30, 2, 59, 0), always(), Some(yesterday)),
        Due::Fire { slot }
    );
    assert_eq!(
        t.due(paris(2026, 11, 30, 3, 0, 1), always(), Some(yesterday)),
        Due::Missed { slot }
    );
}

#[test]
fn several_missed_slots_run_once_for_the_latest() {
    let t = timing("*/5 * * * *", 60, &[]);
    let last = paris(2026, 11, 30, 10, 0, 0);
    let now = paris(2026, 11, 30, 10, 17, 0);
    let latest = paris(2026, 11, 30, 10, 15, 0);
    assert_eq!(t.due(now, always(), Some(last)), Due::Fire { slot: latest });
    assert_eq!(t.due(now, always(), Some(latest)), Due::Idle);
}

#[test]
fn nothing_is_owed_for_a_time_before_the_schedule_was_owed() {
    // Declared (or resumed) at 02:10: the 02:00 run is not owed.
    let t = timing("0 2 * * *", 60, &[]);
    let owed_from = paris(2026, 11, 30, 2, 10, 0);
    assert_eq!(
        t.due(paris(2026, 11, 30, 2, 20, 0), owed_from, None),
        Due::Idle
    );
    let tomorrow = paris(2026, 12, 1, 2, 0, 0);
    assert_eq!(
        t.due(tomorrow, owed_from, None),
        Due::Fire { slot: tomorrow }
    );
}

#[test]
fn a_slot_in_a_maintenance_window_starts_when_the_window_ends() {
    let t = timing("0 2 * * *", 60, &["01:30-02:30"]);
    let slot = paris(2026, 11, 30, 2, 0, 0);
    let until = paris(2026, 11, 30, 2, 30, 0);
    assert_eq!(
        t.due(paris(2026, 11, 30, 2, 0, 0), always(), None),
        Due::Held { slot, until }
    );
    assert_eq!(
        t.due(paris(2026, 11, 30, 2, 30, 0), always(), None),
        Due::Fire { slot }
    );
    // The grace window counts from the end of the maintenance window.
    assert_eq!(
        t.due(paris(2026, 11, 30, 3, 29, 0), always(), None),
        Due::Fire { slot }
    );
    assert_eq!(
        t.due(paris(2026, 11, 30, 3, 31, 0), always(), None),
        Due::Missed { slot }
    );
    assert_eq!(
        t.next_start(paris(2026, 11, 30, 3, 0, 0)),
        Some(paris(2026, 12, 1, 2, 30, 0))
    );
}

#[test]
fn a_window_over_midnight_holds_on_its_days_only() {
    // Saturday 2026-11-28 22:00 to Sunday 06:00, and Sunday night to Monday.
    let t = timing("0 3 * * *", 60, &["sat,sun 22:00-06:00"]);
    let sunday = paris(2026, 11, 29, 3, 0, 0);
    let held = t.due(sunday, always(), None);
    let until = paris(2026, 11, 29, 6, 0, 0);
    assert_eq!(
        held,
        Due::Held {
            slot: sunday,
            until
        }
    );
    let monday = paris(2026, 11, 30, 3, 0, 0);
    let until = paris(2026, 11, 30, 6, 0, 0);
    assert_eq!(
        t.due(monday, always(), None),
        Due::Held {
            slot: monday,
            until
        }
    );
    let tuesday = paris(2026, 12, 1, 3, 0, 0);
    assert_eq!(t.due(tuesday, always(), None), Due::Fire { slot: tuesday });
}

#[test]
fn windows_back_to_back_hold_until_the_last_ends() {
    let t = timing("0 2 * * *", 60, &["01:00-03:00", "03:00-04:00"]);
    let slot = paris(2026, 11, 30, 2, 0, 0);
    let until = paris(2026, 11, 30, 4, 0, 0);
    assert_eq!(
        t.due(paris(2026, 11, 30, 2, 1, 0), always(), None),
        Due::Held { slot, until }
    );
}

#[test]
fn a_repeated_wall_clock_hour_runs_its_slot_once() {
    // 2026-10-25: Paris goes from 03:00 CEST back to 02:00 CET.
    let t = timing("30 2 * * *", 180, &[]);
    let first = Utc.with_ymd_and_hms(2026, 10, 25, 0, 30, 0).unwrap();
    let second = Utc.with_ymd_and_hms(2026, 10, 25, 1, 30, 0).unwrap();
    assert!(matches!(t.due(first, always(), None), Due::Fire { .. }));
    let Due::Fire { slot } = t.due(first, always(), None) else {
        unreachable!()
    };
    assert_eq!(t.due(second, always(), Some(slot)), Due::Idle);
}

#[test]
fn seconds_are_optional_and_bad_patterns_say_what_is_expected() {
    let t = timing("*/10 * * * * *", 1, &[]);
    let now = Utc.with_ymd_and_hms(2026, 11, 30, 10, 0, 17).unwrap();
    let slot = Utc.with_ymd_and_hms(2026, 11, 30, 10, 0, 10).unwrap();
    assert_eq!(t.due(now, always(), None), Due::Fire { slot });
    let bad = Timing::new("every day", PARIS, super::DEFAULT_GRACE, vec![]).unwrap_err();
    assert!(bad.to_string().contains("5 fields"), "{bad}");
}

#[test]
fn windows_parse_days_ranges_and_reject_nonsense() {
    assert!(Window::parse("mon-fri 09:00-18:00").is_ok());
    assert!(Window::parse("daily 01:00-02:00").is_ok());
    let e = Window::parse("someday 01:00-02:00").unwrap_err();
    assert!(e.to_string().contains("`someday`"), "{e}");
    let e = Window::parse("25:00-02:00").unwrap_err();
    assert!(e.to_string().contains("HH:MM"), "{e}");
    assert!(Window::parse("01:00").is_err());
    let e = Window::parse("daily 00:00-00:00").unwrap_err();
    assert!(e.to_string().contains("same time"), "{e}");
}
