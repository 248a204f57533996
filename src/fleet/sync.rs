//! Data sync on the fleet: the configuration's definitions reconciled into
//! the store, and a definition's run planned as a batch of `data_sync`
//! jobs, one per target instance (each syncs the definition's targets on
//! its instance), so backups on different instances sync in parallel.

use chrono::Utc;

use crate::domain::InstanceName;
use crate::message::data_sync::Params;
use crate::message::JobParams;
use crate::store::{self, Instance, Store, StoredSync};
use crate::sync::{Endpoint, SyncDefinition, SyncMode};

/// What to run of a definition.
#[derive(Debug, Clone, Default)]
pub struct SyncRequest<'a> {
    pub definition: &'a str,
    /// `instance` (its targets) or `instance/database` (that one).
    pub target: Option<&'a str>,
    /// The definition's own mode when absent.
    pub mode: Option<SyncMode>,
    /// Compare only (`dbfleet sync verify`).
    pub verify_only: bool,
    /// With `verify_only`: re-copy the chunks that differ.
    pub repair: bool,
}

/// Why a run cannot be planned: each is the caller's mistake (exit 2, or
/// 404/409 over HTTP).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("there is no sync definition `{0}`")]
    Unknown(String),
    #[error("sync definition `{0}` is disabled")]
    Disabled(String),
    #[error("`{target}` is not a target of sync definition `{definition}`; its targets: {known}")]
    NotATarget {
        definition: String,
        target: String,
        known: String,
    },
}

/// The jobs' parameters and the instances they run on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub params: JobParams,
    pub instances: Vec<InstanceName>,
}

/// Plan `request` against the stored definition (`None`: not stored).
pub fn plan(stored: Option<&StoredSync>, request: &SyncRequest<'_>) -> Result<Plan, PlanError> {
    let name = request.definition;
    let stored = stored.ok_or_else(|| PlanError::Unknown(name.to_string()))?;
    if !stored.is_enabled() {
        return Err(PlanError::Disabled(name.to_string()));
    }
    let def = &stored.definition;
    let (instance, database) = match request.target {
        Some(t) => match t.split_once('/') {
            Some((i, d)) => (Some(i), Some(d)),
            None => (Some(t), None),
        },
        None => (None, None),
    };
    let mut instances: Vec<InstanceName> = Vec::new();
    for target in &def.targets {
        let chosen = instance.is_none_or(|i| target.instance.as_str() == i)
            && database.is_none_or(|d| target.database == d);
        if chosen && !instances.contains(&target.instance) {
            instances.push(target.instance.clone());
        }
    }
    if instances.is_empty() {
        return Err(not_a_target(def, request.target.unwrap_or_default()));
    }
    let params = Params {
        definition: name.to_string(),
        database: database.map(str::to_string),
        mode: request.mode,
        verify: None,
        verify_only: request.verify_only,
        repair: request.repair,
    };
    Ok(Plan {
        params: JobParams::DataSync(params),
        instances,
    })
}

fn not_a_target(def: &SyncDefinition, target: &str) -> PlanError {
    let known: Vec<String> = def.targets.iter().map(|t| t.to_string()).collect();
    PlanError::NotATarget {
        definition: def.name.clone(),
        target: target.to_string(),
        known: known.join(", "),
    }
}

/// The instances of `chosen` that are targets of the definition `params`
/// names (of its one target database, when they name it): a `data_sync`
/// batch runs only where it has work.
pub async fn targets_among(
    store: &Store,
    params: &Params,
    chosen: Vec<Instance>,
) -> Result<Vec<Instance>, super::dispatcher::Error> {
    let stored = store.syncs().get(&params.definition).await?;
    let request = SyncRequest {
        definition: &params.definition,
        ..SyncRequest::default()
    };
    plan(stored.as_ref(), &request)?;
    let Some(StoredSync {
        definition: def, ..
    }) = stored
    else {
        return Ok(Vec::new());
    };
    let wanted = |t: &&Endpoint| params.database.as_ref().is_none_or(|d| &t.database == d);
    let chosen: Vec<Instance> = chosen
        .into_iter()
        .filter(|i| def.targets_on(&i.name).any(|t| wanted(&t)))
        .collect();
    if chosen.is_empty() {
        let target = params
            .database
            .as_deref()
            .unwrap_or("the selected instances");
        return Err(not_a_target(&def, target).into());
    }
    Ok(chosen)
}

