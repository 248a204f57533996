//! Word that a batch moved, for whoever follows one (`batch start --wait`,
//! `instance check`, `dbfleet run`).
//!
//! On PostgreSQL every change of a batch's counters or status notifies the
//! channel [`CHANNEL`] with the batch's id (a trigger on `batches`,
//! migration 0018), delivered when the transaction that made it commits,
//! whoever made it: the folder, the sweeper, a cancel. A follower reads the
//! batch again as soon as word comes that it moved, instead of every
//! 200 ms. A notification sent while the listener's connection is down is
//! lost, so a follower also reads the batch again when the listener
//! reconnects, and without word at most every `max(poll, FALLBACK)`.
//!
//! SQLite has no notifications: word of a batch this process moved comes
//! from the process itself, once the write that moved it has committed
//! (`dialect/local.rs`); a batch another process moved on the same file is
//! read again at the next poll. A follower on PostgreSQL whose listener
//! could not be opened polls too: following a batch never fails for want
//! of word. A connection pooler in transaction mode
//! (pgbouncer) accepts `LISTEN` and never delivers: behind one, a follower
//! reads the batch every `max(poll, FALLBACK)`.

use std::time::Duration;

use sqlx::postgres::PgListener;
use tokio::sync::watch;
use tokio::time::{timeout_at, Instant};

use super::Store;
use crate::domain::BatchId;

/// The notification channel of batch changes; the payload is the batch id.
pub const CHANNEL: &str = "dbfleet_batches";

/// The shortest a listening follower waits without word before it reads
/// the batch again anyway (its poll, when longer, rules).
pub const FALLBACK: Duration = Duration::from_secs(2);

/// Word of batch changes ([`Store::batch_changes`]).
pub struct BatchChanges {
    listener: Option<PgListener>,
    /// SQLite: word of the batches this process moves.
    moves: Option<watch::Receiver<()>>,
}

impl Store {
    /// Start listening for batch changes: on PostgreSQL, polling only when
    /// the listener cannot be opened (logged); on SQLite, this process's
    /// word and polls.
    pub async fn batch_changes(&self) -> BatchChanges {
        let listener = match self.db.listen(CHANNEL).await {
            Ok(listener) => listener,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for batch changes; polling instead");
                None
            }
        };
        let moves = self.db.batch_moves();
        BatchChanges { listener, moves }
    }
}

impl BatchChanges {
    /// Whether word comes as batches change (on SQLite, those this
    /// process changes), rather than every poll.
    pub fn listening(&self) -> bool {
        self.listener.is_some() || self.moves.is_some()
    }

    /// Return once batch `id` may have moved: on word of it, when the
    /// listener reconnected (word may have been lost), or after `poll`
    /// (at least [`FALLBACK`] while listening on PostgreSQL). On SQLite,
    /// on word that this process moved a batch, or after `poll`.
    pub async fn wait(&mut self, id: BatchId, poll: Duration) {
        if let Some(moves) = self.moves.as_mut() {
            if let Ok(Err(_closed)) = tokio::time::timeout(poll, moves.changed()).await {
                // The store is gone: no more word, only polls.
                self.moves = None;
            }
            return;
        }
        let Some(listener) = self.listener.as_mut() else {
            return tokio::time::sleep(poll).await;
        };
        let until = Instant::now() + poll.max(FALLBACK);
        let wanted = id.to_string();
        loop {
            // A timeout loses no notification (`try_recv` reads whole
            // messages only); one that falls during a reconnection loses
            // its word that the listener reconnected, so a change in that
            // gap waits for the next read, `until` at the latest.
            match timeout_at(until, listener.try_recv()).await {
                Err(_) | Ok(Ok(None)) => return,
                Ok(Ok(Some(word))) if word.payload() == wanted => return,
                Ok(Ok(Some(_))) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "lost the batch changes listener; polling instead");
                    self.listener = None;
                    return;
                }
            }
        }
    }
}
