//! Data sync sessions: the SQL a sync runs on a source and on a target, on
//! PostgreSQL and on MySQL/MariaDB.
//!
//! A source session is read-only like every other session; a target
//! session may write. Rows travel as canonical text ([`Row`],
//! `canonical.rs`), so any source feeds any target, and the verification
//! hashes the very texts the copy reads. Each page is written in one target
//! transaction together with its checkpoint (`dbfleet_sync_checkpoints` in
//! the target database), so an interrupted run resumes from its last
//! committed page. `postgres.rs` and `mysql.rs` hold each engine's
//! statements (`write.rs` under each: a page's transaction; `copy.rs`
//! under `postgres`: the `COPY` of a fresh load), `apply.rs` what a page's
//! transaction is asked to do and what it did, `shape.rs` the
//! table shapes and their fingerprint, `scan.rs` what a keyset read asks
//! for, `locks.rs` the source slots and who holds a target table.
//!
//! Where the canonical text is not the same across engines, a copy is
//! still right but a verification across engines reports the chunk as
//! different: floats in exponent form (`1e+20` against `1e20`), an
//! unconstrained PostgreSQL `numeric` against MySQL's `decimal(65,30)`,
//! JSON written by MariaDB in another spacing than `jsonb`'s, text of a
//! PostgreSQL database whose encoding is not UTF-8, and rows whose text is
//! longer than MySQL's `max_allowed_packet`. Text keys are compared by code
//! point on both engines; a source whose key has another collation is
//! sorted for each page instead of read along its index.

mod apply;
mod canonical;
mod locks;
mod mysql;
mod postgres;
mod scan;
mod shape;

pub use apply::{Applied, Apply, Removal};
pub use scan::{KeyRange, Scan};
pub use shape::{fingerprint_change, Column, ColumnKind, TableShape, UniqueIndex};

use std::time::Duration;

use super::{ConnectOptions, Error};
use crate::domain::DbType;

/// One row: the canonical text of each column, `None` for NULL.
pub type Row = Vec<Option<String>>;

/// Which end of a sync a session serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Read-only, like every monitoring session.
    Source,
    /// Writable: the backup the rows are written to.
    Target,
}

/// Where a table's sync stands in its target, as `dbfleet_sync_checkpoints`
/// keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub definition: String,
    /// The target table.
    pub table: String,
    pub mode: String,
    pub phase: String,
    /// Canonical texts; what they are depends on the phase.
    pub position: Option<Vec<String>>,
    /// The source clock's horizon the phase used, canonical text.
    pub horizon: Option<String>,
    pub fingerprint: String,
    pub rows_applied: u64,
}

/// Row count and sum of row hashes of one key range on one side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest {
    pub rows: u64,
    /// The exact sum, decimal text.
    pub sum: String,
}

/// A session for a sync.
pub struct SyncSession {
    conn: Conn,
    role: Role,
}

enum Conn {
    Postgres(sqlx::PgConnection),
    Mysql(sqlx::MySqlConnection),
}

impl SyncSession {
    /// Opens a session on the endpoint's database (`options.database`)
    /// through the engine's own connect path (TLS, timeouts); read-only for
    /// a source, writable for a target.
    pub async fn open(engine: DbType, options: &ConnectOptions, role: Role) -> Result<Self, Error> {
        // Tables are found in the session's database: without one, MySQL
        // would find none and PostgreSQL would look in `postgres`.
        if options.database.is_none() {
            return Err(Error::Unsupported(format!(
                "a sync session on {}:{} needs the endpoint's database",
                options.host, options.port
            )));
        }
        options.check_tls_files()?;
        let writable = role == Role::Target;
        let conn = match engine {
            DbType::Postgresql => {
                let c = if writable {
                    super::postgres::PostgresConnection::connect_writable(options).await
                } else {
                    super::postgres::PostgresConnection::connect(options).await
                };
                c.map(|c| Conn::Postgres(c.into_inner()))
            }
            DbType::Mysql => {
                let c = if writable {
                    super::mysql::MysqlConnection::connect_writable(options).await
                } else {
                    super::mysql::MysqlConnection::connect(options).await
                };
                c.map(|c| Conn::Mysql(c.into_inner()))
            }
        }
        .map_err(|e| options.tls_refused(engine, e))?;
        let mut session = Self { conn, role };
        if let Conn::Mysql(c) = &mut session.conn {
            mysql::prepare_session(c).await?;
        }
        Ok(session)
    }

    pub fn engine(&self) -> DbType {
        match self.conn {
            Conn::Postgres(_) => DbType::Postgresql,
            Conn::Mysql(_) => DbType::Mysql,
        }
    }

    pub fn role(&self) -> Role {
        self.role
    }

    /// Statements per MySQL statement are capped by the 65,535 binds;
    /// PostgreSQL passes arrays and has no such cap.
    pub fn rows_per_statement(&self, batch_size: u32, columns: usize) -> usize {
        let batch = batch_size.max(1) as usize;
        match self.conn {
            Conn::Postgres(_) => batch,
            Conn::Mysql(_) => batch.min(65_535 / columns.max(1)).max(1),
        }
    }

