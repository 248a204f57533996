//! The control plane's scheduler: starts the batches of the configuration's
//! `schedules:` when they are due.
//!
//! Each tick asks [`crate::schedule::Timing::due`] what every schedule owes
//! and starts the batches owed. The rules that make it safe to run on every
//! `serve` replica live elsewhere and are only applied here:
//! - a slot's batch is created under a claim on (schedule, slot) in the
//!   batch's own transaction (`store::Claim::Slot`), so replicas racing for
//!   a slot commit one batch;
//! - a schedule whose kind already has a running batch waits (the slot is
//!   fired when that batch ends, if it ends within the grace window), so
//!   runs of one kind never overlap;
//! - a paused schedule owes nothing; resuming owes runs from then on.
//!
//! [`Scheduler::tick`] takes the instant to act at, so tests drive it with a
//! clock of their own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Timelike, Utc};
use tokio_util::sync::CancellationToken;

use super::dispatcher::{self, BatchRequest, Selection};
use super::role::Role;
use super::spread;
use crate::broker::Broker;
use crate::config::DeclaredSchedule;
use crate::schedule::Due;
use crate::store::{Batch, Claim, Keyed, ScheduleRun, ScheduleSlot, ScheduleState, Store};

/// How often the scheduler looks; the finest cron field is the second.
const TICK: Duration = Duration::from_secs(1);

/// What a tick did for one schedule.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// This control plane started `batch` for `slot`.
    Started { slot: DateTime<Utc>, batch: Batch },
    /// Another control plane started the slot's batch first.
    AlreadyStarted { slot: DateTime<Utc> },
    /// Owed, but a batch of the same kind is still running.
    Waiting { slot: DateTime<Utc>, running: Batch },
}

/// Why a manual trigger did not start a batch.
#[derive(Debug, thiserror::Error)]
pub enum TriggerError {
    #[error("no schedule named `{0}` in the configuration")]
    Unknown(String),
    #[error("batch {} of kind `{}` is still running; a schedule never overlaps it", .0.id, .0.kind)]
    Overlap(Box<Batch>),
    #[error(transparent)]
    Dispatch(#[from] dispatcher::Error),
}

/// The schedules of one control plane.
pub struct Scheduler {
    store: Store,
    broker: Arc<dyn Broker>,
    schedules: Vec<DeclaredSchedule>,
    deadline: Duration,
    /// Who starts the batches: recorded with each run.
    name: String,
    /// The latest slot of each schedule something was said of (waiting,
    /// missed), so it is said once.
    said: Mutex<HashMap<String, DateTime<Utc>>>,
}

impl Scheduler {
    pub fn new(
        store: Store,
        broker: Arc<dyn Broker>,
        schedules: Vec<DeclaredSchedule>,
        deadline: Duration,
        name: String,
    ) -> Self {
        Self {
            store,
            broker,
            schedules,
            deadline,
            name,
            said: Mutex::default(),
        }
    }

