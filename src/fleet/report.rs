//! What `batch show` reports of a batch: its counters and jobs, the
//! instances that turned out to be one server, and where its pending jobs
//! wait when they belong to a network zone.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::dispatcher::Error;
use crate::domain::{BatchId, InstanceId};
use crate::store::{Batch, JobRow, Store};

/// A batch with its jobs: what `batch show --json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct BatchReport {
    #[serde(flatten)]
    pub batch: Batch,
    pub jobs: Vec<JobRow>,
    /// Instances of the batch that are one server under several records
    /// (each job reports its server's identity): its databases count once
    /// per record in the batch's totals. Absent when there are none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub shared_servers: Vec<SharedServer>,
    /// Pending jobs by the network zone they wait in (zones other than the
    /// default only). Absent when there are none.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub waiting_by_zone: BTreeMap<String, i64>,
    /// Jobs of a batch spread over a window not published yet (`batch
    /// start --spread`). Absent when there are none.
    #[serde(skip_serializing_if = "is_zero")]
    pub parked: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// One server that several instances of a batch point at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SharedServer {
    /// As the jobs reported it (`server_uuid:…@3306`).
    pub server_identity: String,
    /// The instances, by name, sorted.
    pub instances: Vec<String>,
}

/// The batch, its jobs, the servers they share and the zones its pending
/// jobs wait in.
pub async fn report(store: &Store, id: BatchId) -> Result<BatchReport, Error> {
    let batch = store.batches().get(id).await?.ok_or(Error::NotFound(id))?;
    let jobs = store.batches().jobs(id).await?;
    let shared_servers = shared_servers(&jobs);
    let waiting_by_zone = waiting_by_zone(store, &jobs).await?;
    let parked = if batch.pending > 0 {
        store.outbox().waiting(id).await?
    } else {
        0
    };
    Ok(BatchReport {
        batch,
        jobs,
        shared_servers,
        waiting_by_zone,
        parked,
    })
}

/// How many pending jobs wait in each network zone other than the default
/// (a zone no worker serves keeps its jobs queued, and this says where).
async fn waiting_by_zone(store: &Store, jobs: &[JobRow]) -> Result<BTreeMap<String, i64>, Error> {
    let pending: Vec<InstanceId> = jobs
        .iter()
        .filter(|j| j.status == "pending")
        .filter_map(|j| j.instance_id)
        .collect();
    let mut waiting = BTreeMap::new();
    if pending.is_empty() {
        return Ok(waiting);
    }
    let zones: BTreeMap<InstanceId, String> = store
        .instances()
        .list()
        .await?
        .into_iter()
        .filter_map(|i| Some((i.id, i.labels.zone()?.to_string())))
        .collect();
    for id in pending {
        if let Some(zone) = zones.get(&id) {
            *waiting.entry(zone.clone()).or_insert(0) += 1;
        }
    }
    Ok(waiting)
}

/// The servers more than one instance of `jobs` reported, with their
/// instances. Two records of one server (two addresses of one host, a DNS
/// alias) would otherwise count its databases twice, without a word.
pub fn shared_servers(jobs: &[JobRow]) -> Vec<SharedServer> {
    let mut by_server: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for job in jobs {
        if let Some(identity) = job.output.get("server_identity").and_then(|v| v.as_str()) {
            by_server
                .entry(identity)
                .or_default()
                .insert(job.instance.as_str());
        }
    }
    by_server
        .into_iter()
        .filter(|(_, instances)| instances.len() > 1)
        .map(|(identity, instances)| SharedServer {
            server_identity: identity.to_string(),
            instances: instances.into_iter().map(str::to_string).collect(),
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::domain::JobId;

    fn job(instance: &str, identity: Option<&str>) -> JobRow {
        let mut output = serde_json::Map::new();
        if let Some(identity) = identity {
            output.insert("server_identity".into(), identity.into());
        }
        JobRow {
            job_id: JobId::new(),
            instance: instance.to_string(),
            instance_id: None,
            kind: "probe".to_string(),
            status: "succeeded".to_string(),
            error: None,
            warnings: Vec::new(),
            output,
            attempt: 1,
            worker: None,
            started_at: None,
            finished_at: None,
        }
    }

    #[test]
    fn instances_reporting_one_server_are_grouped() {
        let jobs = [
            job("b", Some("uid:x@3306")),
            job("pg", Some("system_identifier:1/2@5432")),
            job("a", Some("uid:x@3306")),
            job("other-port", Some("uid:x@3307")),
            job("down", None),
            job("a", Some("uid:x@3306")),
        ];
        assert_eq!(
            shared_servers(&jobs),
            [SharedServer {
                server_identity: "uid:x@3306".to_string(),
                instances: vec!["a".to_string(), "b".to_string()],
            }]
        );
        assert!(shared_servers(&jobs[..2]).is_empty());
    }
}
