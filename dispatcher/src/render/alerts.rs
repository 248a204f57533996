//! `dbfleet alert list`: each (rule, subject)'s state, then the last sends.

use std::io::Write;

use anyhow::Result;
use dbfleet::store::{AlertSend, StoredAlert};

pub fn list(
    out: &mut impl Write,
    states: &[StoredAlert],
    sends: &[AlertSend],
    as_json: bool,
) -> Result<()> {
    if as_json {
        let both = serde_json::json!({ "states": states, "sends": sends });
        return super::json(out, &both);
    }
    state_table(out, states)?;
    writeln!(out)?;
    send_table(out, sends)
}

fn state_table(out: &mut impl Write, states: &[StoredAlert]) -> Result<()> {
    writeln!(
        out,
        "{:<20} {:<36} {:<9} {:<23} {:<7} SUMMARY",
        "RULE", "SUBJECT", "STATE", "SINCE", "TO SEND"
    )?;
    for s in states {
        writeln!(
            out,
            "{:<20} {:<36} {:<9} {:<23} {:<7} {}",
            s.rule,
            s.subject,
            s.state.as_str(),
            s.since.format("%Y-%m-%d %H:%M:%S UTC"),
            if s.to_send { "yes" } else { "no" },
            s.summary
        )?;
    }
    Ok(())
}

fn send_table(out: &mut impl Write, sends: &[AlertSend]) -> Result<()> {
    writeln!(
        out,
        "{:<23} {:<16} {:<20} {:<36} {:<9} {:<9} {:>8}  ERROR",
        "SENT", "CHANNEL", "RULE", "SUBJECT", "STATE", "STATUS", "ATTEMPTS"
    )?;
    for s in sends {
        writeln!(
            out,
            "{:<23} {:<16} {:<20} {:<36} {:<9} {:<9} {:>8}  {}",
            s.sent_at.format("%Y-%m-%d %H:%M:%S UTC"),
            s.channel,
            s.rule,
            s.subject,
            s.state.as_str(),
            if s.delivered { "delivered" } else { "failed" },
            s.attempts,
            s.error.as_deref().unwrap_or("")
        )?;
    }
    Ok(())
}
