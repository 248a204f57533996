//! When a schedule runs: cron times in the configured time zone, kept out
//! of maintenance windows, owed once within a grace window.
//!
//! This module only decides ([`Timing::due`]); it does no IO and reads no
//! clock, so every rule is tested with the instants a test chooses. The
//! control plane's scheduler (`fleet::scheduler`) asks it each tick and
//! does what it says.
//!
//! The rules, in order:
//! - the run owed is for the latest cron time at or before now (its
//!   *slot*); earlier slots nobody ran are superseded, so a control plane
//!   that was down for three slots runs once, not three times;
//! - a slot before the schedule was owed (`owed_from`: when it was first
//!   seen, or resumed) or already run is owed nothing;
//! - a slot inside a maintenance window starts when the window ends;
//! - a slot whose start is more than the grace window ago is missed: a run
//!   long after its time is worse than none (it would collide with the day's
//!   traffic the schedule was placed to avoid).

mod window;

#[cfg(test)]
mod tests;

use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds};
use croner::Cron;

pub use window::{Window, WindowError};

/// The default grace window: a control plane restarted within it still
/// runs the slot it missed.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(3600);

/// A cron pattern, its time zone, its grace and its maintenance windows.
#[derive(Debug, Clone)]
pub struct Timing {
    /// As written (the parsed form normalises names to numbers).
    pattern: String,
    cron: Cron,
    tz: Tz,
    grace: chrono::Duration,
    windows: Vec<Window>,
}

/// What a schedule should do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Nothing is owed.
    Idle,
    /// Start the run for `slot` now.
    Fire { slot: DateTime<Utc> },
    /// `slot` falls in a maintenance window: its run starts at `until`.
    Held {
        slot: DateTime<Utc>,
        until: DateTime<Utc>,
    },
    /// `slot` was not run and its grace window has passed.
    Missed { slot: DateTime<Utc> },
}

/// A cron pattern that does not parse.
#[derive(Debug, thiserror::Error)]
#[error(
    "not a cron pattern ({0}); use 5 fields `min hour day month weekday`, or 6 with seconds first"
)]
pub struct PatternError(String);

impl Timing {
    /// `pattern`: 5 fields (`0 2 * * *`), or 6 with seconds first, or an
    /// alias like `@daily`; read in `tz`.
    pub fn new(
        pattern: &str,
        tz: Tz,
        grace: Duration,
        windows: Vec<Window>,
    ) -> Result<Self, PatternError> {
        let parser = CronParser::builder().seconds(Seconds::Optional).build();
        let cron = parser
            .parse(pattern)
            .map_err(|e| PatternError(e.to_string()))?;
        Ok(Self {
            pattern: pattern.to_string(),
            cron,
            tz,
            grace: chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::MAX),
            windows,
        })
    }

    /// The pattern as written.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    pub fn grace(&self) -> Duration {
        self.grace.to_std().unwrap_or(Duration::MAX)
    }

    /// What is owed at `now`, for a schedule owed runs from `owed_from`
    /// whose latest run was for `last` (see the module's rules).
    pub fn due(
        &self,
        now: DateTime<Utc>,
        owed_from: DateTime<Utc>,
        last: Option<DateTime<Utc>>,
    ) -> Due {
        let Some(slot) = self.slot_at(now) else {
            return Due::Idle;
        };
        if slot < owed_from || last.is_some_and(|last| self.covers(last, slot)) {
            return Due::Idle;
        }
        let starts = self.starts_at(slot);
        if starts > now {
            Due::Held {
                slot,
                until: starts,
            }
        } else if now - starts > self.grace {
            Due::Missed { slot }
        } else {
            Due::Fire { slot }
        }
    }

    /// The calendar day of `at` in the schedule's zone.
    pub fn day_of(&self, at: DateTime<Utc>) -> chrono::NaiveDate {
        at.with_timezone(&self.tz).date_naive()
    }

    /// When the next run after `now` starts: its slot, or the end of the
    /// maintenance window it falls in.
    pub fn next_start(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = now.with_timezone(&self.tz);
        let next = self.cron.find_next_occurrence(&local, false).ok()?;
        Some(self.starts_at(next.with_timezone(&Utc)))
    }

    /// Whether the run for `last` makes the one for `slot` needless: `slot`
    /// is not later, in time or on the wall clock (when the clock goes back
    /// an hour, 01:30 comes twice and runs once, as cron does).
    fn covers(&self, last: DateTime<Utc>, slot: DateTime<Utc>) -> bool {
        let wall = |t: DateTime<Utc>| t.with_timezone(&self.tz).naive_local();
        last >= slot || wall(last) >= wall(slot)
    }

    /// The latest cron time at or before `now`.
    fn slot_at(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = now.with_timezone(&self.tz);
        let slot = self.cron.find_previous_occurrence(&local, true).ok()?;
        Some(slot.with_timezone(&Utc))
    }

    /// When a run for `slot` may start: at once, or when the maintenance
    /// windows it falls in (one after another) have ended.
    fn starts_at(&self, slot: DateTime<Utc>) -> DateTime<Utc> {
        let mut at = slot;
        // Windows are at most a day long; a week of them back to back is
        // the longest a run can be held.
        for _ in 0..7 * self.windows.len().max(1) {
            let local = at.with_timezone(&self.tz);
            match self.windows.iter().find_map(|w| w.end_if_inside(&local)) {
                Some(end) => at = end.with_timezone(&Utc),
                None => break,
            }
        }
        at
    }
}
