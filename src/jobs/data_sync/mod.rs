//! `data_sync`: bring the backups of one sync definition on the job's
//! instance in step with the definition's source.
//!
//! The job reads its definition from the control store and, for each
//! target database on its own instance, runs the tables up to
//! `max_parallel` at once (`target.rs`), each on a read-only session on
//! the source database and a writable one on the target
//! ([`table::run_table`]). Each table's run is written to the history
//! (`store::sync_runs`) as it starts and as it ends, so a long sync shows
//! where it is; the rows and their checkpoint are committed together in
//! the target database, page by page, so a job that dies resumes where its
//! last page ended. One failing table does not stop the others; the job
//! fails when any did, naming them.
//!
//! Its lease is the target table's (held in the target database by
//! `table`), not the instance's: a long sync never holds back the
//! instance's capacity jobs. A table whose lock another sync holds waits
//! for it up to `lock_wait`; a table reads the source only while it holds
//! one of the definition's `source_connections` slots, shared by all its
//! jobs.

mod history;
pub mod table;
mod tables;
mod target;

use std::time::Duration;

use super::{Context, Failure, Job};
use crate::adapters::sync::{Role, SyncSession};
use crate::adapters::ConnectOptions;
use crate::message::data_sync::{Output, Params, RunStatus, TableRun};
use crate::message::{ErrorClass, JobError};
use crate::retry::RetryPolicy;
use crate::store::{Instance, StoredSync, Tally};
use crate::sync::{Endpoint, SyncDefinition, TableSpec};
use table::TableJob;

/// The `data_sync` kind.
pub struct DataSync;

impl Job for DataSync {
    type Params = Params;
    type Output = Output;

    const INSTANCE_LEASE: bool = false;

    async fn run(ctx: &Context<'_>, params: &Params) -> Result<Output, Failure> {
        let stored = definition(ctx, params).await?;
        let def = &stored.definition;
        let targets = targets(ctx, def, params)?;
        let source = source(ctx, def).await?;
        let (def, unmatched) = tables::expanded(ctx, def, &source).await?;
        let mut output = Output {
            definition: def.name.clone(),
            tables: Vec::new(),
        };
        for target in targets {
            target::sync_target(ctx, &def, params, (&source, target), &mut output).await?;
            for (pattern, why) in &unmatched {
                let run = unrun(&def, params, pattern, &target.to_string(), why.clone());
                history::ended(ctx, &def.name, &run, chrono::Utc::now()).await?;
                output.tables.push(run);
            }
        }
        match failed(&output) {
            None => Ok(output),
            Some(message) => Err(JobError::new(failure_class(&output), message).into()),
        }
    }

    /// The definition's policy, as the store has it now: a definition
    /// disabled or removed since the failure is not retried.
    async fn retry_policy(ctx: &Context<'_>, params: &Params) -> Option<RetryPolicy> {
        match ctx.store.syncs().get(&params.definition).await {
            Ok(Some(stored)) if stored.is_enabled() => Some(stored.definition.retry),
            Ok(_) => None,
            Err(e) => {
                // The failure is reported as it is: a retry lost, no run.
                tracing::warn!(error = %e, "the retry policy could not be read");
                None
            }
        }
    }

    fn tally(output: &Output) -> Tally {
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let tables = output.tables.len() as u64;
        Tally::from_pairs([
            ("tables_synced", n(tables - output.tables_failed())),
            ("tables_failed", n(output.tables_failed())),
            ("rows_read", n(output.rows_read())),
            ("rows_applied", n(output.rows_applied())),
            ("rows_deleted", n(output.rows_deleted())),
            ("chunks_differing", n(output.chunks_differing())),
        ])
    }

    fn empty_summary() -> Tally {
        Self::tally(&Output::default())
    }
}

fn config(message: impl Into<String>) -> Failure {
    JobError::new(ErrorClass::Config, message.into()).into()
}

/// The enabled definition the job names.
async fn definition(ctx: &Context<'_>, params: &Params) -> Result<StoredSync, Failure> {
    if params.definition.is_empty() {
        return Err(config(
            "`definition` is missing: name the sync definition to run",
        ));
    }
    let Some(stored) = ctx.store.syncs().get(&params.definition).await? else {
        let name = &params.definition;
        return Err(config(format!("there is no sync definition `{name}`")));
    };
    if !stored.is_enabled() {
        let name = &params.definition;
        return Err(config(format!("sync definition `{name}` is disabled")));
    }
    Ok(stored)
}

/// The definition's targets on the job's instance (the one `database`
/// names, when given).
fn targets<'d>(
    ctx: &Context<'_>,
    def: &'d SyncDefinition,
    params: &Params,
) -> Result<Vec<&'d Endpoint>, Failure> {
    let wanted = |t: &&Endpoint| params.database.as_ref().is_none_or(|d| &t.database == d);
    let targets: Vec<&Endpoint> = def.targets_on(&ctx.instance.name).filter(wanted).collect();
    if targets.is_empty() {
        let on = match &params.database {
            Some(db) => format!("`{}/{db}`", ctx.instance.name),
            None => format!("instance `{}`", ctx.instance.name),
        };
        return Err(config(format!(
            "{on} is not a target of sync definition `{}`",
            def.name
        )));
    }
    Ok(targets)
}

