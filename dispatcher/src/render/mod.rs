//! How results look on a terminal, and as JSON for scripts.
//!
//! Everything is written to the `out` it is given, so a reader that goes
//! away (`dbfleet … | head`) is an error the caller sees, not a panic.

use std::io::Write;

use anyhow::Result;
use dbfleet::fleet::dispatcher::BatchReport;
use dbfleet::fleet::dlq::Replayed;
use dbfleet::message::JobKind;
use dbfleet::store::{Batch, DeadLetter, JobRow, Migrated};

pub mod aggregates;
pub mod alerts;
pub mod history;
pub mod maintenance;
mod registry;
pub mod schedules;
pub mod syncs;
pub mod tables;

pub use registry::{credentials, imported, instances};

fn json<T: serde::Serialize + ?Sized>(out: &mut impl Write, value: &T) -> Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)?;
    Ok(())
}

pub fn batch(out: &mut impl Write, report: &BatchReport, as_json: bool) -> Result<()> {
    if as_json {
        return json(out, report);
    }
    let b = &report.batch;
    writeln!(
        out,
        "batch {} ({}): {} ({} jobs: {} succeeded, {} failed{})",
        b.id,
        b.kind,
        b.status.as_str(),
        b.total,
        b.succeeded,
        b.failed,
        summary_counters(b)
    )?;
    if let Some(selector) = &b.selector {
        writeln!(out, "selector: {selector}")?;
    }
    for (zone, jobs) in &report.waiting_by_zone {
        writeln!(
            out,
            "waiting in zone `{zone}`: {jobs} job(s), for a worker started with worker.zone: {zone}"
        )?;
    }
    if report.parked > 0 {
        writeln!(
            out,
            "parked: {} job(s) published later over the batch's window by `dbfleet serve`",
            report.parked
        )?;
    }
    jobs(out, report)?;
    shared_servers(out, report)
}

/// Instances that are one server, each group on a line.
fn shared_servers(out: &mut impl Write, report: &BatchReport) -> Result<()> {
    for shared in &report.shared_servers {
        writeln!(
            out,
            "\nsame server: {} are one server ({}): its databases are counted once per \
             instance in the totals; keep one record of it",
            shared.instances.join(", "),
            shared.server_identity
        )?;
    }
    Ok(())
}

/// The kind's counters, for the one-line description of a batch.
fn summary_counters(b: &Batch) -> String {
    b.summary
        .0
        .iter()
        .map(|(name, value)| format!("; {name} {value}"))
        .collect()
}

/// One line per job, in the columns of the batch's kind.
fn jobs(out: &mut impl Write, report: &BatchReport) -> Result<()> {
    match JobKind::parse(&report.batch.kind) {
        Some(JobKind::CapacitySync) => capacity_jobs(out, &report.jobs),
        Some(JobKind::Probe) => probe_jobs(out, &report.jobs),
        Some(JobKind::TableSizes) => tables::jobs(out, &report.jobs),
        Some(JobKind::Aggregate) => aggregates::jobs(out, &report.jobs),
        Some(JobKind::DataSync) => syncs::jobs(out, &report.jobs),
        None => generic_jobs(out, &report.jobs),
    }
}

pub(super) fn error_text(j: &JobRow) -> String {
    j.error
        .as_ref()
        .map(|e| format!("{}: {}", e.class.as_str(), e.message))
        .unwrap_or_default()
}

fn capacity_jobs(out: &mut impl Write, jobs: &[JobRow]) -> Result<()> {
    writeln!(
        out,
        "{:<24} {:<10} {:>9} {:>16} {:>12}  ERROR",
        "INSTANCE", "STATUS", "DATABASES", "TOTAL SIZE (MiB)", "NOT MEASURED"
    )?;
    for j in jobs {
        writeln!(
            out,
            "{:<24} {:<10} {:>9} {:>16} {:>12}  {}",
            j.instance,
            j.status,
            j.count("databases"),
            j.count("total_size_mb"),
            j.count("unmeasured"),
            error_text(j)
        )?;
    }
    job_warnings(out, jobs, "warnings")
}

