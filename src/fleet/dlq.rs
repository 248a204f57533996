//! Dead letters kept by the control plane: list them, and replay them.
//!
//! The aggregator ([`super::aggregator::run_dead_letters`]) keeps every
//! message of the dead-letter queue in the store. A replay publishes the kept
//! body again, confirmed, then stamps the dead letter as replayed:
//!
//! - a job goes back to the jobs queue as a fresh attempt: its deadline is
//!   moved to now + `batch.deadline` (the old one has usually passed, and the
//!   worker would fail it at once) and `enqueued_at` to now. Its success
//!   overwrites the failure the dead letter left on its batch;
//! - a result goes back to the results queue, unchanged;
//! - a body that is neither would only be dead-lettered again: it is
//!   replayed (to the jobs queue, as it is) only when named by id.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::aggregator::DeadBody;
use crate::broker::{self, Broker, Outgoing, Queue};
use crate::store::{self, DeadLetter, Store};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error("no dead letter with id(s) {}", ids(.0))]
    NotFound(Vec<i64>),
    #[error("dead letter {id} was already replayed at {at}")]
    AlreadyReplayed { id: i64, at: DateTime<Utc> },
    #[error("dead letter {id} could not be published ({replayed} replayed before it): {cause}")]
    Publish {
        id: i64,
        replayed: usize,
        cause: broker::Error,
    },
    #[error(
        "dead letter {id} was published but not marked replayed ({replayed} replayed before it): {cause}"
    )]
    Mark {
        id: i64,
        replayed: usize,
        cause: store::Error,
    },
}

