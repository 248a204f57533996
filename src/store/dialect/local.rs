//! What the users of one embedded store within one process share besides
//! its pool: the turn and the connection of its one writer, and word that a
//! batch moved.
//!
//! * **Turns.** SQLite lets one connection write at a time. One that finds
//!   the lock taken waits in SQLite's busy handler, which sleeps 1, 2, 5,
//!   10 and up to 100 ms between tries, however soon the lock is free: a
//!   batch of 1,000 jobs on the embedded defaults, four at a time, slept
//!   about 2,500 times. Taking turns here first, in the order asked, a
//!   write starts the moment the one before it ends: every write of the
//!   process, its transactions and its single statements (those that
//!   return rows, a claim, included), the migrations aside, which run at
//!   start-up before any other. Writes of other processes on the same
//!   file still meet the busy handler.
//! * **One connection for the writes** ([`Local::writes`]). A connection's
//!   page cache is dropped whenever another connection wrote since its last
//!   read; the process's writes, all on one connection, keep theirs. The
//!   pool hands that connection on only once a dropped transaction's
//!   rollback has run on it, so the next write never finds the lock still
//!   held by the last.
//! * **Word of moved batches.** SQLite has no `NOTIFY`. A write that moves
//!   a batch says so ([`Turn::moved_batch`]); once it has committed, every
//!   follower in this process ([`Local::batch_moves`]) is woken to read the
//!   batch again, instead of at its next poll. A batch moved by another
//!   process is seen at the poll, as before.
//!
//! Every clone of a store's pool shares one `Local`; two pools opened on
//! the same file do not, and meet as two processes would.

use std::sync::Arc;
use std::time::Duration;

use sqlx::SqlitePool;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

use crate::store::{Error, Result};

#[derive(Debug, Clone)]
pub(crate) struct Local(Arc<Shared>);

#[derive(Debug)]
struct Shared {
    writer: Arc<Semaphore>,
    writes: SqlitePool,
    moved: watch::Sender<()>,
}

/// One write's turn (a transaction, or a single statement); the next one's
/// starts when it is dropped.
#[derive(Debug)]
pub(crate) struct Turn {
    _permit: OwnedSemaphorePermit,
    local: Local,
    moved: bool,
}

impl Local {
    pub(crate) fn new(writes: SqlitePool) -> Self {
        Local(Arc::new(Shared {
            writer: Arc::new(Semaphore::new(1)),
            writes,
            moved: watch::Sender::new(()),
        }))
    }

    /// Wait up to `wait` for this process's turn to write. A write asked
    /// for while its own task holds a turn (a nested write, which SQLite's
    /// lock would refuse too) fails after that wait.
    pub(crate) async fn turn(&self, wait: Duration) -> Result<Turn> {
        let writer = self.0.writer.clone();
        match tokio::time::timeout(wait, writer.acquire_owned()).await {
            Ok(Ok(permit)) => Ok(Turn {
                _permit: permit,
                local: self.clone(),
                moved: false,
            }),
            // Never closed: only the wait can run out.
            _ => Err(Error::WriterBusy(wait)),
        }
    }

    /// The pool of the one connection the process writes on.
    pub(crate) fn writes(&self) -> &SqlitePool {
        &self.0.writes
    }

    /// Word of every batch this process moves from now on: the receiver
    /// changes after each commit of a write that moved one.
    pub(crate) fn batch_moves(&self) -> watch::Receiver<()> {
        self.0.moved.subscribe()
    }
}

impl Turn {
    /// The write moves a batch: its followers hear of it once it commits.
    pub(crate) fn moved_batch(&mut self) {
        self.moved = true;
    }

    /// The write committed: send word of what it moved, and end the turn.
    pub(crate) fn committed(self) {
        if self.moved {
            self.local.0.moved.send_replace(());
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const WAIT: Duration = Duration::from_secs(10);

    async fn local() -> Local {
        Local::new(SqlitePool::connect("sqlite::memory:").await.unwrap())
    }

    #[tokio::test]
    async fn a_write_waits_for_the_turn_before_it_and_no_longer() {
        let local = local().await;
        let first = local.turn(WAIT).await.unwrap();
        let next = local.clone();
        let second = tokio::spawn(async move { next.turn(WAIT).await.map(drop) });
        tokio::task::yield_now().await;
        assert!(
            !second.is_finished(),
            "the second waits while the first holds"
        );
        drop(first);
        let turned = second.await.unwrap();
        assert!(turned.is_ok(), "its turn comes once the first is over");
        let again = local.turn(WAIT).await;
        assert!(again.is_ok(), "free again once every turn is over");
    }

    #[tokio::test]
    async fn a_turn_not_given_in_time_is_an_error_that_says_so() {
        let local = local().await;
        let _held = local.turn(WAIT).await.unwrap();
        let refused = local.turn(Duration::from_millis(20)).await;
        let message = refused.unwrap_err().to_string();
        assert!(
            message.contains("database is locked") && message.contains("waited 20ms"),
            "{message}"
        );
    }

    #[tokio::test]
    async fn followers_hear_of_a_moved_batch_once_its_write_commits() {
        let local = local().await;
        let mut follower = local.batch_moves();
        local.turn(WAIT).await.unwrap().committed();
        assert!(
            !follower.has_changed().unwrap(),
            "a write that moved no batch"
        );
        let mut moving = local.turn(WAIT).await.unwrap();
        moving.moved_batch();
        drop(moving);
        assert!(
            !follower.has_changed().unwrap(),
            "rolled back: nothing moved"
        );
        let mut moving = local.turn(WAIT).await.unwrap();
        moving.moved_batch();
        moving.committed();
        assert!(follower.has_changed().unwrap());
        follower.mark_unchanged();
        let late = local.batch_moves();
        assert!(
            !late.has_changed().unwrap(),
            "word of earlier moves is not kept"
        );
    }
}
