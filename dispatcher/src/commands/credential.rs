//! `dbfleet credential …`: named credentials that instances share.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{bail, Result};
use dbfleet::config::Settings;
use dbfleet::fleet;
use dbfleet::secret::PasswordRef;
use dbfleet::store::{NewCredential, Put};

use crate::cli::{CredentialCommand, Login};
use crate::render;

pub async fn run(
    command: CredentialCommand,
    settings: &Settings,
    out: &mut impl Write,
) -> Result<ExitCode> {
    let store = fleet::open_store(settings).await?;
    let credentials = store.credentials();
    match command {
        CredentialCommand::Add {
            name,
            login,
            replace,
        } => {
            let new = NewCredential {
                password: password(&login)?,
                username: login.username,
                name,
                managed: false,
            };
            let done = match credentials.put(&new, replace).await? {
                Put::Created => "added",
                Put::Updated => "replaced",
                Put::Unchanged => "unchanged:",
            };
            writeln!(out, "{done} credential `{}`", new.name)?;
        }
        CredentialCommand::List { json } => {
            render::credentials(out, &credentials.list().await?, json)?
        }
        CredentialCommand::Show { name, json } => {
            let Some(credential) = credentials.by_name(&name).await? else {
                bail!("no credential named `{name}`");
            };
            render::credentials(out, std::slice::from_ref(&credential), json)?;
        }
        CredentialCommand::Remove { name } => {
            if !credentials.remove(&name).await? {
                bail!("no credential named `{name}`");
            }
            writeln!(out, "removed credential `{name}`")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The reference the flags give; neither flag means an empty password.
pub fn password(login: &Login) -> Result<PasswordRef> {
    Ok(match (&login.password_env, &login.password_file) {
        (Some(var), _) => PasswordRef::env(var)?,
        (None, Some(path)) => PasswordRef::File(path.clone()),
        (None, None) => PasswordRef::None,
    })
}
