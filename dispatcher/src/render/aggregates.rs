//! Period aggregates as tables: the rows `aggregate` jobs filed, and the
//! jobs of an `aggregate` batch.

use std::io::Write;

use anyhow::Result;
use dbfleet::store::{JobRow, StoredAggregate};

/// Period aggregates: the instance's (`(instance)`) and its databases'.
pub fn aggregates(out: &mut impl Write, rows: &[StoredAggregate], as_json: bool) -> Result<()> {
    if as_json {
        return super::json(out, rows);
    }
    writeln!(
        out,
        "{:<9} {:<10} {:<24} {:>10} {:>10} {:>10} {:>4} {:>8} {:>8}  TREND",
        "PERIOD", "START", "DATABASE", "AVG (MiB)", "MAX", "MIN", "DAYS", "CHANGE", "%"
    )?;
    for r in rows {
        let a = &r.figures;
        let change = a
            .size_change_mb
            .map_or_else(|| "-".to_string(), |c| format!("{c:+}"));
        let percent = a
            .size_change_percent
            .map_or_else(|| "-".to_string(), |p| format!("{p:+.2}"));
        writeln!(
            out,
            "{:<9} {:<10} {:<24} {:>10} {:>10} {:>10} {:>4} {:>8} {:>8}  {}",
            r.period_type.as_str(),
            r.period_start,
            r.database.as_deref().unwrap_or("(instance)"),
            a.avg_size_mb,
            a.max_size_mb,
            a.min_size_mb,
            a.sample_count,
            change,
            percent,
            a.trend.as_str()
        )?;
    }
    Ok(())
}

/// One line per job of an `aggregate` batch: each period it aggregated,
/// and how many rows it wrote.
pub fn jobs(out: &mut impl Write, jobs: &[JobRow]) -> Result<()> {
    writeln!(
        out,
        "{:<24} {:<10} {:>9} {:>8}  PERIODS / ERROR",
        "INSTANCE", "STATUS", "DATABASES", "INSTANCE"
    )?;
    for j in jobs {
        let periods = j.output.get("periods").and_then(|p| p.as_array());
        let periods = periods.map(Vec::as_slice).unwrap_or_default();
        let count = |key: &str| -> i64 {
            periods
                .iter()
                .map(|p| match &p[key] {
                    serde_json::Value::Bool(b) => i64::from(*b),
                    v => v.as_i64().unwrap_or(0),
                })
                .sum()
        };
        let named: Vec<String> = periods
            .iter()
            .map(|p| {
                let field = |k: &str| p[k].as_str().unwrap_or("-").to_string();
                format!("{} {}..{}", field("period"), field("start"), field("end"))
            })
            .collect();
        let last = match &j.error {
            Some(_) => super::error_text(j),
            None => named.join(", "),
        };
        writeln!(
            out,
            "{:<24} {:<10} {:>9} {:>8}  {last}",
            j.instance,
            j.status,
            count("databases"),
            count("instance_row")
        )?;
    }
    Ok(())
}
