//! Schedules as a table, and the answer to a pause or resume.

use std::io::Write;

use anyhow::Result;
use chrono::{DateTime, Utc};
use dbfleet::fleet::scheduler::Overview;
use dbfleet::store::ScheduleState;

pub fn list(out: &mut impl Write, schedules: &[Overview], as_json: bool) -> Result<()> {
    if as_json {
        return super::json(out, schedules);
    }
    if schedules.is_empty() {
        writeln!(
            out,
            "no schedules (declare them under `schedules:` in the configuration)"
        )?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<24} {:<14} {:<16} {:<7} {:<20} {:<36}  NEXT START",
        "NAME", "KIND", "CRON", "STATE", "LAST RUN", "LAST BATCH"
    )?;
    for s in schedules {
        let last = s.last_run.as_ref();
        writeln!(
            out,
            "{:<24} {:<14} {:<16} {:<7} {:<20} {:<36}  {}",
            s.name,
            s.kind,
            s.cron,
            if s.paused { "paused" } else { "active" },
            time(last.map(|r| r.slot)),
            last.map_or("-".to_string(), |r| r.batch_id.to_string()),
            time(s.next_start),
        )?;
    }
    Ok(())
}

pub fn state(out: &mut impl Write, state: &ScheduleState) -> Result<()> {
    let word = if state.paused { "paused" } else { "resumed" };
    writeln!(out, "schedule `{}` {word}", state.name)?;
    Ok(())
}

fn time(at: Option<DateTime<Utc>>) -> String {
    at.map_or("-".to_string(), |t| {
        t.format("%Y-%m-%d %H:%M:%S").to_string()
    })
}