fn ids(ids: &[i64]) -> String {
    ids.iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Which dead letters to replay.
#[derive(Debug, Clone, Copy)]
pub enum Selection<'a> {
    /// Every dead letter not replayed yet, except unknown bodies.
    AllPending,
    /// These, replayed or not, unknown bodies included.
    Ids(&'a [i64]),
    /// These, unknown bodies included, none of them replayed yet: a client
    /// that retries a replay after a lost answer must not publish twice.
    Pending(&'a [i64]),
}

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replayed {
    /// Published and marked replayed, in order.
    pub replayed: Vec<i64>,
    /// Left alone: bodies that are neither a job nor a result (only with
    /// [`Selection::AllPending`]).
    pub skipped_unknown: Vec<i64>,
}

/// Dead letters, newest first (`limit` at most).
pub async fn list(
    store: &Store,
    include_replayed: bool,
    limit: i64,
) -> Result<Vec<DeadLetter>, Error> {
    page(store, include_replayed, limit, None).await
}

/// [`list`], from the one after dead letter `after` (the last of the
/// previous page) when given.
pub async fn page(
    store: &Store,
    include_replayed: bool,
    limit: i64,
    after: Option<i64>,
) -> Result<Vec<DeadLetter>, Error> {
    Ok(store
        .dead_letters()
        .page(include_replayed, limit.max(1), after)
        .await?)
}

/// Publish the selected dead letters again, oldest first, marking each
/// replayed once its publish is confirmed. `job_deadline` is the time a
/// replayed job gets from now to be started (`batch.deadline` of the
/// settings).
pub async fn replay(
    store: &Store,
    broker: &dyn Broker,
    selection: Selection<'_>,
    job_deadline: Duration,
) -> Result<Replayed, Error> {
    // Pending letters are claimed before they are published, so two
    // replays at once never publish one letter twice.
    let claims = !matches!(selection, Selection::Ids(_));
    let (mut letters, explicit) = select(store, selection).await?;
    letters.sort_by_key(|d| (d.dead_at, d.id));
    let mut done = Replayed::default();
    for letter in &letters {
        let zone = zone_of(store, broker, letter, done.replayed.len()).await?;
        let Some(message) = outgoing(letter, explicit, job_deadline, zone.as_deref()) else {
            done.skipped_unknown.push(letter.id);
            continue;
        };
        // In microseconds, as both stores keep it, so an unclaim finds it.
        let at = chrono::SubsecRound::trunc_subsecs(Utc::now(), 6);
        if claims && !store.dead_letters().claim(letter.id, at).await? {
            match selection {
                Selection::Pending(_) => return Err(Error::AlreadyReplayed { id: letter.id, at }),
                Selection::AllPending | Selection::Ids(_) => continue,
            }
        }
        if let Err(cause) = broker.publish(message).await {
            if claims {
                store.dead_letters().unclaim(letter.id, at).await?;
            }
            let replayed = done.replayed.len();
            return Err(Error::Publish {
                id: letter.id,
                replayed,
                cause,
            });
        }
        if !claims {
            let marked = store.dead_letters().mark_replayed(&[letter.id], at).await;
            marked.map_err(|cause| Error::Mark {
                id: letter.id,
                replayed: done.replayed.len(),
                cause,
            })?;
        }
        tracing::info!(id = letter.id, kind = %letter.kind, "dead letter replayed");
        done.replayed.push(letter.id);
    }
    Ok(done)
}

/// The selected dead letters, and whether they were named (so unknown
/// bodies go too).
async fn select(store: &Store, selection: Selection<'_>) -> Result<(Vec<DeadLetter>, bool), Error> {
    match selection {
        Selection::AllPending => Ok((store.dead_letters().list(false, i64::MAX).await?, false)),
        Selection::Ids(wanted) => Ok((named(store, wanted).await?, true)),
        Selection::Pending(wanted) => {
            let letters = named(store, wanted).await?;
            if let Some((id, at)) = letters.iter().find_map(|d| Some((d.id, d.replayed_at?))) {
                return Err(Error::AlreadyReplayed { id, at });
            }
            Ok((letters, true))
        }
    }
}

/// The dead letters with these ids; [`Error::NotFound`] names the missing.
async fn named(store: &Store, wanted: &[i64]) -> Result<Vec<DeadLetter>, Error> {
    let found = store.dead_letters().by_id(wanted).await?;
    let known: BTreeSet<i64> = found.iter().map(|d| d.id).collect();
    let missing: BTreeSet<i64> = wanted
        .iter()
        .copied()
        .filter(|id| !known.contains(id))
        .collect();
    if !missing.is_empty() {
        return Err(Error::NotFound(missing.into_iter().collect()));
    }
    Ok(found)
}

/// The network zone of a dead job's instance, its queue declared: a
/// replayed job goes back to the workers that can reach its instance.
async fn zone_of(
    store: &Store,
    broker: &dyn Broker,
    letter: &DeadLetter,
    replayed: usize,
) -> Result<Option<String>, Error> {
    let DeadBody::Job(job) = DeadBody::decode(&letter.body) else {
        return Ok(None);
    };
    let crate::message::Target::Instance(wanted) = &job.target;
    let instance = match wanted {
        crate::message::InstanceRef::Id(id) => store.instances().get(*id).await?,
        crate::message::InstanceRef::Name(name) => store.instances().by_name(name).await?,
    };
    let Some(zone) = instance.and_then(|i| i.labels.zone().map(str::to_string)) else {
        return Ok(None);
    };
    broker
        .declare_zone(&zone)
        .await
        .map_err(|cause| Error::Publish {
            id: letter.id,
            replayed,
            cause,
        })?;
    Ok(Some(zone))
}

/// The message a dead letter is replayed as (a job to its instance's
/// `zone`); `None` for an unknown body not named explicitly. The body is
/// decoded again rather than trusting `kind`.
fn outgoing(
    letter: &DeadLetter,
    explicit: bool,
    job_deadline: Duration,
    zone: Option<&str>,
) -> Option<Outgoing> {
    match DeadBody::decode(&letter.body) {
        DeadBody::Job(mut job) => {
            let now = Utc::now();
            job.deadline = chrono::Duration::from_std(job_deadline)
                .ok()
                .and_then(|budget| now.checked_add_signed(budget))
                .unwrap_or(DateTime::<Utc>::MAX_UTC);
            job.enqueued_at = now;
            Some(Outgoing::job_in_zone(&job, zone))
        }
        DeadBody::Result(result) => Some(Outgoing::result(&result)),
        DeadBody::Unknown if explicit => Some(Outgoing {
            queue: Queue::Jobs,
            message_id: letter.message_id.clone().unwrap_or_default(),
            correlation_id: String::new(),
            kind: DeadLetter::KIND_UNKNOWN.to_string(),
            routing_key: format!("job.{}", DeadLetter::KIND_UNKNOWN),
            body: letter.body.clone(),
            headers: Default::default(),
        }),
        DeadBody::Unknown => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::domain::{BatchId, InstanceId, JobId};
    use crate::fleet::aggregator::dead_letter_result;
    use crate::message::{capacity_sync, InstanceRef, JobMessage, JobParams, Target};

    fn on(id: i64) -> Target {
        Target::Instance(InstanceRef::Id(InstanceId(id)))
    }

    fn capacity() -> JobParams {
        JobParams::CapacitySync(capacity_sync::Params {})
    }

    fn letter(kind: &str, body: Vec<u8>) -> DeadLetter {
        DeadLetter {
            id: 1,
            message_id: Some("m-1".into()),
            kind: kind.into(),
            reason: "r".into(),
            preview: DeadLetter::preview_of(&body),
            body,
            dead_at: Utc::now(),
            replayed_at: None,
        }
    }

    #[test]
    fn a_replayed_job_is_a_fresh_attempt() {
        let stale = Utc::now() - chrono::Duration::hours(2);
        let batch = BatchId::new();
        let mut job = JobMessage::new(JobId::new(), Some(batch), on(4), capacity(), stale, None);
        job.enqueued_at = stale;
        let budget = Duration::from_secs(600);
        let before = Utc::now();
        let out = outgoing(&letter("job", job.encode()), false, budget, None).unwrap();
        assert_eq!(out.queue, Queue::Jobs);
        assert_eq!(out.routing_key, "job.capacity_sync");
        assert_eq!(out.message_id, job.job_id.to_string());
        assert_eq!(out.correlation_id, batch.to_string());
        let sent = JobMessage::decode(&out.body).unwrap();
        assert_eq!((sent.job_id, sent.batch_id), (job.job_id, job.batch_id));
        assert!(sent.deadline >= before + chrono::Duration::seconds(600));
        assert!(sent.deadline <= Utc::now() + chrono::Duration::seconds(600));
        assert!(sent.enqueued_at >= before);
        let zoned = outgoing(&letter("job", job.encode()), false, budget, Some("eu")).unwrap();
        assert_eq!(
            zoned.routing_key, "zone.eu.job.capacity_sync",
            "back to its zone"
        );
    }

    #[test]
    fn results_go_to_the_results_queue_and_unknown_bodies_only_by_id() {
        let job = JobMessage::new(JobId::new(), None, on(4), capacity(), Utc::now(), None);
        let result = dead_letter_result(&job, "r", 1);
        let out = outgoing(
            &letter("result", result.encode()),
            false,
            Duration::ZERO,
            None,
        )
        .unwrap();
        assert_eq!(out.queue, Queue::Results);
        assert_eq!(out.body, result.encode());

        let garbage = letter("unknown", b"not json".to_vec());
        assert!(outgoing(&garbage, false, Duration::ZERO, None).is_none());
        let out = outgoing(&garbage, true, Duration::ZERO, None).unwrap();
        assert_eq!(out.queue, Queue::Jobs);
        assert_eq!(
            (out.body.as_slice(), out.message_id.as_str()),
            (&b"not json"[..], "m-1")
        );
    }
}
