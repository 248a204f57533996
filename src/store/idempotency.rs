//! Idempotency keys: a client that retries a request with the same key
//! gets the batch its first request created, never a second one.
//!
//! Contract: the key's row is written in the transaction that creates its
//! batch, and the key is unique. Of two requests racing with one key, the
//! second's insert waits for the first's transaction (PostgreSQL's unique
//! index; SQLite has one writer), finds the key taken, and rolls its own
//! batch back: exactly one batch is ever committed per key.
//!
//! A schedule's run is claimed the same way, by its (schedule, slot) row in
//! `schedule_runs` instead of a key ([`Claim::Slot`]): two control planes
//! firing one slot commit one batch.

use chrono::Utc;

use super::batches::{create, Batch, NewJob, Origin};
use super::db::args;
use super::schedules::ScheduleSlot;
use super::{Batches, Error, Parked, Result, Tally};
use crate::domain::BatchId;

/// A key and what it was sent with (for a job: its kind and instance).
#[derive(Debug, Clone, Copy)]
pub struct IdempotencyKey<'a> {
    pub key: &'a str,
    pub request: &'a str,
}

/// What a batch is created under, so it is created once.
#[derive(Debug, Clone, Copy)]
pub enum Claim<'a> {
    /// A client's idempotency key.
    Key(IdempotencyKey<'a>),
    /// A schedule's run for one slot.
    Slot(ScheduleSlot<'a>),
}

impl<'a> From<&IdempotencyKey<'a>> for Claim<'a> {
    fn from(key: &IdempotencyKey<'a>) -> Self {
        Claim::Key(*key)
    }
}

impl<'a> From<&ScheduleSlot<'a>> for Claim<'a> {
    fn from(slot: &ScheduleSlot<'a>) -> Self {
        Claim::Slot(*slot)
    }
}

/// A batch to create under a claim.
#[derive(Debug, Clone, Copy)]
pub struct ClaimedBatch<'a> {
    pub id: BatchId,
    pub kind: &'a str,
    pub origin: &'a Origin,
    pub jobs: &'a [NewJob],
    pub summary: &'a Tally,
    /// Jobs kept back until their time.
    pub parked: &'a [Parked],
}

/// What a keyed create did.
#[derive(Debug, Clone)]
pub enum Keyed {
    /// The key was new: this batch was created for it.
    Created(Batch),
    /// The key was used before for the same request: its batch.
    Existing(Batch),
    /// The key was used before for another request; nothing was created.
    Reused,
}

impl Batches<'_> {
    /// [`Batches::create`] under an idempotency key or a schedule's slot.
    pub async fn create_keyed<'k>(
        &self,
        claim: impl Into<Claim<'k>>,
        id: BatchId,
        kind: &str,
        origin: &Origin,
        jobs: &[NewJob],
        summary: &Tally,
    ) -> Result<Keyed> {
        let batch = ClaimedBatch {
            id,
            kind,
            origin,
            jobs,
            summary,
            parked: &[],
        };
        self.create_claimed(claim.into(), &batch).await
    }

    /// [`Batches::create_keyed`] with some jobs parked until their time
    /// (a spread batch), all in one transaction.
    pub async fn create_claimed(&self, claim: Claim<'_>, new: &ClaimedBatch<'_>) -> Result<Keyed> {
        let mut tx = self.db.write().await?;
        let id = new.id;
        // A slot is claimed first (its row has no key to the batch), so the
        // control plane that loses the race writes no batch to roll back.
        let slot_taken = match claim {
            Claim::Slot(slot) => super::schedules::claim(&mut tx, &slot, id).await?,
            Claim::Key(_) => true,
        };
        let mut batch = None;
        if slot_taken {
            batch = Some(create(&mut tx, id, new.kind, new.origin, new.jobs, new.summary).await?);
            super::outbox::park(&mut tx, new.parked).await?;
        }
        let claimed = match claim {
            Claim::Key(key) => tx
                .fetch_optional(
                    "INSERT INTO api_idempotency_keys (key, request, batch_id, created_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (key) DO NOTHING RETURNING batch_id",
                    args![key.key, key.request, id, Utc::now()],
                )
                .await?
                .is_some(),
            Claim::Slot(_) => slot_taken,
        };
        if let (true, Some(batch)) = (claimed, batch) {
            tx.commit().await?;
            return Ok(Keyed::Created(batch));
        }
        // Dropped uncommitted: the batch made for this request goes too.
        drop(tx);
        self.keyed(claim).await?.ok_or_else(|| {
            Error::Conflict("the idempotency key is in use by a request still running".into())
        })
    }

    /// The batch an earlier request made for `claim`, if there was one.
    pub async fn keyed<'k>(&self, claim: impl Into<Claim<'k>>) -> Result<Option<Keyed>> {
        let key = match claim.into() {
            Claim::Key(key) => key,
            Claim::Slot(slot) => return self.scheduled(&slot).await,
        };
        let row = self
            .db
            .fetch_optional(
                "SELECT request, batch_id FROM api_idempotency_keys WHERE key = $1",
                args![key.key],
            )
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        if row.get::<String>("request")? != key.request {
            return Ok(Some(Keyed::Reused));
        }
        self.existing(BatchId(row.uuid("batch_id")?))
            .await
            .map(Some)
    }

    /// The batch a schedule's run for `slot` created, if it ran.
    async fn scheduled(&self, slot: &ScheduleSlot<'_>) -> Result<Option<Keyed>> {
        match super::schedules::batch_of(self.db, slot).await? {
            Some(id) => self.existing(id).await.map(Some),
            None => Ok(None),
        }
    }

    async fn existing(&self, id: BatchId) -> Result<Keyed> {
        let batch = self
            .get(id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("batch {id}")))?;
        Ok(Keyed::Existing(batch))
    }
}
