//! What `dbfleet migrate --maintain` did, as lines or JSON.

use std::io::Write;

use anyhow::Result;
use dbfleet::store::Maintained;

/// What `migrate --maintain` did: one line per change, or JSON.
pub fn maintained(out: &mut impl Write, done: &Maintained, as_json: bool) -> Result<()> {
    if as_json {
        return super::json(out, done);
    }
    for name in &done.partitions_created {
        writeln!(out, "created partition {name}")?;
    }
    for name in &done.partitions_dropped {
        writeln!(out, "dropped partition {name} (past retention)")?;
    }
    for d in done.deleted.iter().filter(|d| d.rows > 0) {
        writeln!(
            out,
            "deleted {} rows of {} (past retention)",
            d.rows, d.table
        )?;
    }
    let changed = !done.partitions_created.is_empty() || !done.partitions_dropped.is_empty();
    if !changed && done.deleted.iter().all(|d| d.rows == 0) {
        writeln!(out, "maintenance: nothing to do")?;
    }
    Ok(())
}
