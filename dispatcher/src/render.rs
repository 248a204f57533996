//! How results look on a terminal, and as JSON for scripts.

use anyhow::Result;
use dbfleet::aggregator::{TOTAL_RECORDS, TOTAL_SIZE_MB};
use dbfleet::dispatcher::BatchReport;
use dbfleet::dlq::Replayed;
use dbfleet::store::{Batch, DeadLetter, Instance};

fn json<T: serde::Serialize + ?Sized>(value: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

pub fn instances(instances: &[Instance], as_json: bool) -> Result<()> {
    if as_json {
        return json(instances);
    }
    println!(
        "{:<6} {:<24} {:<11} {:<28} {:<16} ACTIVE",
        "ID", "NAME", "ENGINE", "ADDRESS", "USER"
    );
    for i in instances {
        let address = format!("{}:{}", i.host, i.port);
        println!(
            "{:<6} {:<24} {:<11} {:<28} {:<16} {}",
            i.id,
            i.name,
            i.db_type,
            address,
            i.username,
            if i.is_active { "yes" } else { "no" }
        );
    }
    Ok(())
}

pub fn batch(report: &BatchReport, as_json: bool) -> Result<()> {
    if as_json {
        return json(report);
    }
    let b = &report.batch;
    println!(
        "batch {}: {} ({} jobs: {} succeeded, {} failed; {} records, {} MiB)",
        b.id,
        b.status.as_str(),
        b.total,
        b.succeeded,
        b.failed,
        b.summary.get(TOTAL_RECORDS),
        b.summary.get(TOTAL_SIZE_MB)
    );
    jobs(report);
    Ok(())
}

/// One line per job: instance, status, databases sized, total size, error.
fn jobs(report: &BatchReport) {
    println!(
        "{:<24} {:<10} {:>9} {:>16}  ERROR",
        "INSTANCE", "STATUS", "DATABASES", "TOTAL SIZE (MiB)"
    );
    for j in &report.jobs {
        let error = j
            .error
            .as_ref()
            .map(|e| format!("{}: {}", e.class.as_str(), e.message))
            .unwrap_or_default();
        println!(
            "{:<24} {:<10} {:>9} {:>16}  {}",
            j.instance,
            j.status,
            j.count("databases"),
            j.count("total_size_mb"),
            error
        );
    }
}

pub fn batches(batches: &[Batch], as_json: bool) -> Result<()> {
    if as_json {
        return json(batches);
    }
    println!(
        "{:<36} {:<16} {:>5} {:>9} {:>6}  CREATED",
        "ID", "STATUS", "JOBS", "SUCCEEDED", "FAILED"
    );
    for b in batches {
        println!(
            "{:<36} {:<16} {:>5} {:>9} {:>6}  {}",
            b.id,
            b.status.as_str(),
            b.total,
            b.succeeded,
            b.failed,
            b.created_at.format("%Y-%m-%d %H:%M:%S")
        );
    }
    Ok(())
}

/// The end-of-run summary: one line per instance.
pub fn summary(report: &BatchReport, as_json: bool) -> Result<()> {
    if as_json {
        return json(report);
    }
    jobs(report);
    let b = &report.batch;
    println!(
        "\nbatch {} {}: {} of {} instances succeeded, {} failed; {} databases sized, {} MiB in all",
        b.id,
        b.status.as_str(),
        b.succeeded,
        b.total,
        b.failed,
        b.summary.get(TOTAL_RECORDS),
        b.summary.get(TOTAL_SIZE_MB)
    );
    Ok(())
}

/// Dead letters: one line each, the preview on one line. JSON carries the
/// preview, never the body.
pub fn dead_letters(letters: &[DeadLetter], as_json: bool) -> Result<()> {
    if as_json {
        return json(letters);
    }
    println!(
        "{:>6} {:<19} {:<7} {:<36} {:<32} PREVIEW",
        "ID", "DEAD AT", "KIND", "MESSAGE ID", "REASON"
    );
    for d in letters {
        let replayed = if d.replayed_at.is_some() {
            " (replayed)"
        } else {
            ""
        };
        println!(
            "{:>6} {:<19} {:<7} {:<36} {:<32} {}{}",
            d.id,
            d.dead_at.format("%Y-%m-%d %H:%M:%S"),
            d.kind,
            d.message_id.as_deref().unwrap_or("-"),
            one_line(&d.reason, 32),
            one_line(&d.preview, 80),
            replayed
        );
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

pub fn replayed(done: &Replayed) {
    println!("replayed {} dead letter(s)", done.replayed.len());
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
}
