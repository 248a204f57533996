//! What a table's run waits for before it reads: its target table's lock,
//! which another sync of the same table may hold, and one of the
//! definition's source slots, which cap the sessions all its jobs read the
//! source with at once.
//!
//! Both are polled with a growing delay rather than queued for with the
//! engines' blocking forms: a blocked statement would hold a transaction
//! open on the primary, and a poll lets the run say that it waits.
//! The target lock is taken first: a table waiting for a slot then holds
//! only its own target table, never a slot another target could read
//! with, and every run takes the two in the same order.

use std::time::{Duration, Instant};

use super::{failed, TableJob};
use crate::adapters::sync::SyncSession;

/// The first delay between two tries.
const FIRST_DELAY: Duration = Duration::from_millis(200);
/// The longest delay: a lock freed is noticed within it.
const LONGEST_DELAY: Duration = Duration::from_secs(5);

/// The delays between tries: 0.2 s, doubling up to 5 s.
fn delays() -> impl Iterator<Item = Duration> {
    std::iter::successors(Some(FIRST_DELAY), |d| Some((*d * 2).min(LONGEST_DELAY)))
}

/// A wait as the error says it: whole seconds, or milliseconds under one.
fn spent(d: Duration) -> String {
    let rounded = if d >= Duration::from_secs(1) {
        Duration::from_secs(d.as_secs())
    } else {
        Duration::from_millis(d.as_millis() as u64)
    };
    humantime::format_duration(rounded).to_string()
}

/// Takes the lock of the target table `table`, trying again while another
/// session holds it, up to `job.lock_wait`; then fails, naming the holder.
pub(super) async fn target_lock(
    target: &mut SyncSession,
    job: &TableJob<'_>,
    table: &str,
) -> Result<(), String> {
    let started = Instant::now();
    let mut delays = delays().peekable();
    loop {
        let held = target
            .try_lock(table)
            .await
            .map_err(|e| failed(job, "taking the table's sync lock", e))?;
        let waited = started.elapsed();
        if held {
            return Ok(());
        }
        if waited >= job.lock_wait {
            // Said as the wait allowed: what is past it is the last try's
            // own round trip, not waiting (with no `lock_wait`, 0s).
            return Err(busy(target, job, table, job.lock_wait).await);
        }
        // Said once, as the wait begins.
        if delays.peek() == Some(&FIRST_DELAY) {
            tracing::info!(
                definition = %job.definition, table = %job.spec.name, target = %job.target_label,
                lock_wait = %spent(job.lock_wait),
                "waiting for the target table: another sync of it is running"
            );
        }
        let delay = delays.next().unwrap_or(LONGEST_DELAY);
        tokio::time::sleep(delay.min(job.lock_wait - waited)).await;
    }
}

/// Why a run gave up on the target table's lock: who holds it, and how
/// long the run waited.
async fn busy(
    target: &mut SyncSession,
    job: &TableJob<'_>,
    table: &str,
    waited: Duration,
) -> String {
    let holder = match target.lock_holder(table).await {
        Ok(Some(holder)) => format!(", held by {holder}"),
        Ok(None) | Err(_) => String::new(),
    };
    format!(
        "another sync of {table} into {} is running{holder}; gave up after waiting {} \
         (`lock_wait`)",
        job.target_label,
        spent(waited)
    )
}

/// Takes one of the definition's source slots (`job.source_slots`; none
/// to take without), trying again with a growing delay while all are
/// held. It waits as long as the job may run: a slot frees itself when the
/// run holding it ends or its session dies.
pub(super) async fn source_slot(
    source: &mut SyncSession,
    job: &TableJob<'_>,
) -> Result<Option<u32>, String> {
    let Some(slots) = job.source_slots else {
        return Ok(None);
    };
    let started = Instant::now();
    let mut delays = delays().peekable();
    loop {
        if let Some(slot) = free_slot(source, job, slots).await? {
            if delays.peek() != Some(&FIRST_DELAY) {
                let waited = spent(started.elapsed());
                tracing::info!(table = %job.spec.name, target = %job.target_label, slot, %waited, "took a source slot");
            }
            return Ok(Some(slot));
        }
        // Said once, as the wait begins.
        if delays.peek() == Some(&FIRST_DELAY) {
            tracing::info!(
                definition = %job.definition, table = %job.spec.name, target = %job.target_label, slots,
                "waiting for a source slot: the definition's `source_connections` are all reading"
            );
        }
        tokio::time::sleep(delays.next().unwrap_or(LONGEST_DELAY)).await;
    }
}

/// The first of slots `0..slots` this session could take.
async fn free_slot(
    source: &mut SyncSession,
    job: &TableJob<'_>,
    slots: u32,
) -> Result<Option<u32>, String> {
    for slot in 0..slots {
        let taken = source
            .try_source_slot(job.definition, slot)
            .await
            .map_err(|e| failed(job, "taking a source slot", e))?;
        if taken {
            return Ok(Some(slot));
        }
    }
    Ok(None)
}

/// Gives the slot back; a failure is logged, and the slot frees itself
/// when the session closes.
pub(super) async fn release_slot(source: &mut SyncSession, job: &TableJob<'_>, slot: u32) {
    if let Err(e) = source.release_source_slot(job.definition, slot).await {
        tracing::warn!(table = %job.spec.name, slot, error = %e, "releasing a source slot failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_to_five_seconds() {
        let ms = |n| Duration::from_millis(n);
        let first: Vec<Duration> = delays().take(7).collect();
        assert_eq!(
            first,
            [
                ms(200),
                ms(400),
                ms(800),
                ms(1_600),
                ms(3_200),
                ms(5_000),
                ms(5_000)
            ]
        );
    }

    #[test]
    fn waits_read_in_whole_seconds_or_milliseconds() {
        assert_eq!(spent(Duration::from_millis(612_345)), "10m 12s");
        assert_eq!(spent(Duration::from_micros(450_900)), "450ms");
        assert_eq!(spent(Duration::ZERO), "0s");
    }
}