    /// The table's columns and primary key; `None` when it does not exist.
    /// On PostgreSQL `name` may be `schema.table` (`public` otherwise); on
    /// MySQL the table is in the session's database and a `prefix.` is
    /// dropped.
    pub async fn shape(&mut self, name: &str) -> Result<Option<TableShape>, Error> {
        match &mut self.conn {
            Conn::Postgres(c) => postgres::shape(c, name).await,
            Conn::Mysql(c) => mysql::shape(c, name).await,
        }
    }

    /// The tables a sync may read: on PostgreSQL those of `schema`
    /// (`public` when `None`), on MySQL those of the session's database.
    pub async fn tables(&mut self, schema: Option<&str>) -> Result<Vec<String>, Error> {
        match &mut self.conn {
            Conn::Postgres(c) => postgres::tables(c, schema.unwrap_or("public")).await,
            Conn::Mysql(c) => mysql::tables(c).await,
        }
    }

    /// Creates `name` with the closest type for each column, primary key
    /// `key`.
    pub async fn create_table(&mut self, name: &str, shape: &TableShape) -> Result<(), Error> {
        match &mut self.conn {
            Conn::Postgres(c) => postgres::create_table(c, name, shape).await,
            Conn::Mysql(c) => mysql::create_table(c, name, shape).await,
        }
    }

    /// Creates `dbfleet_sync_checkpoints` when missing.
    pub async fn ensure_checkpoints(&mut self) -> Result<(), Error> {
        match &mut self.conn {
            Conn::Postgres(c) => postgres::ensure_checkpoints(c).await,
            Conn::Mysql(c) => mysql::ensure_checkpoints(c).await,
        }
    }

    pub async fn checkpoint(
        &mut self,
        definition: &str,
        table: &str,
    ) -> Result<Option<Checkpoint>, Error> {
        match &mut self.conn {
            Conn::Postgres(c) => postgres::load_checkpoint(c, definition, table).await,
            Conn::Mysql(c) => mysql::load_checkpoint(c, definition, table).await,
        }
    }

    /// Takes the session lock of the target table `table`; false when
    /// another session holds it. The server releases it if this session
    /// dies.
    pub async fn try_lock(&mut self, table: &str) -> Result<bool, Error> {
        match &mut self.conn {
            Conn::Postgres(c) => postgres::try_lock(c, table, true).await,
            Conn::Mysql(c) => mysql::try_lock(c, table, true).await,
        }
    }

    pub async fn unlock(&mut self, table: &str) -> Result<(), Error> {
        match &mut self.conn {
            Conn::Postgres(c) => postgres::try_lock(c, table, false).await.map(|_| ()),
            Conn::Mysql(c) => mysql::try_lock(c, table, false).await.map(|_| ()),
        }
    }

    /// Whether `table` holds no row at all.
    pub async fn is_empty(&mut self, table: &str) -> Result<bool, Error> {
        match &mut self.conn {
            Conn::Postgres(c) => postgres::is_empty(c, table).await,
            Conn::Mysql(c) => mysql::is_empty(c, table).await,
        }
    }

    /// The source clock minus `back`, as canonical text of `column`'s kind.
    /// With `hold`, on PostgreSQL, no later than the start of the oldest
    /// transaction open in the database: a row it stamped may commit later.
    pub async fn clock(
        &mut self,
        column: &Column,
        back: Duration,
        hold: bool,
    ) -> Result<String, Error> {
        match &mut self.conn {
            Conn::Postgres(c) => postgres::clock(c, column, back, hold).await,
            Conn::Mysql(c) => mysql::clock(c, column, back).await,
        }
    }

    /// One keyset page (see [`Scan`]).
    pub async fn read(&mut self, scan: &Scan<'_>) -> Result<Vec<Row>, Error> {
        match &mut self.conn {
            Conn::Postgres(c) => postgres::read(c, scan).await,
            Conn::Mysql(c) => mysql::read(c, scan).await,
        }
    }

    /// Count and hash sum of the rows `scan` selects (its `select` columns
    /// in name order; `limit` ignored).
    pub async fn digest(&mut self, scan: &Scan<'_>) -> Result<Digest, Error> {
        match &mut self.conn {
            Conn::Postgres(c) => postgres::digest(c, scan).await,
            Conn::Mysql(c) => mysql::digest(c, scan).await,
        }
    }

    /// Runs `apply` in one transaction; returns the rows removed.
    pub async fn apply(&mut self, apply: &Apply<'_>) -> Result<u64, Error> {
        let apply = Apply {
            rejects: None,
            ..*apply
        };
        self.apply_page(&apply).await.map(|a| a.removed)
    }

    /// Runs `apply` in one transaction, rows the target refuses set aside
    /// as `apply.rejects` allows.
    pub async fn apply_page(&mut self, apply: &Apply<'_>) -> Result<Applied, Error> {
        if self.role != Role::Target {
            return Err(Error::Unsupported(
                "a source session does not write".to_string(),
            ));
        }
        match &mut self.conn {
            Conn::Postgres(c) => postgres::apply(c, apply).await,
            Conn::Mysql(c) => mysql::apply(c, apply).await,
        }
    }

