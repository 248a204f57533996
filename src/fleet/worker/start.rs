//! Taking a job's lease and recording its start: the instance's lease, the
//! host's cap, a cancelled batch, and the instance as the job described it.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::Worker;
use crate::domain::InstanceId;
use crate::inventory::InventoryRecord;
use crate::jobs;
use crate::labels::Labels;
use crate::message::{InstanceDetails, JobMessage};
use crate::store::{self, HostSlot, Instance, Start, StartingJob, Tally};

/// How long a job waits in its slot for a host at its cap, before it goes
/// back to the broker.
const HOST_WAIT: Duration = Duration::from_secs(2);

/// How long a started job's lease outlives its own deadline: time to report
/// a timeout itself before the sweeper takes it for lost.
const LEASE_GRACE: Duration = Duration::from_secs(30);

/// Whether a job may run now.
pub(super) enum Started {
    /// With the instance's inventory, for a kind that reads it
    /// ([`jobs::reads_inventory`]): read in the start's transaction.
    Yes(Option<Vec<InventoryRecord>>),
    Busy,
    Cancelled,
}

impl Worker {
    /// Take the lease and record the start. A host at its cap is waited for
    /// here a little ([`HOST_WAIT`]), since its slots free up within a job's
    /// time, before the job goes back to the broker's retry tiers.
    pub(super) async fn started(
        &self,
        job: &JobMessage,
        instance: &Instance,
        attempt: u32,
        mut now: DateTime<Utc>,
    ) -> store::Result<Started> {
        let summary = jobs::empty_summary(job.kind());
        let server = server_key(instance);
        let reads_inventory = jobs::reads_inventory(job.kind());
        let waiting = std::time::Instant::now();
        let mut pauses = 0;
        loop {
            let start = self.starting(job, instance, attempt, now, &summary, &server);
            let (started, inventory) = self.start(&start, reads_inventory).await?;
            match started {
                Start::Started => return Ok(Started::Yes(inventory)),
                Start::Busy => return Ok(Started::Busy),
                Start::Cancelled => return Ok(Started::Cancelled),
                Start::HostFull if waiting.elapsed() < HOST_WAIT => {
                    // The first wait is short: the share may be held by a
                    // job of this worker whose filing is still committing.
                    let range = if pauses == 0 { 5..15 } else { 50..250 };
                    let pause = rand::Rng::gen_range(&mut rand::thread_rng(), range);
                    pauses += 1;
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                    now = Utc::now();
                }
                Start::HostFull => {
                    let cap = self.job.max_per_host;
                    tracing::info!(server, cap, "the server runs its cap of jobs; waiting");
                    return Ok(Started::Busy);
                }
            }
        }
    }

    /// Record the start, reading the instance's inventory with it for a
    /// kind that needs it.
    async fn start(
        &self,
        start: &StartingJob<'_>,
        reads_inventory: bool,
    ) -> store::Result<(Start, Option<Vec<InventoryRecord>>)> {
        let runs = self.store.runs();
        if !reads_inventory {
            return Ok((runs.start(start).await?, None));
        }
        let (started, records) = runs.start_reading_inventory(start).await?;
        Ok((started, Some(records)))
    }

    /// The start of `job` on `instance`: its lease lasts the job's own
    /// deadline plus a grace.
    fn starting<'a>(
        &'a self,
        job: &'a JobMessage,
        instance: &'a Instance,
        attempt: u32,
        now: DateTime<Utc>,
        summary: &'a Tally,
        server: &'a str,
    ) -> StartingJob<'a> {
        let instance_lease = jobs::takes_instance_lease(job.kind());
        let budget = self.job.deadline_of(job.kind());
        let lease =
            chrono::Duration::from_std(budget + LEASE_GRACE).unwrap_or(chrono::Duration::MAX);
        StartingJob {
            job_id: job.job_id,
            batch_id: job.effective_batch_id(),
            kind: job.kind().as_str(),
            instance_id: instance.id,
            target: instance.name.as_str(),
            requested_by: job.requested_by.as_deref(),
            worker: &self.name,
            attempt,
            started_at: now,
            lease_until: now
                .checked_add_signed(lease)
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
            start_by: job.deadline,
            summary,
            host: (self.job.max_per_host > 0 && instance_lease).then_some(HostSlot {
                key: server,
                limit: self.job.max_per_host,
            }),
            instance_lease,
        }
    }
}

/// What the cap of concurrent jobs counts by: the instance's `cluster`
/// label when it has one, else its host.
fn server_key(instance: &Instance) -> String {
    match instance.labels.get(crate::labels::CLUSTER) {
        Some(cluster) => format!("cluster:{cluster}"),
        None => instance.host.clone(),
    }
}

/// An active instance as the dispatcher described it with the job.
pub(super) fn from_details(id: InstanceId, d: &InstanceDetails) -> Instance {
    Instance {
        id,
        name: d.name.clone(),
        db_type: d.engine,
        host: d.host.clone(),
        port: d.port,
        database: d.database.clone(),
        username: d.username.clone(),
        password: d.auth.clone(),
        credential: None,
        tls: d.tls.clone().unwrap_or_default(),
        is_active: true,
        managed: false,
        active_override: None,
        labels: d
            .cluster
            .as_deref()
            .and_then(|c| Labels::new([(crate::labels::CLUSTER, c)]).ok())
            .unwrap_or_default(),
        disabled_by: None,
    }
}
