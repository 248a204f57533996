//! A job's start and its end as one statement each on PostgreSQL: one
//! round trip to the store and one commit apiece, where a transaction of
//! the same writes costs a round trip per statement plus its `BEGIN` and
//! `COMMIT` (five at the start, seven at the end of a capacity job).
//! Round trips are most of what a job costs the store's server in CPU
//! beyond the writes themselves, and that server shares its machine.
//!
//! The writes are the same statements the transactions run, each one part
//! of a `WITH` (`statement::joined`). PostgreSQL runs every part of a
//! `WITH` once, all against the snapshot the statement started with: no
//! part sees another's rows. So only writes that touch rows of their own
//! are joined, and what must read them is written for it:
//! - the start takes the lease, then marks the job started only if the
//!   lease was taken (reading the lease part's `RETURNING`), and reads the
//!   inventory, which neither part changes;
//! - the end joins the inventory diff, the day's sizes and gaps, and the
//!   lease release, and computes the instance total from the stored rows
//!   and the filed ones together (`day_total::total_after`). A filing
//!   whose parts meet (a database deactivated, so its figures of the day
//!   stop counting; a database both measured and a gap; table sizes and
//!   aggregates, which replace rows) is written by the transaction.
//!
//! On SQLite the start is one script in a write transaction (its
//! statements run in order, so the start checks the lease row itself):
//! one call to the thread sqlx runs the connection on instead of three.
//! A filing's writes go there as one script too (`filing::write`).
//!
//! Everything else keeps the transaction: a start under a cap of jobs per
//! host (it locks the host's key first), a kind without an instance lease,
//! a job that has no pending row (it was enqueued alone, or ended: the
//! lease is taken, then the transaction decides), and an end the server
//! refused (the transaction then finds which part it was, and keeps the
//! rest if it was the total).

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use super::db::{args, Db, Row};
use super::dialect::Dialect;
use super::filing::{self, Filing};
use super::inventory::{record_from_row, RECORDS};
use super::statement::{joined, script, Statement};
use super::{day_total, leases, Result};
use crate::domain::{InstanceId, JobId};
use crate::inventory::InventoryRecord;

/// How a job's start in one statement went.
pub(super) enum Began {
    /// The lease is held and the start recorded; the inventory, if asked.
    Started(Vec<InventoryRecord>),
    /// Another job holds the lease; nothing was written.
    Busy,
    /// The lease is held, committed, but the job's row was not pending:
    /// the transaction's start decides, and gives the lease back if the
    /// job must not run.
    Leased,
}

/// A job's start as this module takes it (`runs.rs` builds it).
pub(super) struct Starting {
    pub instance: InstanceId,
    pub job: JobId,
    /// Until when the lease runs, and now.
    pub lease: (DateTime<Utc>, DateTime<Utc>),
    /// The statement that marks the job's pending row started; it ends
    /// with its `WHERE`.
    pub mark: Statement,
}

impl Starting {
    /// The lease's upsert, without its `RETURNING`.
    fn take(&self) -> Statement {
        leases::take_statement(self.instance, self.job, self.lease, None)
    }
}

/// Take the lease of `start`'s instance and mark its pending row started,
/// at once, committed without waiting for its flush (as
/// `Db::write_unflushed`); read the instance's inventory with it when
/// `read_inventory`. For a job with no host cap that takes an instance
/// lease. One statement on PostgreSQL; on SQLite one script in a write
/// transaction.
pub(super) async fn start(db: &Db, start: Starting, read_inventory: bool) -> Result<Began> {
    let (instance, job) = (start.instance, start.job);
    let rows = match db.dialect() {
        Dialect::Postgres => {
            let one = start_statement(start, read_inventory)?;
            db.write_returning(&one.sql, one.args).await
        }
        Dialect::Sqlite => start_in_script(db, start, read_inventory).await,
    };
    let rows = leases::not_found_if_unregistered(rows, instance)?;
    let Some(first) = rows.first() else {
        return Ok(Began::Busy);
    };
    match (first.get::<bool>("leased")?, first.get::<bool>("started")?) {
        (false, _) => Ok(Began::Busy),
        (true, false) => Ok(Began::Leased),
        // Another job's lease row was there when the statement began (a
        // holder that was ending, or one that overran its lease and still
        // is), so the inventory is of then: read it again, past that end.
        (true, true) if read_inventory && first.get::<bool>("contended")? => {
            match (super::Inventory { db }).records(instance).await {
                Ok(records) => Ok(Began::Started(records)),
                Err(e) => {
                    // The start is committed: give the lease back, as a
                    // start that does not go through does.
                    let _ = (super::Leases { db }).release(instance, job).await;
                    Err(e)
                }
            }
        }
        (true, true) => Ok(Began::Started(records_in(&rows)?)),
    }
}

/// The inventory's records in a start's rows (a row of NULLs: none).
fn records_in(rows: &[Row]) -> Result<Vec<InventoryRecord>> {
    let mut records = Vec::new();
    for row in rows {
        if row.get::<Option<String>>("database_name")?.is_some() {
            records.push(record_from_row(row)?);
        }
    }
    Ok(records)
}

