//! The state of each alert (rule, subject), the notifications sent, and
//! what the alert evaluation reads that no other reader has.
//!
//! Contract: a transition is recorded by a conditional statement (an
//! insert when the row is absent, an update only from the state the
//! caller saw), so when several control planes evaluate at once, one of
//! them records it and the others learn they did not. A recorded
//! transition is to be sent until [`Alerts::finish`]; only the control
//! plane that [`Alerts::claim`]ed it sends it, and a claim expires, so a
//! transition is neither lost nor sent by two at once. Every attempt to
//! reach a channel is kept ([`Alerts::record_send`]).

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::Value;

use super::batches::{batch_from_row, BATCH_COLUMNS};
use super::db::{args, Db, Row};
use super::{Batch, Error, Result};
use crate::domain::InstanceId;

/// Whether a (rule, subject) is firing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    Firing,
    Resolved,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Firing => "firing",
            AlertState::Resolved => "resolved",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        match s {
            "firing" => Ok(AlertState::Firing),
            "resolved" => Ok(AlertState::Resolved),
            other => Err(Error::Conflict(format!("unknown alert state `{other}`"))),
        }
    }
}

/// One (rule, subject) as the store has it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredAlert {
    pub rule: String,
    pub subject: String,
    pub state: AlertState,
    /// When the current state began: the transition's identity.
    pub since: DateTime<Utc>,
    pub summary: String,
    pub details: Value,
    /// The transition at `since` still has channels to reach.
    pub to_send: bool,
    pub last_sent_at: Option<DateTime<Utc>>,
}

/// A change of state to record: from `from` (`None`: no row yet) to `to`.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTransition<'a> {
    pub rule: &'a str,
    pub subject: &'a str,
    pub from: Option<AlertState>,
    pub to: AlertState,
    pub summary: &'a str,
    pub details: &'a Value,
    /// Recorded, but nothing is to be sent.
    pub silenced: bool,
    /// The rule fires once per subject and never resolves (a batch's
    /// alert): retention may delete its state once old, firing or not.
    pub fires_once: bool,
}

/// One attempt, or run of attempts, at reaching one channel.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertSend {
    pub channel: String,
    pub rule: String,
    pub subject: String,
    pub state: AlertState,
    pub since: DateTime<Utc>,
    pub delivered: bool,
    pub attempts: i64,
    pub error: Option<String>,
    pub sent_at: DateTime<Utc>,
}

/// The alerts of a store ([`super::Store::alerts`]).
pub struct Alerts<'a> {
    pub(super) db: &'a Db,
}

const STATE_COLUMNS: &str = "rule, subject, state, since, summary, details, to_send, last_sent_at";

/// A (rule, subject)'s first state, unless it has one.
const RECORD_FIRST: &str = "INSERT INTO alert_states \
         (rule, subject, state, since, summary, details, to_send, fires_once) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (rule, subject) DO NOTHING";

/// A (rule, subject)'s next state, only from the state `$8`.
const RECORD_CHANGE: &str = "UPDATE alert_states SET state = $3, since = $4, summary = $5, \
         details = $6, to_send = $7, claimed_until = NULL \
     WHERE rule = $1 AND subject = $2 AND state = $8";

