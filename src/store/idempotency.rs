//! Idempotency keys: a client that retries a request with the same key
//! gets the batch its first request created, never a second one.
//!
//! Contract: the key's row is written in the transaction that creates its
//! batch, and the key is unique. Of two requests racing with one key, the
//! second's insert waits for the first's transaction (PostgreSQL's unique
//! index; SQLite has one writer), finds the key taken, and rolls its own
//! batch back: exactly one batch is ever committed per key.

use chrono::Utc;

use super::batches::{create, Batch, NewJob, Origin};
use super::db::args;
use super::{Batches, Error, Result, Tally};
use crate::domain::BatchId;

/// A key and what it was sent with (for a job: its kind and instance).
#[derive(Debug, Clone, Copy)]
pub struct IdempotencyKey<'a> {
    pub key: &'a str,
    pub request: &'a str,
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
    /// [`Batches::create`] under an idempotency key.
    pub async fn create_keyed(
        &self,
        key: &IdempotencyKey<'_>,
        id: BatchId,
        kind: &str,
        origin: &Origin,
        jobs: &[NewJob],
        summary: &Tally,
    ) -> Result<Keyed> {
        let mut tx = self.db.write().await?;
        let batch = create(&mut tx, id, kind, origin, jobs, summary).await?;
        let claimed = tx
            .fetch_optional(
                "INSERT INTO api_idempotency_keys (key, request, batch_id, created_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (key) DO NOTHING RETURNING batch_id",
                args![key.key, key.request, id, Utc::now()],
            )
            .await?;
        if claimed.is_some() {
            tx.commit().await?;
            return Ok(Keyed::Created(batch));
        }
        // Dropped uncommitted: the batch made for this request goes too.
        drop(tx);
        self.keyed(key).await?.ok_or_else(|| {
            Error::Conflict("the idempotency key is in use by a request still running".into())
        })
    }

    /// The batch an earlier request made for `key`, if there was one.
    pub async fn keyed(&self, key: &IdempotencyKey<'_>) -> Result<Option<Keyed>> {
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
        let id = BatchId(row.uuid("batch_id")?);
        let batch = self
            .get(id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("batch {id}")))?;
        Ok(Some(Keyed::Existing(batch)))
    }
}