/// What both starts return: whether the lease is held (`leased`), the
/// start recorded (`started`) and another job's lease row was there when
/// the statement began (`contended`), with the inventory's records, if read,
/// one per row (none: one row of NULLs). `{held}`, `{started}` and
/// `{contended}` are how each database tells.
const START_ROWS: &str = "SELECT {held} AS leased, {started} AS started, \
        {contended} AS contended, \
        d.database_name, d.is_active, d.first_seen_date, d.last_seen_date, d.deleted_at \
    FROM (SELECT 1) AS one LEFT JOIN ({records}) AS d ON $2 AND {started} \
    ORDER BY d.database_name";

fn start_rows(held: &str, started: &str, contended: &str) -> String {
    START_ROWS
        .replace("{held}", held)
        .replace("{started}", started)
        .replace("{contended}", contended)
        .replace("{records}", RECORDS)
}

/// The start on PostgreSQL: the lease, then the start only if the lease
/// part returned the job; both parts of one `WITH`, so the statement reads
/// their `RETURNING`. It commits unflushed by setting
/// `synchronous_commit` for its own transaction. Its inventory is read
/// from the snapshot the statement began with: if another job's lease row
/// was there then, that job's end may have committed while this statement
/// waited for the row, and is not in it (`contended`).
fn start_statement(start: Starting, read_inventory: bool) -> Result<Statement> {
    let mut take = start.take();
    take.sql += " RETURNING job_id";
    let (instance, job) = (start.instance, start.job);
    let mut started = start.mark;
    started.sql += " AND EXISTS (SELECT 1 FROM lease) RETURNING job_id";
    let rows = start_rows(
        "EXISTS (SELECT 1 FROM lease)",
        "EXISTS (SELECT 1 FROM started)",
        "EXISTS (SELECT 1 FROM instance_leases o \
             WHERE o.instance_id = $1 AND o.job_id <> $3)",
    );
    let main = Statement {
        sql: rows.replacen(
            "SELECT ",
            "SELECT set_config('synchronous_commit', 'off', true) AS unflushed, ",
            1,
        ),
        args: args![instance, read_inventory, job],
    };
    let parts = vec![
        ("lease".to_string(), take),
        ("started".to_string(), started),
    ];
    joined(parts, main)
}

/// [`start_script`] in its write transaction, committed.
async fn start_in_script(db: &Db, start: Starting, read_inventory: bool) -> Result<Vec<Row>> {
    let mut tx = db.write_unflushed().await?;
    let one = start_script(start, read_inventory)?;
    let rows = tx.fetch_all(&one.sql, one.args).await?;
    tx.commit().await?;
    Ok(rows)
}

/// The start on SQLite, whose statements run in order and see each
/// other's rows (and whose write transaction waits for any other): the
/// lease, the start if the lease row is the job's, then what the start
/// changed (`changes()`, the rows of the last write).
fn start_script(start: Starting, read_inventory: bool) -> Result<Statement> {
    let take = start.take();
    let (instance, job) = (start.instance, start.job);
    let mut started = start.mark;
    let marked_args = started.args.len();
    started.sql += &format!(
        " AND EXISTS (SELECT 1 FROM instance_leases l \
             WHERE l.instance_id = ${} AND l.job_id = ${})",
        marked_args + 1,
        marked_args + 2
    );
    started.args.extend(args![instance, job]);
    let held = "EXISTS (SELECT 1 FROM instance_leases l \
         WHERE l.instance_id = $1 AND l.job_id = $3)";
    let rows = Statement {
        sql: start_rows(held, "changes() > 0", "FALSE"),
        args: args![instance, read_inventory, job],
    };
    script(vec![take, started, rows])
}

/// `filing` written for `instance` and `job`'s lease released, as one
/// statement; `None` when the filing's parts meet (see the module docs).
pub(super) fn end(
    instance: InstanceId,
    job: Option<JobId>,
    filing: &Filing,
) -> Result<Option<Statement>> {
    if !apart(filing) {
        return Ok(None);
    }
    let (today, now) = (filing.today, filing.now);
    let (measured, unmeasured) = (&filing.measured[..], &filing.unmeasured[..]);
    let parts = filing::writes(Dialect::Postgres, instance, filing, job);
    let main = if measured.is_empty() {
        Statement {
            sql: "SELECT 1 AS filed".to_string(),
            args: Vec::new(),
        }
    } else {
        day_total::total_after(instance, today, now, (measured, unmeasured))
    };
    let named = parts.into_iter().enumerate();
    let named = named.map(|(i, part)| (format!("write_{i}"), part));
    joined(named.collect(), main).map(Some)
}

/// Whether every write of `filing` touches rows of its own, and the total
/// can be computed beside them.
fn apart(filing: &Filing) -> bool {
    let measured: HashSet<&str> = filing
        .measured
        .iter()
        .map(|row| row.database_name.as_str())
        .collect();
    let gaps_apart = filing
        .unmeasured
        .iter()
        .all(|gap| !measured.contains(gap.database_name.as_str()));
    let none_gone = filing
        .inventory
        .as_ref()
        .is_none_or(|plan| plan.deactivated.is_empty());
    let no_tables = filing.tables.iter().all(|t| t.rows.is_empty());
    gaps_apart && none_gone && no_tables && filing.aggregates.is_empty()
}