    pub async fn close(self) {
        use sqlx::Connection as _;
        let _ = match self.conn {
            Conn::Postgres(c) => c.close().await,
            Conn::Mysql(c) => c.close().await,
        };
    }
}

/// The keys of `rows` not in `present` (both canonical): the target rows a
/// page no longer has.
fn unlisted(present: Vec<Vec<String>>, rows: &[Row], key: &[usize]) -> Vec<Vec<String>> {
    let listed: std::collections::HashSet<Vec<Option<&str>>> = rows
        .iter()
        .map(|r| {
            key.iter()
                .map(|&i| r.get(i).and_then(|v| v.as_deref()))
                .collect()
        })
        .collect();
    present
        .into_iter()
        .filter(|k| !listed.contains(&k.iter().map(|v| Some(v.as_str())).collect::<Vec<_>>()))
        .collect()
}

/// The JSON text of a position.
fn position_json(position: &Option<Vec<String>>) -> Option<String> {
    position
        .as_ref()
        .map(|p| serde_json::Value::from(p.clone()).to_string())
}

fn position_from_json(text: Option<String>) -> Result<Option<Vec<String>>, Error> {
    text.map(|t| {
        serde_json::from_str(&t)
            .map_err(|e| Error::Query(format!("checkpoint position `{t}`: {e}")))
    })
    .transpose()
}

/// The lock name of a target table: one sync per target table at a time.
fn lock_name(table: &str) -> String {
    format!("dbfleet_sync:{table}")
}

/// What a removal deletes: the range whose unlisted keys go (read first),
/// and the range deleted whole. An unlisted removal with no upper bound is
/// split at the page's last key (rows in key order), so the rows after it
/// are deleted without being read; with no rows, the whole range goes.
fn removal_plan(
    removal: Removal<'_>,
    rows: &[Row],
    key: &[usize],
) -> (Option<KeyRange>, Option<KeyRange>) {
    match removal {
        Removal::Nothing => (None, None),
        Removal::All(range) => (None, Some(range.clone())),
        Removal::Unlisted(range) => {
            let last: Option<Vec<String>> = rows.last().map(|r| {
                key.iter()
                    .map(|&i| r.get(i).cloned().flatten().unwrap_or_default())
                    .collect()
            });
            match (last, &range.through) {
                (None, _) => (None, Some(range.clone())),
                (Some(_), Some(_)) => (Some(range.clone()), None),
                (Some(last), None) => (
                    Some(KeyRange {
                        after: range.after.clone(),
                        through: Some(last.clone()),
                    }),
                    Some(KeyRange {
                        after: Some(last),
                        through: None,
                    }),
                ),
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn keys(values: &[&str]) -> Vec<Row> {
        values.iter().map(|v| vec![Some(v.to_string())]).collect()
    }

    fn range(after: Option<&str>, through: Option<&str>) -> KeyRange {
        KeyRange {
            after: after.map(|a| vec![a.to_string()]),
            through: through.map(|t| vec![t.to_string()]),
        }
    }

    #[test]
    fn removal_plans() {
        fn check(
            removal: Removal<'_>,
            rows: &[&str],
            expected: (Option<KeyRange>, Option<KeyRange>),
        ) {
            assert_eq!(
                removal_plan(removal, &keys(rows), &[0]),
                expected,
                "{removal:?} {rows:?}"
            );
        }
        let open = range(Some("3"), None);
        let closed = range(Some("3"), Some("9"));
        check(Removal::Nothing, &["4"], (None, None));
        check(Removal::All(&closed), &["4"], (None, Some(closed.clone())));
        check(
            Removal::Unlisted(&closed),
            &["4", "9"],
            (Some(closed.clone()), None),
        );
        // The open-ended last page: its own range pruned, the rest deleted.
        check(
            Removal::Unlisted(&open),
            &["4", "7"],
            (
                Some(range(Some("3"), Some("7"))),
                Some(range(Some("7"), None)),
            ),
        );
        // No rows at all: everything in the range goes.
        check(Removal::Unlisted(&open), &[], (None, Some(open.clone())));
    }

    #[test]
    fn unlisted_keys_are_the_ones_the_page_lacks() {
        let present = vec![
            vec!["1".to_string()],
            vec!["2".to_string()],
            vec!["5".to_string()],
        ];
        assert_eq!(
            unlisted(present, &keys(&["1", "5"]), &[0]),
            [vec!["2".to_string()]]
        );
    }

    #[test]
    fn positions_round_trip_as_json() {
        let position = Some(vec![
            "2024-01-01 00:00:00.000000".to_string(),
            "a\"b".to_string(),
        ]);
        let text = position_json(&position);
        assert_eq!(position_from_json(text).unwrap(), position);
        assert_eq!(position_from_json(None).unwrap(), None);
        assert!(position_from_json(Some("[1".to_string())).is_err());
    }
}
