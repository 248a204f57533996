//! Schedules' state: paused or not, since when runs are owed, and the runs
//! started.
//!
//! Contract: a run's row is written in the transaction that creates its
//! batch ([`claim`], through `Batches::create_keyed` with a
//! `Claim::Slot`), under the primary key (schedule, slot). Of two control
//! planes firing one slot, the second's insert finds the row (PostgreSQL
//! waits for the first's commit; SQLite has one writer) and rolls its batch
//! back, so a slot has at most one batch. The schedules themselves are the
//! configuration's; a row here is created the first time one is seen
//! ([`Schedules::ensure`]) and outlives its removal from the file.

use chrono::{DateTime, Utc};

use super::db::{args, Db, Row, Tx};
use super::{Batch, Result};
use crate::domain::BatchId;

/// One run of a schedule, as it is claimed.
#[derive(Debug, Clone, Copy)]
pub struct ScheduleSlot<'a> {
    pub schedule: &'a str,
    /// The cron time the run is for, or the moment of a manual trigger.
    pub slot: DateTime<Utc>,
    pub manual: bool,
    /// The control plane (or operator) that started it.
    pub started_by: &'a str,
}

/// A schedule's state in the store.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ScheduleState {
    pub name: String,
    pub paused: bool,
    /// Who paused or resumed it last.
    pub changed_by: Option<String>,
    /// Runs for earlier times are not owed.
    pub owed_from: DateTime<Utc>,
}

/// A run started.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ScheduleRun {
    pub schedule: String,
    pub slot: DateTime<Utc>,
    pub manual: bool,
    pub batch_id: BatchId,
    pub started_by: String,
    pub started_at: DateTime<Utc>,
}

/// The schedules' state of a store ([`super::Store::schedules`]).
pub struct Schedules<'a> {
    pub(super) db: &'a Db,
}

impl Schedules<'_> {
    /// Create the state of each of `names` not seen before: active, owed
    /// runs from `now` on.
    pub async fn ensure(&self, names: &[&str], now: DateTime<Utc>) -> Result<()> {
        for name in names {
            self.db
                .execute(
                    "INSERT INTO schedules (name, paused, owed_from) VALUES ($1, $2, $3) \
                     ON CONFLICT (name) DO NOTHING",
                    args![*name, false, now],
                )
                .await?;
        }
        Ok(())
    }

    /// The state of every schedule seen, by name.
    pub async fn states(&self) -> Result<Vec<ScheduleState>> {
        let rows = self
            .db
            .fetch_all(
                "SELECT name, paused, changed_by, owed_from FROM schedules ORDER BY name",
                args![],
            )
            .await?;
        rows.iter().map(state_from_row).collect()
    }

    /// Pause or resume `name` (`by` recorded). Resuming owes runs from
    /// `now` on only: the runs a pause skipped stay skipped.
    pub async fn set_paused(
        &self,
        name: &str,
        paused: bool,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<ScheduleState> {
        self.ensure(&[name], now).await?;
        let sql = if paused {
            "UPDATE schedules SET paused = $2, changed_by = $3, updated_at = $4 WHERE name = $1 \
             RETURNING name, paused, changed_by, owed_from"
        } else {
            "UPDATE schedules SET paused = $2, changed_by = $3, updated_at = $4, \
                 owed_from = CASE WHEN paused THEN $4 ELSE owed_from END \
             WHERE name = $1 RETURNING name, paused, changed_by, owed_from"
        };
        let row = self
            .db
            .write_returning_one(sql, args![name, paused, by, now])
            .await?;
        state_from_row(&row)
    }

    /// The latest run of each schedule.
    pub async fn last_runs(&self) -> Result<Vec<ScheduleRun>> {
        let rows = self
            .db
            .fetch_all(
                "SELECT r.schedule, r.slot, r.manual, r.batch_id, r.started_by, r.started_at \
                 FROM schedule_runs r \
                 WHERE r.slot = (SELECT max(l.slot) FROM schedule_runs l \
                                 WHERE l.schedule = r.schedule) \
                 ORDER BY r.schedule",
                args![],
            )
            .await?;
        rows.iter().map(run_from_row).collect()
    }

    /// The latest slot each schedule's cron ran (manual runs aside).
    pub async fn last_slots(&self) -> Result<Vec<(String, DateTime<Utc>)>> {
        let rows = self
            .db
            .fetch_all(
                "SELECT schedule, max(slot) AS slot FROM schedule_runs \
                 WHERE manual = $1 GROUP BY schedule",
                args![false],
            )
            .await?;
        rows.iter()
            .map(|row| Ok((row.get("schedule")?, row.get("slot")?)))
            .collect()
    }

    /// The runs of `name`, newest first.
    pub async fn runs(&self, name: &str, limit: i64) -> Result<Vec<ScheduleRun>> {
        let rows = self
            .db
            .fetch_all(
                "SELECT schedule, slot, manual, batch_id, started_by, started_at \
                 FROM schedule_runs WHERE schedule = $1 ORDER BY slot DESC LIMIT $2",
                args![name, limit],
            )
            .await?;
        rows.iter().map(run_from_row).collect()
    }
}

