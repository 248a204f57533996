//! One function per command; each returns the process exit code.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use dbfleet::config::Settings;
use dbfleet::dispatcher::{self, Selection};
use dbfleet::dlq;
use dbfleet::fleet;
use dbfleet::secret::PasswordRef;
use dbfleet::store::{BatchStatus, NewInstance};
use tokio_util::sync::CancellationToken;

use crate::progress::Progress;
use crate::render;
use crate::{AddInstance, BatchCommand, Command, ConfigCommand, DlqCommand, InstanceCommand};

pub async fn run(command: Command, config_path: &Path, settings: Settings) -> Result<ExitCode> {
    match command {
        Command::Migrate => {
            fleet::open_store(&settings).await?;
            println!("control store is up to date");
            Ok(ExitCode::SUCCESS)
        }
        Command::Instance(command) => instance(command, &settings).await,
        Command::Batch(command) => batch(command, &settings).await,
        Command::Serve => {
            fleet::require_shared_broker(&settings, "dbfleet serve")?;
            let store = fleet::open_store(&settings).await?;
            let broker = fleet::open_broker(&settings).await?;
            let served = fleet::serve(
                &settings,
                store,
                broker.clone(),
                fleet::shutdown_on_signals(),
            )
            .await;
            broker.close().await;
            served?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Run { json } => {
            let mut progress = Progress::start();
            let outcome = dbfleet::run::run(&settings, |batch| progress.update(batch)).await;
            progress.finish();
            let outcome = outcome?;
            for problem in &outcome.reconciliation.problems {
                eprintln!("warning: {problem}");
            }
            render::summary(&outcome.report, json)?;
            Ok(exit_code(outcome.report.batch.status))
        }
        Command::Config(ConfigCommand::Check) => {
            fleet::load_filters(&settings)?;
            println!("{}: configuration is valid", config_path.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Dlq(command) => dead_letters(command, &settings).await,
    }
}

async fn dead_letters(command: DlqCommand, settings: &Settings) -> Result<ExitCode> {
    match command {
        DlqCommand::List { all, limit, json } => {
            let store = fleet::open_store(settings).await?;
            let letters = dlq::list(&store, all, limit.clamp(1, 10_000)).await?;
            render::dead_letters(&letters, json)?;
        }
        DlqCommand::Replay { all, ids } => {
            fleet::require_shared_broker(settings, "dbfleet dlq replay")?;
            let store = fleet::open_store(settings).await?;
            let broker = fleet::open_broker(settings).await?;
            let selection = if all {
                dlq::Selection::AllPending
            } else {
                dlq::Selection::Ids(&ids)
            };
            let done = dlq::replay(&store, broker.as_ref(), selection, settings.job.deadline).await;
            broker.close().await;
            render::replayed(&done?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn instance(command: InstanceCommand, settings: &Settings) -> Result<ExitCode> {
    let store = fleet::open_store(settings).await?;
    match command {
        InstanceCommand::Add(add) => {
            let new = new_instance(add)?;
            let instance = store.instances().add(&new).await?;
            println!("added instance `{}` (id {})", instance.name, instance.id);
        }
        InstanceCommand::List { json } => {
            let instances = store.instances().list().await?;
            render::instances(&instances, json)?;
        }
        InstanceCommand::Show { name, json } => {
            let Some(instance) = store.instances().by_name(&name).await? else {
                bail!("no instance named `{name}`");
            };
            render::instances(std::slice::from_ref(&instance), json)?;
        }
        InstanceCommand::Enable { name }
        | InstanceCommand::Disable { name }
        | InstanceCommand::Remove { name }
            if store.instances().by_name(&name).await?.is_none() =>
        {
            bail!("no instance named `{name}`");
        }
        InstanceCommand::Enable { name } => {
            store.instances().set_active(&name, true).await?;
            println!("enabled `{name}`");
        }
        InstanceCommand::Disable { name } => {
            store.instances().set_active(&name, false).await?;
            println!("disabled `{name}`");
        }
        InstanceCommand::Remove { name } => {
            store.instances().remove(&name).await?;
            println!("removed `{name}`; its history is kept");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn new_instance(add: AddInstance) -> Result<NewInstance> {
    let password = match (add.password_env, add.password_file) {
        (Some(var), _) => PasswordRef::env(&var)?,
        (None, Some(path)) => PasswordRef::File(path),
        (None, None) => PasswordRef::None,
    };
    if add.host.trim().is_empty() {
        bail!("--host must not be empty");
    }
    Ok(NewInstance {
        name: add.name,
        port: add.port.unwrap_or(add.db_type.default_port()),
        db_type: add.db_type,
        host: add.host,
        database: add.database,
        username: add.username,
        password,
        managed: false,
    })
}

async fn batch(command: BatchCommand, settings: &Settings) -> Result<ExitCode> {
    let store = fleet::open_store(settings).await?;
    match command {
        BatchCommand::Start {
            instances,
            wait,
            json,
        } => {
            let broker = fleet::open_broker(settings).await?;
            let selection = if instances.is_empty() {
                Selection::AllActive
            } else {
                Selection::Named(&instances)
            };
            let user = std::env::var("USER").ok();
            let batch = dispatcher::start_batch(
                &store,
                broker.as_ref(),
                selection,
                settings.job.deadline,
                user.as_deref(),
            )
            .await;
            let batch = match batch {
                Ok(batch) => batch,
                Err(e) => {
                    broker.close().await;
                    return Err(e.into());
                }
            };
            if !wait {
                broker.close().await;
                render::batch(&dispatcher::report(&store, batch.id).await?, json)?;
                return Ok(ExitCode::SUCCESS);
            }
            // Fold results here too, so `--wait` works without `serve`;
            // folding is idempotent, so running both is harmless.
            let shutdown = CancellationToken::new();
            let folding = tokio::spawn({
                let (settings, store, broker, shutdown) = (
                    settings.clone(),
                    store.clone(),
                    broker.clone(),
                    shutdown.clone(),
                );
                async move { fleet::serve(&settings, store, broker, shutdown).await }
            });
            let ended = dispatcher::wait(&store, batch.id, Duration::from_millis(200)).await;
            shutdown.cancel();
            let _ = folding.await;
            broker.close().await;
            let ended = ended.context("waiting for the batch")?;
            render::batch(&dispatcher::report(&store, ended.id).await?, json)?;
            Ok(exit_code(ended.status))
        }
        BatchCommand::Show { id, json } => {
            render::batch(&dispatcher::report(&store, id).await?, json)?;
            Ok(ExitCode::SUCCESS)
        }
        BatchCommand::List { limit, json } => {
            render::batches(&store.batches().list(limit.clamp(1, 10_000)).await?, json)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// 0 on success, 3 on partial success, 1 when every job failed.
pub fn exit_code(status: BatchStatus) -> ExitCode {
    match status {
        BatchStatus::Success => ExitCode::SUCCESS,
        BatchStatus::PartialSuccess => ExitCode::from(3),
        BatchStatus::Failed | BatchStatus::Running => ExitCode::FAILURE,
    }
}
