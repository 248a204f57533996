//! Reconciling the instances declared in the configuration into the store.
//!
//! The configuration owns the instances it declares (`managed`): they are
//! created or updated to match, and deactivated — never deleted, their
//! history stays — when they leave the file. Instances registered through
//! the CLI or the API are never touched; a declared name that collides with
//! one is reported, not overwritten.
//!
//! An operator's runtime switch wins over the file (ruling 6): `dbfleet
//! instance enable|disable` of a declared instance is stored as an
//! override, and reconciliation keeps it — whatever `active:` says — until
//! `dbfleet instance reset` clears it. An instance that leaves the file is
//! deactivated all the same; its override waits for it to come back.
//!
//! Named credentials declared in the configuration are reconciled the same
//! way ([`reconcile_fleet`]): written first, so the instances that name
//! them find them, and removed last, once no instance uses them any more.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::{DeclaredCredential, DeclaredInstance};
use crate::domain::InstanceName;
use crate::store::{
    self, ImportOptions, ImportRow, Imported, Instance, NewCredential, NewInstance, Store,
};

/// What a reconciliation did, and what it could not do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reconciliation {
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub deactivated: Vec<String>,
    /// Declared instances whose `active:` an operator's override outweighs.
    pub overridden: Vec<String>,
    /// One line per problem, each naming its instance.
    pub problems: Vec<String>,
}

/// The instance to register for `declared`: `managed` when the
/// configuration declares it, not when a file is imported (`instance
/// import` registers ordinary instances, as `instance add` does).
pub fn new_instance(declared: &DeclaredInstance, managed: bool) -> NewInstance {
    NewInstance {
        name: declared.name.clone(),
        db_type: declared.db_type,
        host: declared.host.clone(),
        port: declared.port,
        database: declared.database.clone(),
        username: declared.username.clone(),
        password: declared.password.clone(),
        credential: declared.credential.clone(),
        tls: declared.tls.clone(),
        managed,
        labels: declared.labels.clone(),
    }
}

fn to_new(declared: &DeclaredInstance) -> NewInstance {
    new_instance(declared, true)
}

fn differs(stored: &Instance, wanted: &NewInstance) -> bool {
    !stored.has_settings(wanted)
}

/// Make the store's managed credentials and instances match the
/// configuration's.
pub async fn reconcile_fleet(
    store: &Store,
    instances: &[DeclaredInstance],
    credentials: &[DeclaredCredential],
) -> Result<Reconciliation, store::Error> {
    let mut problems = put_credentials(store, credentials).await?;
    let mut done = reconcile(store, instances).await?;
    problems.append(&mut done.problems);
    problems.append(&mut remove_credentials(store, credentials).await?);
    done.problems = problems;
    Ok(done)
}

/// Create or update each declared credential; a name registered by the
/// CLI is reported, not overwritten.
async fn put_credentials(
    store: &Store,
    declared: &[DeclaredCredential],
) -> Result<Vec<String>, store::Error> {
    let mut problems = Vec::new();
    for wanted in declared {
        let stored = store.credentials().by_name(&wanted.name).await?;
        if stored.is_some_and(|c| !c.managed) {
            problems.push(format!(
                "credential `{}`: already registered outside the configuration (`dbfleet \
                 credential add`); remove it there or rename it in the configuration",
                wanted.name
            ));
            continue;
        }
        let new = NewCredential {
            name: wanted.name.clone(),
            username: wanted.username.clone(),
            password: wanted.password.clone(),
            managed: true,
        };
        store.credentials().put(&new, true).await?;
    }
    Ok(problems)
}

