//! A job's start and its end as one statement each on PostgreSQL: one
//! round trip to the store and one commit apiece, where a transaction of
//! the same writes costs a round trip per statement plus its `BEGIN` and
//! `COMMIT` (five at the start, seven at the end of a capacity job).
//! Round trips are most of what a job costs the store's server in CPU, and
//! that server shares the machine with everything else.
//!
//! The writes are the same statements the transactions run, each one part
//! of a `WITH` (`statement::joined`). PostgreSQL runs every part of a `WITH` once,
//! all against the snapshot the statement started with: no part sees
//! another's rows. So only writes that touch rows of their own are joined,
//! and what must read them is written for it:
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
//! Everything else keeps the transaction: SQLite (no round trips to save),
//! a start under a cap of jobs per host (it locks the host's key first), a
//! kind without an instance lease, a job that has no pending row (it was
//! enqueued alone, or ended), and an end the server refused (the
//! transaction then finds which part it was, and keeps the rest if it was
//! the total).

use std::collections::HashSet;

use super::db::{args, Db};
use super::dialect::Dialect;
use super::filing::{self, Filing};
use super::inventory::{record_from_row, RECORDS};
use super::runs::{started_statement, StartingJob};
use super::statement::{joined, Statement};
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

/// Take the lease of `job`'s instance and mark its pending row started, in
/// one statement committed without waiting for its flush (as
/// `Db::write_unflushed`); read the instance's inventory with it when
/// `read_inventory`. For a job with no host cap that takes an instance
/// lease, on PostgreSQL.
pub(super) async fn start(db: &Db, job: &StartingJob<'_>, read_inventory: bool) -> Result<Began> {
    let lease = (job.lease_until, job.started_at);
    let take = leases::take_statement(job.instance_id, job.job_id, lease, None);
    let mut started = started_statement(job);
    started.sql += " AND EXISTS (SELECT 1 FROM lease) RETURNING job_id";
    let main = Statement {
        sql: format!(
            "SELECT EXISTS (SELECT 1 FROM lease) AS leased, \
                 EXISTS (SELECT 1 FROM started) AS started, \
                 set_config('synchronous_commit', 'off', true) AS unflushed, \
                 d.database_name, d.is_active, d.first_seen_date, d.last_seen_date, \
                 d.deleted_at \
             FROM (SELECT 1) AS one \
             LEFT JOIN ({RECORDS}) AS d ON $2 AND EXISTS (SELECT 1 FROM started) \
             ORDER BY d.database_name"
        ),
        args: args![job.instance_id, read_inventory],
    };
    let parts = vec![
        ("lease".to_string(), take),
        ("started".to_string(), started),
    ];
    let one = joined(parts, main);
    let rows = db.fetch_all(&one.sql, one.args).await;
    let rows = leases::not_found_if_unregistered(rows, job.instance_id)?;
    let Some(first) = rows.first() else {
        return Ok(Began::Busy);
    };
    match (first.get::<bool>("leased")?, first.get::<bool>("started")?) {
        (false, _) => Ok(Began::Busy),
        (true, false) => Ok(Began::Leased),
        (true, true) => {
            let mut records = Vec::new();
            for row in &rows {
                if row.get::<Option<String>>("database_name")?.is_some() {
                    records.push(record_from_row(row)?);
                }
            }
            Ok(Began::Started(records))
        }
    }
}

/// `filing` written for `instance` and `job`'s lease released, as one
/// statement; `None` when the filing's parts meet (see the module docs).
pub(super) fn end(instance: InstanceId, job: Option<JobId>, filing: &Filing) -> Option<Statement> {
    if !apart(filing) {
        return None;
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
    Some(joined(
        named
            .map(|(i, part)| (format!("write_{i}"), part))
            .collect(),
        main,
    ))
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
