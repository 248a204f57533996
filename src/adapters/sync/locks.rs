//! The server-side locks a sync shares with the other syncs: the source
//! slots that cap a definition's sessions reading its source, and who
//! holds a target table's lock when a run finds it taken.
//!
//! They are session locks of the servers themselves (PostgreSQL advisory
//! locks, MySQL named locks), so no store keeps them and a dead worker's
//! locks go with its sessions. Both work in a read-only session.

use sqlx::{MySqlConnection, PgConnection};

use super::{Conn, Error, SyncSession};
use crate::adapters::{mysql, postgres};

/// The lock name of slot `slot` of `definition`. PostgreSQL's advisory
/// locks are per database already; the source database is the
/// definition's own.
fn slot_name(definition: &str, slot: u32) -> String {
    format!("dbfleet-sync-src:{definition}:{slot}")
}

/// MySQL's named locks are server-wide and at most 64 characters: the
/// database and the definition, hashed, then the slot (60 characters).
const MYSQL_SLOT: &str = "CONCAT('dbfleet-sync-src:', SHA1(CONCAT(DATABASE(), '/', ?)), ':', ?)";

impl SyncSession {
    /// Takes slot `slot` of `definition`'s source slots; false when another
    /// session holds it.
    pub async fn try_source_slot(&mut self, definition: &str, slot: u32) -> Result<bool, Error> {
        match &mut self.conn {
            Conn::Postgres(c) => pg_slot(c, definition, slot, true).await,
            Conn::Mysql(c) => my_slot(c, definition, slot, true).await,
        }
    }

    pub async fn release_source_slot(&mut self, definition: &str, slot: u32) -> Result<(), Error> {
        match &mut self.conn {
            Conn::Postgres(c) => pg_slot(c, definition, slot, false).await.map(|_| ()),
            Conn::Mysql(c) => my_slot(c, definition, slot, false).await.map(|_| ()),
        }
    }

    /// Which session holds the lock of the target table `table`, as far as
    /// this session's account may see: `None` when no one does.
    pub async fn lock_holder(&mut self, table: &str) -> Result<Option<String>, Error> {
        match &mut self.conn {
            Conn::Postgres(c) => pg_holder(c, table).await,
            Conn::Mysql(c) => my_holder(c, table).await,
        }
    }
}

async fn pg_slot(
    c: &mut PgConnection,
    definition: &str,
    slot: u32,
    take: bool,
) -> Result<bool, Error> {
    let sql = if take {
        "SELECT pg_try_advisory_lock(hashtextextended($1, 0))"
    } else {
        "SELECT pg_advisory_unlock(hashtextextended($1, 0))"
    };
    sqlx::query_scalar(sql)
        .bind(slot_name(definition, slot))
        .fetch_one(&mut *c)
        .await
        .map_err(postgres::map_error)
}

async fn my_slot(
    c: &mut MySqlConnection,
    definition: &str,
    slot: u32,
    take: bool,
) -> Result<bool, Error> {
    let sql = if take {
        format!("SELECT GET_LOCK({MYSQL_SLOT}, 0)")
    } else {
        format!("SELECT RELEASE_LOCK({MYSQL_SLOT})")
    };
    let held: Option<i64> = sqlx::query_scalar(&sql)
        .bind(definition)
        .bind(slot)
        .fetch_one(&mut *c)
        .await
        .map_err(mysql::map_error)?;
    Ok(held == Some(1))
}

/// The holder of the table's advisory lock: a 64-bit key shows in
/// `pg_locks` as its high and low halves.
async fn pg_holder(c: &mut PgConnection, table: &str) -> Result<Option<String>, Error> {
    let row: Option<(i32, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT a.pid, a.usename::text, nullif(a.application_name, '') \
         FROM (SELECT hashtextextended($1, 0) AS k) h \
         JOIN pg_locks l ON l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 \
           AND l.classid = ((h.k >> 32) & 4294967295)::oid \
           AND l.objid = (h.k & 4294967295)::oid \
           AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
         LEFT JOIN pg_stat_activity a ON a.pid = l.pid \
         LIMIT 1",
    )
    .bind(super::lock_name(table))
    .fetch_optional(&mut *c)
    .await
    .map_err(postgres::map_error)?;
    Ok(row.map(|(pid, user, application)| {
        let user = user.map(|u| format!(" of {u}")).unwrap_or_default();
        let application = application.map(|a| format!(" ({a})")).unwrap_or_default();
        format!("session {pid}{user}{application}")
    }))
}

/// The holder of the table's named lock (`sync::mysql::TABLE_LOCK`), its
/// account when this one may see the process list.
async fn my_holder(c: &mut MySqlConnection, table: &str) -> Result<Option<String>, Error> {
    let name = super::mysql::TABLE_LOCK;
    let sql = format!(
        "SELECT CAST(h.id AS SIGNED), \
           (SELECT CONCAT(p.USER, '@', p.HOST) FROM information_schema.PROCESSLIST p \
            WHERE p.ID = h.id) \
         FROM (SELECT IS_USED_LOCK({name}) AS id) h"
    );
    let row: (Option<i64>, Option<String>) = sqlx::query_as(&sql)
        .bind(super::lock_name(table))
        .fetch_one(&mut *c)
        .await
        .map_err(mysql::map_error)?;
    Ok(row.0.map(|id| match row.1 {
        Some(account) => format!("connection {id} of {account}"),
        None => format!("connection {id}"),
    }))
}
