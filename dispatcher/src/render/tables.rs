//! Table sizes as a table: the largest tables of each database, the rest
//! summed on one line, or the fleet's largest tables with their instance.

use std::io::Write;

use anyhow::Result;
use dbfleet::forecast::Forecast;
use dbfleet::store::{FleetTable, JobRow, StoredTable};

/// The jobs of a `table_sizes` batch, one line each, then their warnings
/// (the databases not read).
pub fn jobs(out: &mut impl Write, jobs: &[JobRow]) -> Result<()> {
    writeln!(
        out,
        "{:<24} {:<10} {:>9} {:>7} {:>16} {:>8}  ERROR",
        "INSTANCE", "STATUS", "DATABASES", "TABLES", "TOTAL SIZE (MiB)", "SKIPPED"
    )?;
    for j in jobs {
        writeln!(
            out,
            "{:<24} {:<10} {:>9} {:>7} {:>16} {:>8}  {}",
            j.instance,
            j.status,
            j.count("databases"),
            j.count("tables") + j.count("folded"),
            j.count("total_size_mb"),
            j.count("skipped"),
            super::error_text(j)
        )?;
    }
    super::job_warnings(out, jobs, "warnings")
}

/// `limit` tables per database at most; the others, and the rows the job
/// already folded, on one `(N other tables)` line.
pub fn tables(
    out: &mut impl Write,
    rows: &[StoredTable],
    limit: usize,
    as_json: bool,
) -> Result<()> {
    if as_json {
        return super::json(out, rows);
    }
    if rows.is_empty() {
        writeln!(
            out,
            "no table sizes filed yet: run a `table_sizes` job first"
        )?;
        return Ok(());
    }
    header(out)?;
    let mut databases: Vec<&str> = rows.iter().map(|r| r.database.as_str()).collect();
    databases.dedup();
    for database in databases {
        let of: Vec<&StoredTable> = rows.iter().filter(|r| r.database == database).collect();
        let (shown, others) = split(&of, limit);
        for r in shown {
            line(out, r, &r.row.table_name)?;
        }
        if let Some((count, sample)) = others {
            let label = format!("({count} other tables)");
            let summed = StoredTable {
                row: dbfleet::store::TableRow {
                    table_name: label.clone(),
                    is_rest: true,
                    tables: count,
                    total_bytes: of_rest(&of, limit, |r| r.row.total_bytes),
                    data_bytes: of_rest(&of, limit, |r| r.row.data_bytes),
                    index_bytes: of_rest(&of, limit, |r| r.row.index_bytes),
                    row_estimate: None,
                },
                ..sample.clone()
            };
            line(out, &summed, &label)?;
        }
    }
    Ok(())
}

/// The fleet's largest tables, largest first, each with its instance.
pub fn largest(out: &mut impl Write, rows: &[FleetTable], as_json: bool) -> Result<()> {
    if as_json {
        return super::json(out, rows);
    }
    if rows.is_empty() {
        writeln!(out, "no table sizes filed: run a `table_sizes` job first")?;
        return Ok(());
    }
    write!(out, "{:<24} {:<10} ", "INSTANCE", "ENGINE")?;
    header(out)?;
    for r in rows {
        write!(out, "{:<24} {:<10} ", r.instance, r.engine)?;
        line(out, &r.table, &r.table.row.table_name)?;
    }
    Ok(())
}

fn header(out: &mut impl Write) -> Result<()> {
    writeln!(
        out,
        "{:<24} {:<40} {:>12} {:>12} {:>12} {:>14}  {:<10} METHOD",
        "DATABASE", "TABLE", "TOTAL (MiB)", "DATA (MiB)", "INDEX (MiB)", "ROWS (EST.)", "DAY"
    )?;
    Ok(())
}

/// The tables shown one by one, and how many the last line sums.
fn split<'a>(
    of: &[&'a StoredTable],
    limit: usize,
) -> (Vec<&'a StoredTable>, Option<(i64, &'a StoredTable)>) {
    let singles: Vec<&StoredTable> = of.iter().copied().filter(|r| !r.row.is_rest).collect();
    let shown: Vec<&StoredTable> = singles.iter().copied().take(limit).collect();
    let hidden: i64 = of.iter().map(|r| r.row.tables).sum::<i64>()
        - i64::try_from(shown.len()).unwrap_or(i64::MAX);
    let sample = of.first().copied();
    match sample {
        Some(sample) if hidden > 0 => (shown, Some((hidden, sample))),
        _ => (shown, None),
    }
}

/// The sum of `field` over what is not shown one by one.
fn of_rest(of: &[&StoredTable], limit: usize, field: impl Fn(&StoredTable) -> i64) -> i64 {
    let singles = of.iter().filter(|r| !r.row.is_rest).skip(limit);
    let rest = of.iter().filter(|r| r.row.is_rest);
    singles.chain(rest).map(|r| field(r)).sum()
}

fn line(out: &mut impl Write, r: &StoredTable, name: &str) -> Result<()> {
    let rows = r
        .row
        .row_estimate
        .map_or_else(|| "-".to_string(), |n| n.to_string());
    writeln!(
        out,
        "{:<24} {:<40} {:>12} {:>12} {:>12} {:>14}  {:<10} {}",
        r.database,
        name,
        mib(r.row.total_bytes),
        mib(r.row.data_bytes),
        mib(r.row.index_bytes),
        rows,
        r.collected_date,
        r.method
    )?;
    Ok(())
}

/// MiB with two decimals: small tables are not all `0`.
fn mib(bytes: i64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let mib = bytes as f64 / 1_048_576.0;
    format!("{mib:.2}")
}

/// Forecasts, soonest to fill first; why a forecast has no day.
pub fn forecasts(out: &mut impl Write, found: &[Forecast], as_json: bool) -> Result<()> {
    if as_json {
        return super::json(out, found);
    }
    writeln!(
        out,
        "{:<24} {:<24} {:>12} {:>12} {:>12} {:>9}  NOTE",
        "INSTANCE", "DATABASE", "SIZE (MiB)", "CEILING", "MiB/DAY", "DAYS LEFT"
    )?;
    let dash = || "-".to_string();
    for f in found {
        let o = &f.outlook;
        writeln!(
            out,
            "{:<24} {:<24} {:>12} {:>12} {:>12} {:>9}  {}",
            f.instance,
            f.database.as_deref().unwrap_or("(all)"),
            o.current_mb.map_or_else(dash, |n| n.to_string()),
            f.ceiling_mb.map_or_else(dash, |n| n.to_string()),
            o.growth_mb_per_day.map_or_else(dash, |g| format!("{g:.2}")),
            o.days_left
                .map_or_else(|| "unknown".to_string(), |d| d.to_string()),
            o.reason.as_deref().unwrap_or("")
        )?;
    }
    Ok(())
}
