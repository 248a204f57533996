//! The capacity history as tables: the largest databases, the fastest
//! growing ones, and one instance's or database's days.

use std::io::Write;

use anyhow::Result;
use dbfleet::store::{Growth, InstanceTotal, LatestSize, StoredStat};

/// The largest databases of the fleet.
pub fn top(out: &mut impl Write, rows: &[LatestSize], as_json: bool) -> Result<()> {
    if as_json {
        return super::json(out, rows);
    }
    writeln!(
        out,
        "{:<24} {:<10} {:<32} {:>12}  DAY",
        "INSTANCE", "ENGINE", "DATABASE", "SIZE (MiB)"
    )?;
    for r in rows {
        writeln!(
            out,
            "{:<24} {:<10} {:<32} {:>12}  {}",
            r.instance, r.engine, r.database_name, r.size_mb, r.collected_date
        )?;
    }
    Ok(())
}

/// The fastest-growing databases over a window.
pub fn growth(out: &mut impl Write, rows: &[Growth], as_json: bool) -> Result<()> {
    if as_json {
        return super::json(out, rows);
    }
    writeln!(
        out,
        "{:<24} {:<32} {:>10} {:>10} {:>10} {:>8}  DAYS",
        "INSTANCE", "DATABASE", "FROM (MiB)", "TO (MiB)", "CHANGE", "%"
    )?;
    for r in rows {
        let percent = r
            .change_percent
            .map_or_else(|| "-".to_string(), |p| format!("{p:+.2}"));
        writeln!(
            out,
            "{:<24} {:<32} {:>10} {:>10} {:>+10} {:>8}  {}..{}",
            r.instance,
            r.database_name,
            r.from_mb,
            r.to_mb,
            r.change_mb,
            percent,
            r.from_date,
            r.to_date
        )?;
    }
    Ok(())
}

/// An instance's daily totals.
pub fn instance_days(out: &mut impl Write, days: &[InstanceTotal], as_json: bool) -> Result<()> {
    if as_json {
        return super::json(out, days);
    }
    writeln!(
        out,
        "{:<10} {:>12} {:>9}  NOTE",
        "DAY", "TOTAL (MiB)", "DATABASES"
    )?;
    for d in days {
        let note = if d.partial {
            format!("partial: {} not measured", d.unmeasured_count)
        } else {
            String::new()
        };
        writeln!(
            out,
            "{:<10} {:>12} {:>9}  {note}",
            d.collected_date, d.total_size_mb, d.database_count
        )?;
    }
    Ok(())
}

/// One database's daily sizes.
pub fn database_days(out: &mut impl Write, days: &[StoredStat], as_json: bool) -> Result<()> {
    if as_json {
        return super::json(out, days);
    }
    writeln!(out, "{:<10} {:>12}  METHOD", "DAY", "SIZE (MiB)")?;
    for d in days {
        let method = d.method.as_deref().unwrap_or("-");
        writeln!(out, "{:<10} {:>12}  {method}", d.collected_date, d.size_mb)?;
    }
    Ok(())
}