/// Every warning of `jobs`, under `title`, one line each with its instance.
pub(super) fn job_warnings(out: &mut impl Write, jobs: &[JobRow], title: &str) -> Result<()> {
    let mut first = true;
    for j in jobs.iter().filter(|j| !j.warnings.is_empty()) {
        if first {
            writeln!(out, "\n{title}:")?;
            first = false;
        }
        for w in &j.warnings {
            let message = w
                .get("message")
                .and_then(|m| m.as_str())
                .unwrap_or_default();
            writeln!(out, "  {}: {message}", j.instance)?;
        }
    }
    Ok(())
}

fn generic_jobs(out: &mut impl Write, jobs: &[JobRow]) -> Result<()> {
    writeln!(
        out,
        "{:<24} {:<10} {:>8}  ERROR",
        "INSTANCE", "STATUS", "WARNINGS"
    )?;
    for j in jobs {
        let warnings = j.warnings.len();
        writeln!(
            out,
            "{:<24} {:<10} {warnings:>8}  {}",
            j.instance,
            j.status,
            error_text(j)
        )?;
    }
    Ok(())
}

/// A text field of a job's output, or `-`.
fn text<'a>(j: &'a JobRow, key: &str) -> &'a str {
    j.output.get(key).and_then(|v| v.as_str()).unwrap_or("-")
}

fn probe_jobs(out: &mut impl Write, jobs: &[JobRow]) -> Result<()> {
    writeln!(
        out,
        "{:<24} {:<10} {:<10} {:<28} {:<9} {:<16} PRIVILEGES",
        "INSTANCE", "STATUS", "FLAVOR", "VERSION", "READ-ONLY", "TLS"
    )?;
    for j in jobs {
        let read_only = match j.output.get("read_only").and_then(|v| v.as_bool()) {
            Some(true) => "yes",
            Some(false) => "no",
            None => "-",
        };
        let missing = j.warnings.iter().filter(|w| w["code"] == "missing_grant");
        let privileges = match (&j.error, missing.count()) {
            (Some(_), _) => error_text(j),
            (None, 0) => "ok".to_string(),
            (None, n) => format!("{n} missing"),
        };
        writeln!(
            out,
            "{:<24} {:<10} {:<10} {:<28} {:<9} {:<16} {privileges}",
            j.instance,
            j.status,
            text(j, "flavor"),
            text(j, "version"),
            read_only,
            tls(j)
        )?;
    }
    Ok(())
}

/// A probe's connection in one word: `TLSv1.3+verified` (the certificate
/// was checked), `TLSv1.3`, `clear`; `-` when unknown.
fn tls(j: &JobRow) -> String {
    let Some(security) = j.output.get("security") else {
        return "-".to_string();
    };
    if security["encrypted"] != true {
        return "clear".to_string();
    }
    let version = security["tls_version"].as_str().unwrap_or("TLS");
    if security["certificate_verified"] == true {
        format!("{version}+verified")
    } else {
        version.to_string()
    }
}

/// `dbfleet instance check`: one line per instance, then every warning
/// (each missing grant with the statement that adds it).
pub fn check(out: &mut impl Write, report: &BatchReport, as_json: bool) -> Result<()> {
    if as_json {
        return json(out, report);
    }
    probe_jobs(out, &report.jobs)?;
    job_warnings(out, &report.jobs, "to fix")?;
    shared_servers(out, report)?;
    let b = &report.batch;
    let shared = match report.shared_servers.len() {
        0 => String::new(),
        1 => ", 1 server recorded more than once".to_string(),
        n => format!(", {n} servers recorded more than once"),
    };
    writeln!(
        out,
        "\n{} of {} instances reachable, {} with something to fix{shared}",
        b.succeeded, b.total, b.warned
    )?;
    Ok(())
}

