//! Maintenance windows: times of the week when no scheduled run starts.
//!
//! Written `[DAYS ]HH:MM-HH:MM` in the configured time zone: `01:00-03:00`
//! every day, `sat,sun 22:00-06:00` from Saturday and Sunday evenings to the
//! next mornings (the days are those the window starts on; an end at or
//! before the start is on the next day), `mon-fri 09:00-18:00`.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Weekday};
use chrono_tz::Tz;

/// A window, starting on some weekdays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Bit `n` set: the window starts on the weekday `n` days after Monday.
    days: u8,
    from: NaiveTime,
    to: NaiveTime,
}

/// A window that does not parse; the message says what was expected.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct WindowError(String);

const EVERY_DAY: u8 = 0b111_1111;

impl Window {
    pub fn parse(text: &str) -> Result<Self, WindowError> {
        let text = text.trim();
        let (days, times) = match text.rsplit_once(char::is_whitespace) {
            Some((days, times)) => (parse_days(days.trim())?, times),
            None => (EVERY_DAY, text),
        };
        let (from, to) = times.split_once('-').ok_or_else(|| {
            WindowError(format!(
                "expected `[DAYS ]HH:MM-HH:MM` such as `sat,sun 22:00-06:00`, found `{text}`"
            ))
        })?;
        let (from, to) = (parse_time(from)?, parse_time(to)?);
        if from == to {
            return Err(WindowError(format!(
                "`{text}` starts and ends at the same time; a window is shorter than a day"
            )));
        }
        Ok(Self { days, from, to })
    }

    /// The end of this window if `at` is inside it.
    pub(super) fn end_if_inside(&self, at: &DateTime<Tz>) -> Option<DateTime<Tz>> {
        let (date, time) = (at.date_naive(), at.time());
        let starts_on = |d: NaiveDate| self.days & (1 << d.weekday().num_days_from_monday()) != 0;
        let end_date = if self.from < self.to {
            (starts_on(date) && self.from <= time && time < self.to).then_some(date)
        } else if starts_on(date) && time >= self.from {
            Some(date + Duration::days(1))
        } else {
            let yesterday = date - Duration::days(1);
            (starts_on(yesterday) && time < self.to).then_some(date)
        }?;
        Some(local(&at.timezone(), end_date.and_time(self.to)))
    }
}

/// A local time as an instant; a time the clock skips (spring forward) is
/// taken an hour later, a repeated one at its first occurrence.
fn local(tz: &Tz, at: chrono::NaiveDateTime) -> DateTime<Tz> {
    tz.from_local_datetime(&at)
        .earliest()
        .or_else(|| {
            tz.from_local_datetime(&(at + Duration::hours(1)))
                .earliest()
        })
        .unwrap_or_else(|| tz.from_utc_datetime(&at))
}

fn parse_time(text: &str) -> Result<NaiveTime, WindowError> {
    NaiveTime::parse_from_str(text.trim(), "%H:%M")
        .map_err(|_| WindowError(format!("expected a time `HH:MM`, found `{}`", text.trim())))
}

/// `sat,sun`, `mon-fri`, `daily`.
fn parse_days(text: &str) -> Result<u8, WindowError> {
    if text.eq_ignore_ascii_case("daily") {
        return Ok(EVERY_DAY);
    }
    let mut days = 0u8;
    for part in text.split(',') {
        let (first, last) = match part.split_once('-') {
            Some((a, b)) => (weekday(a)?, weekday(b)?),
            None => (weekday(part)?, weekday(part)?),
        };
        let mut day = first;
        loop {
            days |= 1 << day.num_days_from_monday();
            if day == last {
                break;
            }
            day = day.succ();
        }
    }
    Ok(days)
}

fn weekday(text: &str) -> Result<Weekday, WindowError> {
    text.trim().parse::<Weekday>().map_err(|_| {
        WindowError(format!(
            "expected weekdays such as `mon-fri` or `sat,sun`, found `{}`",
            text.trim()
        ))
    })
}
