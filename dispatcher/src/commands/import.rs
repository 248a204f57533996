//! `dbfleet instance import FILE`: register a fleet from one file, in one
//! transaction.
//!
//! The file is read and checked whole before the store is opened, so a bad
//! file costs no connection and changes nothing: every problem is printed on
//! its line and the exit code is 2. What only the store can tell (a name the
//! configuration manages) is reported the same way, also before anything is
//! written. Passwords are never resolved here: rows carry references.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use dbfleet::config::Settings;
use dbfleet::domain::{CredentialName, InstanceName};
use dbfleet::fleet;
use dbfleet::import::{self, Format, Problem, Problems, Row};
use dbfleet::reconcile;
use dbfleet::store::{ImportOptions, ImportRow, Imported};

use crate::cli::ImportInstances;
use crate::render;

pub async fn run(
    args: &ImportInstances,
    settings: &Settings,
    out: &mut impl Write,
) -> Result<ExitCode> {
    let format = args.format.unwrap_or_else(|| Format::of_path(&args.file));
    let rows = match import::read(&args.file, format, settings.instance_tls_mode) {
        Ok(rows) => rows,
        Err(problems) => return Ok(refuse(&args.file, &problems)),
    };
    let store = fleet::open_store(settings).await?;
    let to_import: Vec<ImportRow> = rows.iter().map(import_row).collect();
    let options = ImportOptions {
        prune_by: args
            .prune
            .then(|| format!("instance import --prune by {}", super::operator())),
        dry_run: args.dry_run,
    };
    match store.instances().import(&to_import, &options).await? {
        Imported::Written(report) => {
            render::imported(out, &report, args.json)?;
            Ok(ExitCode::SUCCESS)
        }
        Imported::Refused(names) => {
            let problems = managed(&args.file, &rows, &names);
            Ok(refuse(&args.file, &problems))
        }
        Imported::UnknownCredentials(names) => {
            let problems = unknown_credentials(&args.file, &rows, &names);
            Ok(refuse(&args.file, &problems))
        }
    }
}

/// The rows that name a credential the store does not have, each on its
/// line.
fn unknown_credentials(file: &Path, rows: &[Row], names: &[CredentialName]) -> Problems {
    let source = file.display().to_string();
    let problems = rows
        .iter()
        .filter_map(|row| Some((row, row.instance.credential.as_ref()?)))
        .filter(|(_, name)| names.contains(name))
        .map(|(row, name)| {
            let problem = format!(
                "instance `{}`: no credential named `{name}`; add it with `dbfleet credential \
                 add` first",
                row.instance.name
            );
            Problem::in_row(&source, row, "credential", problem)
        })
        .collect();
    Problems(problems)
}

/// An imported instance is an ordinary one, as `instance add` registers
/// it: not managed by the configuration.
fn import_row(row: &Row) -> ImportRow {
    ImportRow {
        instance: reconcile::new_instance(&row.instance, false),
        active: row.instance.active,
    }
}

/// The rows whose names the configuration manages, each on its line.
fn managed(file: &Path, rows: &[Row], names: &[InstanceName]) -> Problems {
    let source = file.display().to_string();
    let problems = rows
        .iter()
        .filter(|row| names.contains(&row.instance.name))
        .map(|row| {
            let problem = format!(
                "instance `{}` is declared in the configuration, which manages it: \
                 change it there, or give this row another name",
                row.instance.name
            );
            Problem::in_row(&source, row, "name", problem)
        })
        .collect();
    Problems(problems)
}

/// Print every problem, then that nothing was imported: exit code 2.
fn refuse(file: &Path, problems: &Problems) -> ExitCode {
    let count = match problems.0.len() {
        1 => "1 problem".to_owned(),
        n => format!("{n} problems"),
    };
    eprintln!("{problems}");
    eprintln!("nothing imported: {count} in {}", file.display());
    ExitCode::from(2)
}
