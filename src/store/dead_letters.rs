//! Dead letters kept by the control plane: every message the broker could
//! not deliver, so operators can list and replay it after the broker's copy
//! is gone.
//!
//! Contract: the body is kept byte for byte (a replay publishes exactly what
//! died) and never serialized: JSON carries [`DeadLetter::preview`]. `kind`
//! is checked by the schema (`job`, `result` or `unknown`). A list of ids is
//! passed as one JSON parameter.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};

use super::db::{args, Db, Row};
use super::dialect::{Column, Kind};
use super::Result;

/// A message the broker could not deliver, kept by the control plane.
#[derive(Debug, Clone, Serialize)]
pub struct DeadLetter {
    pub id: i64,
    /// The job id for jobs.
    pub message_id: Option<String>,
    /// What the body decodes as: `job`, `result` or `unknown`.
    pub kind: String,
    pub reason: String,
    /// The message exactly as it died; never serialized (see `preview`).
    #[serde(skip)]
    pub body: Vec<u8>,
    /// The first [`DeadLetter::PREVIEW_CHARS`] characters of the body, lossy UTF-8.
    pub preview: String,
    pub dead_at: DateTime<Utc>,
    pub replayed_at: Option<DateTime<Utc>>,
}

impl DeadLetter {
    pub const KIND_JOB: &'static str = "job";
    pub const KIND_RESULT: &'static str = "result";
    pub const KIND_UNKNOWN: &'static str = "unknown";
    /// Length of [`DeadLetter::preview`], in characters.
    pub const PREVIEW_CHARS: usize = 200;

    /// The preview of a body: its first characters, invalid UTF-8 replaced.
    pub fn preview_of(body: &[u8]) -> String {
        String::from_utf8_lossy(body)
            .chars()
            .take(Self::PREVIEW_CHARS)
            .collect()
    }
}

/// The dead letters of a store ([`super::Store::dead_letters`]).
pub struct DeadLetters<'a> {
    pub(super) db: &'a Db,
}

const SELECT_DEAD_LETTER: &str =
    "SELECT id, message_id, kind, reason, body, dead_at, replayed_at FROM dead_letters";

const IDS: [Column; 1] = [Column {
    name: "id",
    kind: Kind::Int,
}];

fn ids(ids: &[i64]) -> Value {
    ids.iter().map(|id| json!({ "id": id })).collect()
}

impl DeadLetters<'_> {
    /// Keep a dead letter; returns its id. `kind` is one of the
    /// `DeadLetter::KIND_*` values.
    pub async fn record(
        &self,
        message_id: Option<&str>,
        kind: &str,
        reason: &str,
        body: &[u8],
    ) -> Result<i64> {
        self.db
            .write_returning_one(
                "INSERT INTO dead_letters (message_id, kind, reason, body, dead_at) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
                args![message_id, kind, reason, body, Utc::now()],
            )
            .await?
            .int("id")
    }

    /// Dead letters, newest first; replayed ones only with `include_replayed`.
    pub async fn list(&self, include_replayed: bool, limit: i64) -> Result<Vec<DeadLetter>> {
        self.page(include_replayed, limit, None).await
    }

    /// [`DeadLetters::list`], from the one after dead letter `after` (the
    /// last of the previous page) when given. Keyed on (`dead_at`, `id`), so
    /// letters kept meanwhile never shift a page; a cursor that names no
    /// dead letter gives an empty page.
    pub async fn page(
        &self,
        include_replayed: bool,
        limit: i64,
        after: Option<i64>,
    ) -> Result<Vec<DeadLetter>> {
        let sql = format!(
            "{SELECT_DEAD_LETTER} d WHERE ($1 OR d.replayed_at IS NULL) AND ($3 IS NULL OR \
                 EXISTS (SELECT 1 FROM dead_letters c WHERE c.id = $3 AND (d.dead_at < c.dead_at \
                     OR (d.dead_at = c.dead_at AND d.id < c.id)))) \
             ORDER BY d.dead_at DESC, d.id DESC LIMIT $2"
        );
        let rows = self
            .db
            .fetch_all(&sql, args![include_replayed, limit, after])
            .await?;
        rows.iter().map(dead_letter_from_row).collect()
    }

    /// The dead letters with these ids (replayed or not), by id; unknown ids
    /// are left out.
    pub async fn by_id(&self, wanted: &[i64]) -> Result<Vec<DeadLetter>> {
        let sql = format!(
            "{SELECT_DEAD_LETTER} WHERE id IN (SELECT t.id FROM {}) ORDER BY id",
            self.db.dialect().rows(1, &IDS)
        );
        let rows = self.db.fetch_all(&sql, args![ids(wanted)]).await?;
        rows.iter().map(dead_letter_from_row).collect()
    }

    /// Stamp these dead letters as replayed at `at`.
    /// Mark dead letter `id` replayed at `at` unless it already is;
    /// whether this call marked it. Taken before the publish, so of two
    /// replays of one letter at once, one publishes.
    pub async fn claim(&self, id: i64, at: DateTime<Utc>) -> Result<bool> {
        let claimed = self
            .db
            .write_returning(
                "UPDATE dead_letters SET replayed_at = $2 \
                 WHERE id = $1 AND replayed_at IS NULL RETURNING id",
                args![id, at],
            )
            .await?;
        Ok(!claimed.is_empty())
    }

    /// Undo [`DeadLetters::claim`] made at `at` (its publish failed).
    pub async fn unclaim(&self, id: i64, at: DateTime<Utc>) -> Result<()> {
        self.db
            .execute(
                "UPDATE dead_letters SET replayed_at = NULL WHERE id = $1 AND replayed_at = $2",
                args![id, at],
            )
            .await?;
        Ok(())
    }

    pub async fn mark_replayed(&self, marked: &[i64], at: DateTime<Utc>) -> Result<()> {
        let sql = format!(
            "UPDATE dead_letters SET replayed_at = $2 WHERE id IN (SELECT t.id FROM {})",
            self.db.dialect().rows(1, &IDS)
        );
        self.db.execute(&sql, args![ids(marked), at]).await?;
        Ok(())
    }
}

fn dead_letter_from_row(row: &Row) -> Result<DeadLetter> {
    let body: Vec<u8> = row.get("body")?;
    Ok(DeadLetter {
        id: row.int("id")?,
        message_id: row.get("message_id")?,
        kind: row.get("kind")?,
        reason: row.get("reason")?,
        preview: DeadLetter::preview_of(&body),
        body,
        dead_at: row.get("dead_at")?,
        replayed_at: row.get("replayed_at")?,
    })
}