/// Remove the managed credentials no longer declared, unless an instance
/// still uses one (kept, and reported).
async fn remove_credentials(
    store: &Store,
    declared: &[DeclaredCredential],
) -> Result<Vec<String>, store::Error> {
    let mut problems = Vec::new();
    let existing = store.credentials().list().await?;
    let gone = existing
        .iter()
        .filter(|c| c.managed && !declared.iter().any(|d| d.name == c.name));
    for credential in gone {
        match store.credentials().remove(&credential.name).await {
            Ok(_) => {}
            Err(store::Error::Conflict(reason)) => {
                problems.push(format!("no longer declared, but kept: {reason}"));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(problems)
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
    let mut missing = Vec::new();
    for wanted in declared {
        let name = wanted.name.as_str().to_string();
        match by_name.get(name.as_str()) {
            Some(stored) if !stored.managed => done.problems.push(format!(
                "instance `{name}`: already registered outside the configuration \
                 (CLI or API); remove it there or rename it in the configuration"
            )),
            Some(stored) => update(store, stored, wanted, &mut done).await?,
            None => missing.push(wanted),
        }
    }
    create_all(store, &missing, &mut done).await?;
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

/// Bring a stored declared instance in line with its declaration, keeping
/// an operator's override of `active`.
async fn update(
    store: &Store,
    stored: &Instance,
    wanted: &DeclaredInstance,
    done: &mut Reconciliation,
) -> Result<(), store::Error> {
    let name = wanted.name.to_string();
    let new = to_new(wanted);
    let mut changed = differs(stored, &new);
    if changed {
        match store.instances().update(stored.id, &new).await {
            Ok(()) => {}
            Err(store::Error::NotFound(reason)) => {
                done.problems.push(format!("instance `{name}`: {reason}"));
                return Ok(());
            }
            Err(e) => return Err(e),
        }
    }
    let active = stored.active_override.unwrap_or(wanted.active);
    if active != wanted.active {
        tracing::info!(
            instance = %name,
            active,
            "kept as the operator set it; `dbfleet instance reset` hands it back to the \
             configuration"
        );
        done.overridden.push(name.clone());
    }
    if stored.is_active != active {
        store.instances().set_active(&wanted.name, active).await?;
        changed = true;
    }
    if changed {
        done.updated.push(name);
    }
    Ok(())
}

/// Register the declared instances the store does not have yet: together,
/// in one import transaction ([`store::Instances::import`]: a first start
/// with 10,000 declared instances is one commit, not 10,000), except those
/// the import refuses (a name the CLI registered meanwhile, a credential
/// that does not exist), which are created one by one after, so each
/// problem names its instance.
async fn create_all(
    store: &Store,
    missing: &[&DeclaredInstance],
    done: &mut Reconciliation,
) -> Result<(), store::Error> {
    let mut together: Vec<&DeclaredInstance> = missing.to_vec();
    let mut alone = Vec::new();
    while together.len() > 1 {
        let rows: Vec<ImportRow> = together
            .iter()
            .map(|wanted| ImportRow {
                instance: to_new(wanted),
                active: wanted.active,
            })
            .collect();
        let refused = match store
            .instances()
            .import(&rows, &ImportOptions::default())
            .await
        {
            Ok(Imported::Written(report)) => {
                // Another control plane may have registered some meanwhile.
                let names = |names: Vec<InstanceName>| names.into_iter().map(|n| n.to_string());
                done.created.extend(names(report.created));
                done.updated.extend(names(report.updated));
                together.clear();
                break;
            }
            Ok(refused) => refused,
            Err(store::Error::Conflict(_)) => Imported::Refused(Vec::new()),
            Err(e) => return Err(e),
        };
        alone.extend(set_apart(&mut together, &refused));
    }
    for wanted in alone.into_iter().chain(together) {
        create(store, wanted, done).await?;
    }
    Ok(())
}

/// Take out of `together` the instances an import `refused`: every one
/// when it names none of them, so the loop that imports the rest ends.
fn set_apart<'a>(
    together: &mut Vec<&'a DeclaredInstance>,
    refused: &Imported,
) -> Vec<&'a DeclaredInstance> {
    let is_refused = |wanted: &DeclaredInstance| match refused {
        Imported::Refused(names) => names.contains(&wanted.name),
        Imported::UnknownCredentials(names) => wanted
            .credential
            .as_ref()
            .is_some_and(|c| names.contains(c)),
        Imported::Written(_) => false,
    };
    let (out, kept): (Vec<_>, Vec<_>) = together.iter().partition(|w| is_refused(w));
    if out.is_empty() {
        return std::mem::take(together);
    }
    *together = kept;
    out
}

/// Register a declared instance the store does not have yet.
async fn create(
    store: &Store,
    wanted: &DeclaredInstance,
    done: &mut Reconciliation,
) -> Result<(), store::Error> {
    let name = wanted.name.to_string();
    match store.instances().add(&to_new(wanted)).await {
        Ok(_) => {
            if !wanted.active {
                store.instances().set_active(&wanted.name, false).await?;
            }
            done.created.push(name);
        }
        Err(store::Error::Conflict(reason) | store::Error::NotFound(reason)) => {
            done.problems.push(format!("instance `{name}`: {reason}"));
        }
        Err(e) => return Err(e),
    }
    Ok(())
}
