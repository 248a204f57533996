//! `dbfleet instance …`: the registry, and checking that dbfleet can work
//! on each instance.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{bail, Result};
use dbfleet::config::Settings;
use dbfleet::domain::InstanceName;
use dbfleet::fleet::dispatcher::{BatchReport, Selection};
use dbfleet::fleet::{self};
use dbfleet::labels::Labels;
use dbfleet::message::{JobKind, JobParams};
use dbfleet::secret::PasswordRef;
use dbfleet::store::{BatchStatus, NewInstance, Store};
use dbfleet::tls::{TlsMode, TlsSettings};

use super::{batch, import, in_process, Usage};
use crate::cli::{AddInstance, InstanceCommand, LabelChange};
use crate::render;

pub async fn run(
    command: InstanceCommand,
    settings: &Settings,
    out: &mut impl Write,
) -> Result<ExitCode> {
    if let InstanceCommand::Check {
        names,
        selector,
        json,
    } = &command
    {
        let selection = batch::selection(names, selector.as_ref());
        return check(settings, selection, *json, out).await;
    }
    if let InstanceCommand::Import(args) = &command {
        return import::run(args, settings, out).await;
    }
    let store = fleet::open_store(settings).await?;
    let instances = store.instances();
    match command {
        InstanceCommand::Check { .. } | InstanceCommand::Import(_) => unreachable!("handled above"),
        InstanceCommand::Add(add) => {
            let new = new_instance(*add, settings.instance_tls_mode)?;
            let instance = instances.add(&new).await?;
            writeln!(
                out,
                "added instance `{}` (id {})",
                instance.name, instance.id
            )?;
        }
        InstanceCommand::List { selector, json } => {
            let mut listed = instances.list().await?;
            if let Some(selector) = &selector {
                listed.retain(|i| selector.matches(&i.labels));
            }
            render::instances(out, &listed, json)?;
        }
        InstanceCommand::Label { name, changes } => label(&store, &name, &changes, out).await?,
        InstanceCommand::Show { name, json } => {
            let Some(instance) = instances.by_name(&name).await? else {
                bail!("no instance named `{name}`");
            };
            render::instances(out, std::slice::from_ref(&instance), json)?;
        }
        InstanceCommand::Enable { name }
        | InstanceCommand::Disable { name }
        | InstanceCommand::Reset { name }
        | InstanceCommand::Remove { name }
            if instances.by_name(&name).await?.is_none() =>
        {
            bail!("no instance named `{name}`");
        }
        InstanceCommand::Enable { name } => switch(&store, &name, true, out).await?,
        InstanceCommand::Disable { name } => switch(&store, &name, false, out).await?,
        InstanceCommand::Reset { name } => reset(&store, settings, &name, out).await?,
        InstanceCommand::Remove { name } => {
            instances.remove(&name).await?;
            writeln!(out, "removed `{name}`; its history is kept")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `enable` or `disable`: on a declared instance, an override that
/// reconciliation keeps (ruling 6).
async fn switch(
    store: &Store,
    name: &InstanceName,
    active: bool,
    out: &mut impl Write,
) -> Result<()> {
    store.instances().override_active(name, active).await?;
    let done = if active { "enabled" } else { "disabled" };
    let managed = store
        .instances()
        .by_name(name)
        .await?
        .is_some_and(|i| i.managed);
    if managed {
        writeln!(
            out,
            "{done} `{name}`: an override of the configuration, kept by `dbfleet run` \
             until `dbfleet instance reset {name}`"
        )?;
    } else {
        writeln!(out, "{done} `{name}`")?;
    }
    Ok(())
}

/// `reset`: forget the override; the configuration's `active:` applies now
/// (an instance no longer declared stays inactive, as `dbfleet run` leaves
/// it).
async fn reset(
    store: &Store,
    settings: &Settings,
    name: &InstanceName,
    out: &mut impl Write,
) -> Result<()> {
    let managed = store
        .instances()
        .by_name(name)
        .await?
        .is_some_and(|i| i.managed);
    if !managed {
        bail!("`{name}` is not declared in the configuration: enable or disable it instead");
    }
    store.instances().clear_override(name).await?;
    let declared = settings.instances.iter().find(|d| &d.name == name);
    let active = declared.is_some_and(|d| d.active);
    store.instances().set_active(name, active).await?;
    let state = if active { "active" } else { "inactive" };
    writeln!(
        out,
        "reset `{name}`: the configuration decides again ({state})"
    )?;
    Ok(())
}

/// A `probe` batch over the instances, run here on the embedded defaults
/// and by the fleet otherwise, then one line per instance and every fix.
async fn check(
    settings: &Settings,
    selection: Selection<'_>,
    json: bool,
    out: &mut impl Write,
) -> Result<ExitCode> {
    let report = if fleet::uses_memory_broker(settings) {
        in_process(settings, &JobParams::default_for(JobKind::Probe), selection)
            .await?
            .report
    } else {
        // Someone waits for the answer: the interactive lane.
        let launch = batch::Launch {
            params: JobParams::default_for(JobKind::Probe),
            selection,
            interactive: true,
            spread: None,
        };
        batch::start_and_watch(settings, launch).await?
    };
    render::check(out, &report, json)?;
    Ok(check_exit_code(&report))
}

/// 0 when every instance is reachable and has every privilege; 3 when some
/// failed or lack something, or two of them are one server; 1 when none
/// could be checked.
fn check_exit_code(report: &BatchReport) -> ExitCode {
    let b = &report.batch;
    match b.status {
        BatchStatus::Success if b.warned == 0 && report.shared_servers.is_empty() => {
            ExitCode::SUCCESS
        }
        BatchStatus::Success | BatchStatus::PartialSuccess => ExitCode::from(3),
        BatchStatus::Failed | BatchStatus::Running => ExitCode::FAILURE,
    }
}

fn new_instance(add: AddInstance, default_tls: TlsMode) -> Result<NewInstance> {
    let password = match (&add.password_env, add.password_file) {
        (Some(var), _) => PasswordRef::env(var)?,
        (None, Some(path)) => PasswordRef::File(path),
        (None, None) => PasswordRef::None,
    };
    let mode = match add.tls_mode.as_deref() {
        Some(raw) => {
            TlsMode::parse(add.db_type, raw).map_err(|e| Usage(format!("--tls-mode: {e}")))?
        }
        None => default_tls,
    };
    let tls = TlsSettings {
        mode,
        ca_file: add.tls_ca_file,
        cert_file: add.tls_cert_file,
        key_file: add.tls_key_file,
    };
    if let Some((key, problem)) = tls.problems().first() {
        let flag = format!("--{}", key.replace('_', "-"));
        return Err(Usage(format!("{flag}: {problem}")).into());
    }
    Ok(NewInstance {
        name: add.name,
        port: add.port.unwrap_or(add.db_type.default_port()),
        db_type: add.db_type,
        host: add.host,
        database: add.database,
        username: add.username.unwrap_or_default(),
        password,
        credential: add.credential,
        tls,
        managed: false,
        labels: merge(add.labels.iter()),
    })
}

/// One set of labels from several; a later key wins.
fn merge<'a>(labels: impl Iterator<Item = &'a Labels>) -> Labels {
    let pairs: Vec<(&str, &str)> = labels.flat_map(Labels::iter).collect();
    Labels::new(pairs).unwrap_or_default()
}

/// `instance label NAME KEY=VALUE… KEY-…`: on an instance the
/// configuration does not declare (a declared one takes its labels from
/// the configuration, which reconciliation would restore).
async fn label(
    store: &Store,
    name: &InstanceName,
    changes: &[LabelChange],
    out: &mut impl Write,
) -> Result<()> {
    let Some(instance) = store.instances().by_name(name).await? else {
        bail!("no instance named `{name}`");
    };
    if instance.managed {
        return Err(Usage(format!(
            "`{name}` is declared in the configuration: change its `labels:` there"
        ))
        .into());
    }
    let mut pairs: Vec<(String, String)> = instance
        .labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for change in changes {
        match change {
            LabelChange::Set(set) => pairs.extend(set.iter().map(|(k, v)| (k.into(), v.into()))),
            LabelChange::Remove(key) => pairs.retain(|(k, _)| k != key),
        }
    }
    let labels = Labels::new(pairs).unwrap_or_default();
    store.instances().set_labels(name, &labels).await?;
    writeln!(out, "labelled `{name}`: {labels}")?;
    Ok(())
}