/// The definition's source instance, registered and active.
async fn source(ctx: &Context<'_>, def: &SyncDefinition) -> Result<Instance, Failure> {
    let name = &def.source.instance;
    match ctx.store.instances().by_name(name).await? {
        Some(i) if i.is_active => Ok(i),
        Some(_) => Err(config(format!("the source instance `{name}` is disabled"))),
        None => Err(config(format!(
            "the source instance `{name}` is not registered"
        ))),
    }
}

/// The source session (read-only) and the target's (writable).
async fn open(
    ctx: &Context<'_>,
    def: &SyncDefinition,
    source: &Instance,
    target: &Endpoint,
) -> Result<(SyncSession, SyncSession), Failure> {
    let from_options = timed(ctx.options(source, Some(&def.source.database))?, def);
    let into_options = timed(ctx.options(ctx.instance, Some(&target.database))?, def);
    let from = SyncSession::open(source.db_type, &from_options, Role::Source);
    let from = ctx.remote("connect", from).await?;
    let into = SyncSession::open(ctx.instance.db_type, &into_options, Role::Target);
    match ctx.remote("connect", into).await {
        Ok(into) => Ok((from, into)),
        Err(e) => {
            from.close().await;
            Err(e.into())
        }
    }
}

/// The definition's own statement timeout, when it has one, for both
/// ends: a copy's statements may rightly take longer (or must take
/// shorter) than the job's.
fn timed(mut options: ConnectOptions, def: &SyncDefinition) -> ConnectOptions {
    if let Some(seconds) = def.limits.statement_timeout_seconds {
        options.statement_timeout = Duration::from_secs(seconds);
    }
    options
}

/// How to run `spec` into the target `label`: the definition's settings,
/// with what the job's parameters change.
fn table_job<'a>(
    def: &'a SyncDefinition,
    spec: &'a TableSpec,
    label: &str,
    params: &Params,
) -> TableJob<'a> {
    TableJob {
        definition: &def.name,
        spec,
        target_label: label.to_string(),
        mode: params.mode.unwrap_or(def.mode),
        mirror: def.mirror,
        batch_size: def.batch_size,
        initial_days: def.initial_days,
        settle: def.settle(),
        verify: params.verify.unwrap_or(def.verify) || params.verify_only,
        verify_only: params.verify_only,
        repair: params.repair,
        max_rejected_rows: def.limits.max_rejected_rows,
        rows_per_second: def.limits.rows_per_second,
        max_gap: Some(Duration::from_secs(
            u64::from(def.limits.max_gap_hours) * 3_600,
        )),
        lock_wait: def.limits.lock_wait(),
        source_slots: Some(def.limits.source_connections()),
    }
}

/// A table that could not start: its target or source is unreachable.
fn unrun(
    def: &SyncDefinition,
    params: &Params,
    table: &str,
    target: &str,
    why: String,
) -> TableRun {
    TableRun {
        table: table.to_string(),
        target: target.to_string(),
        mode: params.mode.unwrap_or(def.mode),
        status: RunStatus::Failed,
        rows_read: 0,
        rows_applied: 0,
        rows_deleted: 0,
        position: None,
        verification: None,
        error: Some(why),
        rows_rejected: 0,
        rejected: Vec::new(),
        permanent: false,
    }
}

/// `config` when every table that failed did so on its configuration
/// (nothing a retry could change), `query` otherwise.
fn failure_class(output: &Output) -> ErrorClass {
    let mut failed = output
        .tables
        .iter()
        .filter(|t| t.status == RunStatus::Failed);
    match failed.all(|t| t.permanent) {
        true => ErrorClass::Config,
        false => ErrorClass::Query,
    }
}

/// Why the job failed: the tables that did, each with its reason.
fn failed(output: &Output) -> Option<String> {
    let failed: Vec<String> = output
        .tables
        .iter()
        .filter(|t| t.status == RunStatus::Failed)
        .map(|t| match &t.error {
            Some(e) => format!("{} into {}: {e}", t.table, t.target),
            None => format!("{} into {}", t.table, t.target),
        })
        .collect();
    (!failed.is_empty()).then(|| {
        let total = output.tables.len();
        format!(
            "{} of {total} tables failed: {}",
            failed.len(),
            failed.join("; ")
        )
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn definition(timeout: Option<u64>) -> SyncDefinition {
        serde_json::from_value(serde_json::json!({
            "name": "o",
            "source": { "instance": "p", "database": "s" },
            "targets": [ { "instance": "b", "database": "s" } ],
            "mode": "full",
            "tables": [ { "name": "t" } ],
            "batch_size": 5000,
            "initial_days": 1825,
            "settle_seconds": 60,
            "enabled": true,
            "statement_timeout_seconds": timeout,
        }))
        .unwrap()
    }

    #[test]
    fn a_definition_statement_timeout_overrides_the_jobs() {
        let options = ConnectOptions {
            host: "h".to_string(),
            port: 5432,
            username: "u".to_string(),
            password: String::new().into(),
            database: Some("s".to_string()),
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(30),
            lock_timeout: Duration::from_secs(5),
            tls: Default::default(),
        };
        // A definition stored before the limits existed has their defaults.
        let stored = definition(None);
        assert_eq!(stored.limits, crate::sync::Limits::default());
        let kept = timed(options.clone(), &stored);
        assert_eq!(kept.statement_timeout, Duration::from_secs(30));
        let set = timed(options, &definition(Some(600)));
        assert_eq!(set.statement_timeout, Duration::from_secs(600));
    }
}