/// Make the stored definitions the configuration's; one problem per
/// definition whose instances are not registered (its runs would fail).
pub async fn reconcile(store: &Store, declared: &[SyncDefinition]) -> store::Result<Vec<String>> {
    store.syncs().reconcile(declared, Utc::now()).await?;
    let mut problems = Vec::new();
    for def in declared {
        let mut seen = std::collections::BTreeSet::new();
        let ends = std::iter::once(&def.source).chain(&def.targets);
        for end in ends.filter(|e| seen.insert(&e.instance)) {
            if store.instances().by_name(&end.instance).await?.is_none() {
                problems.push(format!(
                    "sync `{}`: instance `{}` is not registered (declare it under \
                     `instances:` or add it with `dbfleet instance add`)",
                    def.name, end.instance
                ));
            }
        }
    }
    Ok(problems)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::sync::{Endpoint, TableSpec};

    fn end(instance: &str, database: &str) -> Endpoint {
        Endpoint {
            instance: InstanceName::parse(instance).unwrap(),
            database: database.to_string(),
        }
    }

    fn stored(enabled: bool, enabled_override: Option<bool>) -> StoredSync {
        StoredSync {
            definition: SyncDefinition {
                name: "orders".to_string(),
                source: end("primary", "shop"),
                targets: vec![end("b1", "copy"), end("b1", "copy2"), end("b2", "copy")],
                mode: SyncMode::Incremental,
                mirror: false,
                tables: vec![TableSpec {
                    name: "orders".to_string(),
                    target: None,
                    key: vec![],
                    cursor: vec!["updated_at".to_string()],
                }],
                batch_size: 5000,
                initial_days: 1825,
                settle_seconds: 60,
                verify: false,
                enabled,
                every: Default::default(),
                limits: Default::default(),
                retry: Default::default(),
            },
            declared: true,
            enabled_override,
            changed_by: None,
        }
    }

    fn instances(plan: &Plan) -> Vec<&str> {
        plan.instances.iter().map(InstanceName::as_str).collect()
    }

    #[test]
    fn a_run_is_one_job_per_target_instance_narrowed_by_the_target_asked_for() {
        let s = stored(true, None);
        let all = SyncRequest {
            definition: "orders",
            ..SyncRequest::default()
        };
        let plan = plan(Some(&s), &all).unwrap();
        assert_eq!(instances(&plan), ["b1", "b2"]);
        let JobParams::DataSync(params) = &plan.params else {
            panic!("{:?}", plan.params)
        };
        assert_eq!(
            (params.definition.as_str(), params.database.as_deref()),
            ("orders", None)
        );

        let one = SyncRequest {
            target: Some("b1/copy2"),
            ..all.clone()
        };
        let plan = super::plan(Some(&s), &one).unwrap();
        assert_eq!(instances(&plan), ["b1"]);
        assert_eq!(plan.params.to_json()["database"], "copy2");
        let on_b2 = SyncRequest {
            target: Some("b2"),
            ..all.clone()
        };
        assert_eq!(instances(&super::plan(Some(&s), &on_b2).unwrap()), ["b2"]);
    }

    #[test]
    fn an_unknown_disabled_or_foreign_target_is_refused_with_its_reason() {
        let request = SyncRequest {
            definition: "orders",
            ..SyncRequest::default()
        };
        assert_eq!(
            plan(None, &request).unwrap_err().to_string(),
            "there is no sync definition `orders`"
        );
        for s in [stored(false, None), stored(true, Some(false))] {
            assert_eq!(
                plan(Some(&s), &request).unwrap_err(),
                PlanError::Disabled("orders".to_string())
            );
        }
        // The operator's switch wins over the file's `enabled: false`.
        assert!(plan(Some(&stored(false, Some(true))), &request).is_ok());
        let elsewhere = SyncRequest {
            target: Some("primary/shop"),
            ..request
        };
        assert_eq!(
            plan(Some(&stored(true, None)), &elsewhere)
                .unwrap_err()
                .to_string(),
            "`primary/shop` is not a target of sync definition `orders`; its targets: \
             b1/copy, b1/copy2, b2/copy"
        );
    }
}