impl super::Batches<'_> {
    /// The oldest batch of `kind` still running whose jobs' parameters
    /// (`None`: the kind's defaults) `same` accepts, if there is one.
    pub async fn running_of_kind(
        &self,
        kind: &str,
        same: impl Fn(Option<&serde_json::Value>) -> bool,
    ) -> Result<Option<Batch>> {
        let sql = format!(
            "SELECT {}, params FROM batches WHERE kind = $1 AND status = 'running' \
             ORDER BY created_at",
            super::batches::BATCH_COLUMNS
        );
        for row in self.db.fetch_all(&sql, args![kind]).await? {
            let params: Option<String> = row.get("params")?;
            let params = params.and_then(|text| serde_json::from_str(&text).ok());
            if same(params.as_ref()) {
                return super::batches::batch_from_row(&row).map(Some);
            }
        }
        Ok(None)
    }
}

/// Claim `slot` for batch `batch` in the batch's transaction; `false` when
/// it was claimed before.
pub(super) async fn claim(tx: &mut Tx, slot: &ScheduleSlot<'_>, batch: BatchId) -> Result<bool> {
    let claimed = tx
        .fetch_optional(
            "INSERT INTO schedule_runs (schedule, slot, manual, batch_id, started_by, started_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (schedule, slot) DO NOTHING \
             RETURNING batch_id",
            args![
                slot.schedule,
                slot.slot,
                slot.manual,
                batch,
                slot.started_by,
                Utc::now()
            ],
        )
        .await?;
    Ok(claimed.is_some())
}

/// The batch of `slot`'s run, if it ran.
pub(super) async fn batch_of(db: &Db, slot: &ScheduleSlot<'_>) -> Result<Option<BatchId>> {
    let row = db
        .fetch_optional(
            "SELECT batch_id FROM schedule_runs WHERE schedule = $1 AND slot = $2",
            args![slot.schedule, slot.slot],
        )
        .await?;
    row.map(|r| r.uuid("batch_id").map(BatchId)).transpose()
}

fn state_from_row(row: &Row) -> Result<ScheduleState> {
    Ok(ScheduleState {
        name: row.get("name")?,
        paused: row.get("paused")?,
        changed_by: row.get("changed_by")?,
        owed_from: row.get("owed_from")?,
    })
}

fn run_from_row(row: &Row) -> Result<ScheduleRun> {
    Ok(ScheduleRun {
        schedule: row.get("schedule")?,
        slot: row.get("slot")?,
        manual: row.get("manual")?,
        batch_id: BatchId(row.uuid("batch_id")?),
        started_by: row.get("started_by")?,
        started_at: row.get("started_at")?,
    })
}