pub fn batches(out: &mut impl Write, batches: &[Batch], as_json: bool) -> Result<()> {
    if as_json {
        return json(out, batches);
    }
    writeln!(
        out,
        "{:<36} {:<14} {:<16} {:>5} {:>9} {:>6}  CREATED",
        "ID", "KIND", "STATUS", "JOBS", "SUCCEEDED", "FAILED"
    )?;
    for b in batches {
        writeln!(
            out,
            "{:<36} {:<14} {:<16} {:>5} {:>9} {:>6}  {}",
            b.id,
            b.kind,
            b.status.as_str(),
            b.total,
            b.succeeded,
            b.failed,
            b.created_at.format("%Y-%m-%d %H:%M:%S")
        )?;
    }
    Ok(())
}

/// The end-of-run summary: one line per instance, then the batch.
pub fn summary(out: &mut impl Write, report: &BatchReport, as_json: bool) -> Result<()> {
    if as_json {
        return json(out, report);
    }
    jobs(out, report)?;
    let b = &report.batch;
    let what = match JobKind::parse(&b.kind) {
        Some(JobKind::CapacitySync) => capacity_summary(b),
        _ => summary_counters(b),
    };
    shared_servers(out, report)?;
    writeln!(
        out,
        "\nbatch {} {}: {} of {} instances succeeded, {} failed{what}",
        b.id,
        b.status.as_str(),
        b.succeeded,
        b.total,
        b.failed,
    )?;
    Ok(())
}

/// "; N databases sized, M MiB in all", and how many could not be measured.
fn capacity_summary(b: &Batch) -> String {
    let mut text = format!(
        "; {} databases sized, {} MiB in all",
        b.summary.get("total_records"),
        b.summary.get("total_size_mb")
    );
    let unmeasured = b.summary.get("unmeasured_databases");
    if unmeasured > 0 {
        text.push_str(&format!(
            "; {unmeasured} not measured (their days are partial; see the warnings)"
        ));
    }
    text
}

/// Dead letters: one line each, the preview on one line. JSON carries the
/// preview, never the body.
pub fn dead_letters(out: &mut impl Write, letters: &[DeadLetter], as_json: bool) -> Result<()> {
    if as_json {
        return json(out, letters);
    }
    writeln!(
        out,
        "{:>6} {:<19} {:<7} {:<36} {:<32} PREVIEW",
        "ID", "DEAD AT", "KIND", "MESSAGE ID", "REASON"
    )?;
    for d in letters {
        let replayed = if d.replayed_at.is_some() {
            " (replayed)"
        } else {
            ""
        };
        writeln!(
            out,
            "{:>6} {:<19} {:<7} {:<36} {:<32} {}{}",
            d.id,
            d.dead_at.format("%Y-%m-%d %H:%M:%S"),
            d.kind,
            d.message_id.as_deref().unwrap_or("-"),
            one_line(&d.reason, 32),
            one_line(&d.preview, 80),
            replayed
        )?;
    }
    Ok(())
}

/// `text` on one line (control characters as spaces), cut to `max` characters.
fn one_line(text: &str, max: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() <= max {
        return flat;
    }
    let mut cut: String = flat.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

pub fn replayed(out: &mut impl Write, done: &Replayed) -> Result<()> {
    writeln!(out, "replayed {} dead letter(s)", done.replayed.len())?;
    if !done.skipped_unknown.is_empty() {
        let ids: Vec<String> = done.skipped_unknown.iter().map(i64::to_string).collect();
        eprintln!(
            "not replayed: {} dead letter(s) whose body is neither a job nor a result \
             (id {}); they would only be dead-lettered again. Name them by ID to \
             publish them to the jobs queue as they are.",
            ids.len(),
            ids.join(", ")
        );
    }
    Ok(())
}

/// What `dbfleet migrate` did, in one line.
pub fn migrated(m: &Migrated) -> String {
    match m.from {
        None => format!("created the control store's schema at version {}", m.to),
        Some(from) if from == m.to => format!("the control store is already at version {}", m.to),
        Some(from) => format!("migrated the control store from version {from} to {}", m.to),
    }
}