    /// Tick every second until `shutdown`. A tick that fails (the store
    /// away) is logged and the next one tries again: no run is lost while
    /// the grace window lasts.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut ticks = tokio::time::interval(TICK);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Of several replicas only the role's holder ticks, so that a
        // schedule's wait for a running batch of its kind holds across them.
        let mut role = Role::new(self.store.clone(), "scheduler", self.name.clone());
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = ticks.tick() => {}
            }
            if !role.renew().await {
                continue;
            }
            if let Err(e) = self.tick(Utc::now()).await {
                tracing::warn!(error = %e, "the scheduler could not look at its schedules");
            }
        }
        role.release().await;
    }

    /// Start what is owed at `now`; what happened, per schedule that owed
    /// something.
    pub async fn tick(&self, now: DateTime<Utc>) -> Result<Vec<(String, Outcome)>, TriggerError> {
        let states = self.states(now).await?;
        let last: HashMap<String, DateTime<Utc>> = self
            .store
            .schedules()
            .last_slots()
            .await?
            .into_iter()
            .collect();
        let mut done = Vec::new();
        for schedule in &self.schedules {
            let Some(state) = states.get(&schedule.name).filter(|s| !s.paused) else {
                continue;
            };
            let owed = schedule
                .timing
                .due(now, state.owed_from, last.get(&schedule.name).copied());
            // One schedule that cannot start (a zone's queue cannot be
            // declared) never holds back the others.
            match self.act(schedule, owed).await {
                Ok(Some(outcome)) => done.push((schedule.name.clone(), outcome)),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(schedule = %schedule.name, error = %e, "a schedule could not start its batch; trying again next tick");
                }
            }
        }
        Ok(done)
    }

    /// Start `name`'s batch now, whatever its cron says (recorded as a
    /// manual run), unless a batch of its kind is running.
    pub async fn trigger(
        &self,
        name: &str,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<Batch, TriggerError> {
        let schedule = self.schedules.iter().find(|s| s.name == name);
        let schedule = schedule.ok_or_else(|| TriggerError::Unknown(name.to_string()))?;
        if let Some(running) = self.running(schedule).await? {
            return Err(TriggerError::Overlap(Box::new(running)));
        }
        // To the second: two triggers at once (a double click, the CLI and
        // the API) claim one slot and start one batch.
        let slot = ScheduleSlot {
            schedule: name,
            slot: now.with_nanosecond(0).unwrap_or(now),
            manual: true,
            started_by: by,
        };
        match self.start(schedule, slot).await? {
            Keyed::Created(batch) | Keyed::Existing(batch) => Ok(batch),
            Keyed::Reused => unreachable!("a schedule's slot is never an idempotency key"),
        }
    }

    /// The state of every schedule, created for those seen the first time.
    async fn states(
        &self,
        now: DateTime<Utc>,
    ) -> Result<HashMap<String, ScheduleState>, TriggerError> {
        let names: Vec<&str> = self.schedules.iter().map(|s| s.name.as_str()).collect();
        let store = self.store.schedules();
        let mut states: HashMap<String, ScheduleState> = (store.states().await?)
            .into_iter()
            .map(|s| (s.name.clone(), s))
            .collect();
        if names.iter().any(|n| !states.contains_key(*n)) {
            store.ensure(&names, now).await?;
            states = (store.states().await?)
                .into_iter()
                .map(|s| (s.name.clone(), s))
                .collect();
        }
        Ok(states)
    }

    async fn act(
        &self,
        schedule: &DeclaredSchedule,
        owed: Due,
    ) -> Result<Option<Outcome>, TriggerError> {
        let slot = match owed {
            Due::Fire { slot } => slot,
            Due::Missed { slot } => {
                self.report_missed(schedule, slot);
                return Ok(None);
            }
            Due::Idle | Due::Held { .. } => return Ok(None),
        };
        if let Some(running) = self.running(schedule).await? {
            self.report_once(schedule, slot, || {
                tracing::info!(schedule = %schedule.name, %slot, blocking_batch = %running.id, "a scheduled run waits for a batch of its kind to end");
            });
            return Ok(Some(Outcome::Waiting { slot, running }));
        }
        let claim = ScheduleSlot {
            schedule: &schedule.name,
            slot,
            manual: false,
            started_by: &self.name,
        };
        let started = match self.start(schedule, claim).await {
            // A sync's definition disabled, or gone: said once per slot,
            // not every tick of the grace window.
            Err(TriggerError::Dispatch(dispatcher::Error::Sync(e))) => {
                self.report_once(schedule, slot, || {
                    tracing::warn!(schedule = %schedule.name, %slot, reason = %e, "a scheduled sync does not run");
                });
                return Ok(None);
            }
            started => started?,
        };
        Ok(Some(match started {
            Keyed::Created(batch) => {
                tracing::info!(schedule = %schedule.name, %slot, batch_id = %batch.id, "schedule started its batch");
                Outcome::Started { slot, batch }
            }
            Keyed::Existing(_) | Keyed::Reused => Outcome::AlreadyStarted { slot },
        }))
    }

    async fn running(&self, schedule: &DeclaredSchedule) -> Result<Option<Batch>, TriggerError> {
        let kind = schedule.kind();
        let same = |params: Option<&serde_json::Value>| schedule.params.overlaps(params);
        let running = self
            .store
            .batches()
            .running_of_kind(kind.as_str(), same)
            .await;
        Ok(running.map_err(dispatcher::Error::from)?)
    }

    /// Create and publish `schedule`'s batch under the claim on `slot`.
    async fn start(
        &self,
        schedule: &DeclaredSchedule,
        slot: ScheduleSlot<'_>,
    ) -> Result<Keyed, TriggerError> {
        let requested_by = format!("schedule {}", schedule.name);
        // The day of the slot, not of whenever a job runs.
        let params = schedule
            .params
            .clone()
            .settled(schedule.timing.day_of(slot.slot));
        let request = BatchRequest {
            params: &params,
            selection: schedule
                .selector
                .as_ref()
                .map_or(Selection::AllActive, Selection::Matching),
            deadline: self.deadline,
            requested_by: Some(&requested_by),
            interactive: false,
        };
        let (store, broker) = (&self.store, self.broker.as_ref());
        Ok(match schedule.spread {
            Some(window) => {
                spread::start_spread_batch_once(store, broker, &request, window, Claim::Slot(slot))
                    .await?
            }
            None => {
                dispatcher::start_batch_once(store, broker, &request, Claim::Slot(slot)).await?
            }
        })
    }

    fn report_missed(&self, schedule: &DeclaredSchedule, slot: DateTime<Utc>) {
        self.report_once(schedule, slot, || {
            let grace = humantime::format_duration(schedule.timing.grace());
            tracing::warn!(schedule = %schedule.name, %slot, %grace, "a scheduled run was missed: its grace window passed before it could start (a batch of its kind still running, or no control plane up)");
        });
    }

    /// Say something of `schedule`'s `slot` once, not every tick. Only the
    /// latest slot of each schedule is remembered.
    fn report_once(&self, schedule: &DeclaredSchedule, slot: DateTime<Utc>, say: impl FnOnce()) {
        let mut said = self.said.lock().unwrap_or_else(PoisonError::into_inner);
        if said.get(&schedule.name) != Some(&slot) {
            said.insert(schedule.name.clone(), slot);
            say();
        }
    }
}

