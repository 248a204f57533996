//! The registry as people read it: instances, named credentials, and what
//! an import wrote. Never a password: references are shown as where the
//! password is.

use std::io::Write;

use anyhow::Result;
use dbfleet::secret::PasswordRef;
use dbfleet::store::{Credential, ImportReport, Instance};

use super::json;

pub fn instances(out: &mut impl Write, instances: &[Instance], as_json: bool) -> Result<()> {
    if as_json {
        return json(out, instances);
    }
    let header = ("ID", "NAME", "ENGINE", "ADDRESS", "USER", "TLS");
    writeln!(
        out,
        "{:<6} {:<24} {:<11} {:<28} {:<16} {:<16} {:<15} LABELS",
        header.0, header.1, header.2, header.3, header.4, header.5, "ACTIVE"
    )?;
    for i in instances {
        let address = format!("{}:{}", i.host, i.port);
        let active = match (i.is_active, i.active_override.is_some()) {
            (true, false) => "yes",
            (false, false) => "no",
            (true, true) => "yes (override)",
            (false, true) => "no (override)",
        };
        writeln!(
            out,
            "{:<6} {:<24} {:<11} {:<28} {:<16} {:<16} {active:<15} {}",
            i.id,
            i.name,
            i.db_type,
            address,
            i.username,
            i.tls.mode.name(i.db_type),
            i.labels
        )?;
    }
    Ok(())
}

/// Named credentials: never a password, only where it is.
pub fn credentials(out: &mut impl Write, credentials: &[Credential], as_json: bool) -> Result<()> {
    if as_json {
        return json(out, credentials);
    }
    writeln!(
        out,
        "{:<24} {:<20} {:<9} {:<9} PASSWORD",
        "NAME", "USER", "INSTANCES", "MANAGED"
    )?;
    for c in credentials {
        let managed = if c.managed { "yes" } else { "no" };
        let password = match &c.password {
            PasswordRef::None => "(empty)".to_string(),
            PasswordRef::Env(var) => format!("env {var}"),
            PasswordRef::File(path) => format!("file {}", path.display()),
        };
        let (name, user, used) = (&c.name, &c.username, c.instances);
        writeln!(
            out,
            "{name:<24} {user:<20} {used:<9} {managed:<9} {password}"
        )?;
    }
    Ok(())
}

/// What an import wrote: the counts, or the names of each list as JSON.
pub fn imported(out: &mut impl Write, report: &ImportReport, as_json: bool) -> Result<()> {
    if as_json {
        return json(out, report);
    }
    let (created, updated) = (report.created.len(), report.updated.len());
    let unchanged = report.unchanged.len();
    let would = if report.dry_run {
        "dry run, nothing written: would have "
    } else {
        ""
    };
    write!(
        out,
        "{would}created {created}, updated {updated}, unchanged {unchanged}"
    )?;
    if report.disabled.is_empty() {
        return Ok(writeln!(out)?);
    }
    let names: Vec<&str> = report.disabled.iter().map(|n| n.as_str()).collect();
    writeln!(out, ", disabled {} ({})", names.len(), names.join(", "))?;
    Ok(())
}
