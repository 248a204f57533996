//! Sync definitions and their run history as tables.

use std::io::Write;

use anyhow::Result;
use chrono::{DateTime, Utc};
use dbfleet::store::{JobRow, StoredSync, SyncRun};
use serde_json::Value;

pub fn list(out: &mut impl Write, syncs: &[StoredSync], as_json: bool) -> Result<()> {
    if as_json {
        return super::json(out, syncs);
    }
    if syncs.is_empty() {
        writeln!(out, "no sync definitions (declare them under `syncs:`)")?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<24} {:<11} {:<9} {:<30} {:>6}  TARGETS",
        "NAME", "MODE", "STATE", "SOURCE", "TABLES"
    )?;
    for s in syncs {
        let d = &s.definition;
        let targets: Vec<String> = d.targets.iter().map(|t| t.to_string()).collect();
        writeln!(
            out,
            "{:<24} {:<11} {:<9} {:<30} {:>6}  {}",
            d.name,
            d.mode.as_str(),
            state(s),
            d.source.to_string(),
            d.tables.len(),
            targets.join(", ")
        )?;
    }
    Ok(())
}

/// `enabled`, `disabled`, the operator's switch said so, or gone from the
/// configuration.
fn state(s: &StoredSync) -> &'static str {
    match (s.declared, s.enabled_override, s.definition.enabled) {
        (false, _, _) => "undeclared",
        (true, Some(false), _) => "disabled*",
        (true, Some(true), _) | (true, None, true) => "enabled",
        (true, None, false) => "disabled",
    }
}

#[derive(serde::Serialize)]
struct Shown<'a> {
    #[serde(flatten)]
    sync: &'a StoredSync,
    /// The latest run of each (target, table).
    latest: Vec<&'a SyncRun>,
}

pub fn show(
    out: &mut impl Write,
    sync: &StoredSync,
    runs: &[SyncRun],
    as_json: bool,
) -> Result<()> {
    let mut latest: Vec<&SyncRun> = Vec::new();
    for run in runs {
        let seen = latest
            .iter()
            .any(|r| r.target == run.target && r.table == run.table);
        if !seen {
            latest.push(run);
        }
    }
    if as_json {
        return super::json(out, &Shown { sync, latest });
    }
    let d = &sync.definition;
    writeln!(out, "sync        {}  ({})", d.name, state(sync))?;
    if let Some(by) = &sync.changed_by {
        writeln!(out, "switched by {by} (dbfleet sync enable clears it)")?;
    }
    writeln!(out, "source      {}", d.source)?;
    for t in &d.targets {
        writeln!(out, "target      {t}")?;
    }
    writeln!(
        out,
        "mode        {}{}, batch {} rows, settle {}s, verify {}",
        d.mode.as_str(),
        if d.mirror { " (mirror)" } else { "" },
        d.batch_size,
        d.settle_seconds,
        d.verify
    )?;
    for t in &d.tables {
        writeln!(
            out,
            "table       {} -> {}  key [{}]  cursor [{}]",
            t.name,
            t.target_name(),
            t.key.join(", "),
            t.cursor.join(", ")
        )?;
    }
    writeln!(out)?;
    history_table(out, &latest)
}

pub fn history(out: &mut impl Write, runs: &[SyncRun], as_json: bool) -> Result<()> {
    if as_json {
        return super::json(out, runs);
    }
    let runs: Vec<&SyncRun> = runs.iter().collect();
    history_table(out, &runs)
}

fn history_table(out: &mut impl Write, runs: &[&SyncRun]) -> Result<()> {
    if runs.is_empty() {
        writeln!(out, "no runs")?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<20} {:<20} {:<28} {:<20} {:<11} {:<8} {:>9} {:>9} {:>8} {:>6}  ERROR",
        "STARTED",
        "DEFINITION",
        "TARGET",
        "TABLE",
        "MODE",
        "STATUS",
        "READ",
        "APPLIED",
        "DELETED",
        "DIFFS"
    )?;
    for r in runs {
        writeln!(
            out,
            "{:<20} {:<20} {:<28} {:<20} {:<11} {:<8} {:>9} {:>9} {:>8} {:>6}  {}",
            time(r.started_at),
            r.definition,
            r.target,
            r.table,
            r.mode,
            r.status,
            r.rows_read,
            r.rows_applied,
            r.rows_deleted,
            r.chunks_differing
                .map_or("-".to_string(), |n| n.to_string()),
            r.error.as_deref().unwrap_or("")
        )?;
    }
    Ok(())
}

fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// The jobs of a `data_sync` batch: one line per job (a target instance),
/// its tables' rows summed; a failed job's error names its tables.
pub fn jobs(out: &mut impl Write, jobs: &[JobRow]) -> Result<()> {
    writeln!(
        out,
        "{:<24} {:<10} {:>6} {:>10} {:>10} {:>8} {:>6}  ERROR",
        "INSTANCE", "STATUS", "TABLES", "READ", "APPLIED", "DELETED", "DIFFS"
    )?;
    for j in jobs {
        let tables = j.output.get("tables").and_then(Value::as_array);
        let tables = tables.map(Vec::as_slice).unwrap_or_default();
        let sum = |key: &str| -> i64 { tables.iter().filter_map(|t| t.get(key)?.as_i64()).sum() };
        let diffs: i64 = tables
            .iter()
            .filter_map(|t| t.get("verification"))
            .map(|v| {
                ["different", "missing", "extra"]
                    .iter()
                    .filter_map(|k| v.get(*k)?.as_i64())
                    .sum::<i64>()
            })
            .sum();
        writeln!(
            out,
            "{:<24} {:<10} {:>6} {:>10} {:>10} {:>8} {:>6}  {}",
            j.instance,
            j.status,
            tables.len(),
            sum("rows_read"),
            sum("rows_applied"),
            sum("rows_deleted"),
            diffs,
            super::error_text(j)
        )?;
    }
    Ok(())
}
