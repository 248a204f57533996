//! Reconciling the instances declared in the configuration into the store.
//!
//! The configuration owns the instances it declares (`managed`): they are
//! created or updated to match, and deactivated — never deleted, their
//! history stays — when they leave the file. Instances registered through
//! the CLI or the API are never touched; a declared name that collides with
//! one is reported, not overwritten.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::DeclaredInstance;
use crate::store::{self, Instance, NewInstance, Store};

/// What a reconciliation did, and what it could not do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reconciliation {
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub deactivated: Vec<String>,
    /// One line per problem, each naming its instance.
    pub problems: Vec<String>,
}

fn to_new(declared: &DeclaredInstance) -> NewInstance {
    NewInstance {
        name: declared.name.clone(),
        db_type: declared.db_type,
        host: declared.host.clone(),
        port: declared.port,
        database: declared.database.clone(),
        username: declared.username.clone(),
        password: declared.password.clone(),
        managed: true,
    }
}

fn differs(stored: &Instance, wanted: &NewInstance) -> bool {
    stored.db_type != wanted.db_type
        || stored.host != wanted.host
        || stored.port != wanted.port
        || stored.database != wanted.database
        || stored.username != wanted.username
        || stored.password != wanted.password
}

/// Make the store's managed instances match `declared`.
pub async fn reconcile(
    store: &Store,
    declared: &[DeclaredInstance],
) -> Result<Reconciliation, store::Error> {
    let existing = store.instances().list().await?;
    let by_name: BTreeMap<&str, &Instance> =
        existing.iter().map(|i| (i.name.as_str(), i)).collect();
    let mut done = Reconciliation::default();
    for wanted in declared {
        let new = to_new(wanted);
        let name = wanted.name.as_str().to_string();
        match by_name.get(name.as_str()) {
            Some(stored) if !stored.managed => done.problems.push(format!(
                "instance `{name}`: already registered outside the configuration \
                 (CLI or API); remove it there or rename it in the configuration"
            )),
            Some(stored) => {
                let mut changed = differs(stored, &new);
                if changed {
                    store.instances().update(stored.id, &new).await?;
                }
                if stored.is_active != wanted.active {
                    store
                        .instances()
                        .set_active(&wanted.name, wanted.active)
                        .await?;
                    changed = true;
                }
                if changed {
                    done.updated.push(name);
                }
            }
            None => match store.instances().add(&new).await {
                Ok(_) => {
                    if !wanted.active {
                        store.instances().set_active(&wanted.name, false).await?;
                    }
                    done.created.push(name);
                }
                Err(store::Error::Conflict(reason)) => {
                    done.problems.push(format!("instance `{name}`: {reason}"));
                }
                Err(e) => return Err(e),
            },
        }
    }
    let declared_names: BTreeSet<&str> = declared.iter().map(|d| d.name.as_str()).collect();
    for gone in existing
        .iter()
        .filter(|i| i.managed && i.is_active && !declared_names.contains(i.name.as_str()))
    {
        store.instances().set_active(&gone.name, false).await?;
        done.deactivated.push(gone.name.to_string());
    }
    Ok(done)
}