impl Alerts<'_> {
    /// Every (rule, subject) with a state, by rule then subject.
    pub async fn states(&self) -> Result<Vec<StoredAlert>> {
        let sql = format!("SELECT {STATE_COLUMNS} FROM alert_states ORDER BY rule, subject");
        let rows = self.db.fetch_all(&sql, args![]).await?;
        rows.iter().map(alert_from_row).collect()
    }

    /// Record `t` at `now` unless someone else already did (or the state
    /// is no longer `t.from`); `true` when this call recorded it. The
    /// statement is the check: an insert only where there is no row, an
    /// update only from the state seen.
    pub async fn record(&self, t: &NewTransition<'_>, now: DateTime<Utc>) -> Result<bool> {
        let to_send = i64::from(!t.silenced);
        let mut args = args![
            t.rule,
            t.subject,
            t.to.as_str(),
            now,
            t.summary,
            t.details.clone(),
            to_send
        ];
        let sql = match t.from {
            None => {
                args.extend(args![i64::from(t.fires_once)]);
                RECORD_FIRST
            }
            Some(from) => {
                args.extend(args![from.as_str()]);
                RECORD_CHANGE
            }
        };
        Ok(self.db.execute(sql, args).await? == 1)
    }

    /// Claim up to `limit` transitions still to be sent that nobody holds
    /// at `now`, until `until`. Checked again on the row it updates, so of
    /// two control planes claiming at once, each row goes to one.
    pub async fn claim(
        &self,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<StoredAlert>> {
        let sql = format!(
            "UPDATE alert_states SET claimed_until = $2 \
             WHERE (rule, subject) IN (SELECT rule, subject FROM alert_states \
                     WHERE to_send = 1 AND (claimed_until IS NULL OR claimed_until < $1) \
                     ORDER BY since LIMIT $3) \
               AND to_send = 1 AND (claimed_until IS NULL OR claimed_until < $1) \
             RETURNING {STATE_COLUMNS}"
        );
        let rows = self
            .db
            .write_returning(&sql, args![now, until, limit])
            .await?;
        let mut claimed = rows
            .iter()
            .map(alert_from_row)
            .collect::<Result<Vec<_>>>()?;
        claimed.sort_by(|a, b| (a.since, &a.rule, &a.subject).cmp(&(b.since, &b.rule, &b.subject)));
        Ok(claimed)
    }

    /// The transition of `alert` reached every channel at `at`: nothing
    /// more to send (unless the state changed since it was claimed).
    pub async fn finish(&self, alert: &StoredAlert, at: DateTime<Utc>) -> Result<()> {
        self.db
            .execute(
                "UPDATE alert_states SET to_send = 0, claimed_until = NULL, last_sent_at = $4 \
                 WHERE rule = $1 AND subject = $2 AND since = $3",
                args![alert.rule.as_str(), alert.subject.as_str(), alert.since, at],
            )
            .await?;
        Ok(())
    }

    /// Hold `alert` until `at` only: an evaluation after `at` (here or in
    /// another control plane) sends it again.
    pub async fn release(&self, alert: &StoredAlert, at: DateTime<Utc>) -> Result<()> {
        self.db
            .execute(
                "UPDATE alert_states SET claimed_until = $4 \
                 WHERE rule = $1 AND subject = $2 AND since = $3",
                args![alert.rule.as_str(), alert.subject.as_str(), alert.since, at],
            )
            .await?;
        Ok(())
    }

    /// The channels that already took the transition of `alert`.
    pub async fn delivered_to(&self, alert: &StoredAlert) -> Result<Vec<String>> {
        let rows = self
            .db
            .fetch_all(
                "SELECT DISTINCT channel FROM alert_sends \
                 WHERE rule = $1 AND subject = $2 AND since = $3 AND state = $4 \
                   AND status = 'delivered' ORDER BY channel",
                args![
                    alert.rule.as_str(),
                    alert.subject.as_str(),
                    alert.since,
                    alert.state.as_str()
                ],
            )
            .await?;
        rows.iter().map(|r| r.get("channel")).collect()
    }

    pub async fn record_send(&self, send: &AlertSend) -> Result<()> {
        let status = if send.delivered {
            "delivered"
        } else {
            "failed"
        };
        self.db
            .execute(
                "INSERT INTO alert_sends \
                     (channel, rule, subject, state, since, status, attempts, error, sent_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                args![
                    send.channel.as_str(),
                    send.rule.as_str(),
                    send.subject.as_str(),
                    send.state.as_str(),
                    send.since,
                    status,
                    send.attempts,
                    send.error.clone(),
                    send.sent_at
                ],
            )
            .await?;
        Ok(())
    }

    /// The `limit` newest sends, newest first.
    pub async fn sends(&self, limit: i64) -> Result<Vec<AlertSend>> {
        let rows = self
            .db
            .fetch_all(
                "SELECT channel, rule, subject, state, since, status, attempts, error, sent_at \
                 FROM alert_sends ORDER BY id DESC LIMIT $1",
                args![limit],
            )
            .await?;
        rows.iter().map(send_from_row).collect()
    }

    /// How far the evaluation has read `name`, if it ever did.
    pub async fn mark(&self, name: &str) -> Result<Option<DateTime<Utc>>> {
        let row = self
            .db
            .fetch_optional("SELECT at FROM alert_marks WHERE name = $1", args![name])
            .await?;
        row.map(|r| r.get("at")).transpose()
    }

    /// Move the mark `name` forward to `at` (never back).
    pub async fn set_mark(&self, name: &str, at: DateTime<Utc>) -> Result<()> {
        self.db
            .execute(
                "INSERT INTO alert_marks (name, at) VALUES ($1, $2) \
                 ON CONFLICT (name) DO UPDATE SET at = excluded.at \
                 WHERE alert_marks.at < excluded.at",
                args![name, at],
            )
            .await?;
        Ok(())
    }

    /// Batches that ended `failed` or `partial_success` after `after`,
    /// oldest first.
    pub async fn ended_badly_since(&self, after: DateTime<Utc>) -> Result<Vec<Batch>> {
        let sql = format!(
            "SELECT {BATCH_COLUMNS} FROM batches \
             WHERE finished_at > $1 AND status IN ('failed', 'partial_success') \
             ORDER BY finished_at, id"
        );
        let rows = self.db.fetch_all(&sql, args![after]).await?;
        rows.iter().map(batch_from_row).collect()
    }

    /// Each instance's newest day with a total, for those that have one.
    pub async fn last_collected(&self) -> Result<Vec<(InstanceId, NaiveDate)>> {
        let rows = self
            .db
            .fetch_all(
                "SELECT s.instance_id, s.collected_date FROM instance_size_stats s \
                 WHERE NOT s.is_deleted AND s.collected_date = ( \
                     SELECT max(l.collected_date) FROM instance_size_stats l \
                     WHERE l.instance_id = s.instance_id AND NOT l.is_deleted)",
                args![],
            )
            .await?;
        rows.iter()
            .map(|r| Ok((InstanceId(r.int("instance_id")?), r.get("collected_date")?)))
            .collect()
    }
}

fn alert_from_row(row: &Row) -> Result<StoredAlert> {
    let state: String = row.get("state")?;
    Ok(StoredAlert {
        rule: row.get("rule")?,
        subject: row.get("subject")?,
        state: AlertState::parse(&state)?,
        since: row.get("since")?,
        summary: row.get("summary")?,
        details: row.json("details")?.unwrap_or(Value::Null),
        to_send: row.int("to_send")? != 0,
        last_sent_at: row.get("last_sent_at")?,
    })
}

fn send_from_row(row: &Row) -> Result<AlertSend> {
    let state: String = row.get("state")?;
    let status: String = row.get("status")?;
    Ok(AlertSend {
        channel: row.get("channel")?,
        rule: row.get("rule")?,
        subject: row.get("subject")?,
        state: AlertState::parse(&state)?,
        since: row.get("since")?,
        delivered: status == "delivered",
        attempts: row.int("attempts")?,
        error: row.get("error")?,
        sent_at: row.get("sent_at")?,
    })
}