impl From<crate::store::Error> for TriggerError {
    fn from(e: crate::store::Error) -> Self {
        TriggerError::Dispatch(e.into())
    }
}

/// A schedule as an operator reads it: the configuration's and the
/// store's halves together.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Overview {
    pub name: String,
    pub kind: &'static str,
    pub cron: String,
    pub selector: Option<String>,
    pub paused: bool,
    /// Who paused or resumed it last.
    pub changed_by: Option<String>,
    pub last_run: Option<ScheduleRun>,
    /// When the next run starts (`None` while paused).
    pub next_start: Option<DateTime<Utc>>,
}

/// Every configured schedule with its state at `now`, in file order.
pub async fn overview(
    store: &Store,
    schedules: &[DeclaredSchedule],
    now: DateTime<Utc>,
) -> Result<Vec<Overview>, crate::store::Error> {
    let states: HashMap<String, ScheduleState> = (store.schedules().states().await?)
        .into_iter()
        .map(|s| (s.name.clone(), s))
        .collect();
    let mut runs: HashMap<String, ScheduleRun> = (store.schedules().last_runs().await?)
        .into_iter()
        .map(|r| (r.schedule.clone(), r))
        .collect();
    let view = |s: &DeclaredSchedule| {
        let state = states.get(&s.name);
        let paused = state.is_some_and(|st| st.paused);
        Overview {
            name: s.name.clone(),
            kind: s.kind().as_str(),
            cron: s.timing.pattern().to_string(),
            selector: s.selector.as_ref().map(ToString::to_string),
            paused,
            changed_by: state.and_then(|st| st.changed_by.clone()),
            last_run: runs.remove(&s.name),
            next_start: (!paused).then(|| s.timing.next_start(now)).flatten(),
        }
    };
    Ok(schedules.iter().map(view).collect())
}

/// Pause (or resume) the configured schedule `name` at `now`, recording
/// `by`.
pub async fn set_paused(
    store: &Store,
    schedules: &[DeclaredSchedule],
    (name, paused): (&str, bool),
    by: &str,
    now: DateTime<Utc>,
) -> Result<ScheduleState, TriggerError> {
    if !schedules.iter().any(|s| s.name == name) {
        return Err(TriggerError::Unknown(name.to_string()));
    }
    Ok(store.schedules().set_paused(name, paused, by, now).await?)
}
