//! `table_sizes`: which tables are large, per database, as the day's
//! snapshot.
//!
//! Bounded work on big instances: every database's tables are read in one
//! statement (MySQL and MariaDB on the instance's session, PostgreSQL on a
//! short-lived session to that database), under the job's statement and
//! lock timeouts, so a locked table costs one database its turn, never the
//! job; the largest `top` tables of each database, and of those the largest
//! `instance_top` of the instance, are stored one by one and the rest of
//! each database folded into one row; and the whole instance gets a time budget, past which the
//! databases left are skipped. A database skipped or found empty keeps its
//! last snapshot (the store files nothing for it), and the job fails only
//! when no database could be read at all.

use std::time::Instant;

use super::{Context, Failure, Job};
use crate::adapters::table_sizes::TableSize;
use crate::adapters::Connection;
use crate::domain::DbType;
use crate::inventory;
use crate::message::table_sizes::{Output, Params, SkippedDatabase, MAX_NAMED};
use crate::message::{ErrorClass, JobError, Warning};
use crate::store::{TableRow, TableSnapshot, Tally};

/// The `table_sizes` kind.
pub struct TableSizes;

impl Job for TableSizes {
    type Params = Params;
    type Output = Output;

    async fn run(ctx: &Context<'_>, params: &Params) -> Result<Output, Failure> {
        let mut connection = ctx.connect().await?;
        let outcome = match targets(ctx, &mut connection, params).await {
            Ok(targets) => read(ctx, &mut connection, params, &targets).await,
            Err(e) => Err(e),
        };
        connection.close().await;
        let output = outcome?;
        if output.databases == 0 && output.skipped > 0 {
            let why = output
                .skipped_databases
                .iter()
                .map(|s| format!("{}: {}", s.database, s.reason))
                .collect::<Vec<_>>()
                .join("; ");
            let message = format!("no database's tables could be read ({why})");
            return Err(JobError::new(ErrorClass::Query, message).into());
        }
        Ok(output)
    }

    fn tally(output: &Output) -> Tally {
        Tally::from_pairs([
            ("databases", i64::from(output.databases)),
            ("tables", i64::from(output.tables)),
            ("total_size_mb", output.total_size_mb),
            ("skipped_databases", i64::from(output.skipped)),
        ])
    }

    fn empty_summary() -> Tally {
        Self::tally(&Output::default())
    }

    fn warnings(output: &Output) -> Vec<Warning> {
        output
            .skipped_databases
            .iter()
            .map(|s| Warning {
                code: "not_read".to_string(),
                message: format!(
                    "the tables of `{}` were not read ({}); its last snapshot stands",
                    s.database, s.reason
                ),
            })
            .collect()
    }
}

/// The databases to read: the instance's active ones (the filters
/// applied), or the one `params` names, which must be among them.
async fn targets(
    ctx: &Context<'_>,
    connection: &mut Connection,
    params: &Params,
) -> Result<Vec<String>, Failure> {
    let listing = ctx
        .remote("inventory", connection.fetch_inventory())
        .await?;
    let active = inventory::plan(ctx.instance.db_type, &[], &listing, ctx.filters).active;
    let Some(wanted) = &params.database else {
        return Ok(active);
    };
    if active.contains(wanted) {
        return Ok(vec![wanted.clone()]);
    }
    let message = format!(
        "database `{wanted}` is not one of the instance's databases, or the filters leave it out"
    );
    Err(JobError::new(ErrorClass::Config, message).into())
}

/// Read each target within the budget; stage what was read.
async fn read(
    ctx: &Context<'_>,
    connection: &mut Connection,
    params: &Params,
    targets: &[String],
) -> Result<Output, Failure> {
    let started = Instant::now();
    let mut snapshots = Vec::new();
    let mut skipped = Vec::new();
    for database in targets {
        if started.elapsed() >= params.budget() {
            let reason = format!("the time budget of {:?} ran out", params.budget());
            skipped.push(SkippedDatabase {
                database: database.clone(),
                reason,
            });
            continue;
        }
        match tables_of(ctx, connection, database).await {
            Ok((tables, method)) => {
                snapshots.push(snapshot(database, method.as_str(), tables, params.top()));
            }
            Err(reason) => skipped.push(SkippedDatabase {
                database: database.clone(),
                reason,
            }),
        }
    }
    cap_instance(&mut snapshots, params.instance_top());
    let mut output = Output::default();
    for snapshot in &snapshots {
        count(&mut output, snapshot);
    }
    ctx.stage(|f| f.tables.extend(snapshots));
    output.skipped = u32::try_from(skipped.len()).unwrap_or(u32::MAX);
    skipped.truncate(MAX_NAMED);
    output.skipped_databases = skipped;
    Ok(output)
}

/// One database's tables: on the instance's session (MySQL), or on a
/// session of its own (PostgreSQL); what went wrong, in words.
async fn tables_of(
    ctx: &Context<'_>,
    connection: &mut Connection,
    database: &str,
) -> Result<(Vec<TableSize>, crate::adapters::table_sizes::Method), String> {
    if ctx.instance.db_type == DbType::Mysql {
        let reading = connection.table_sizes(database);
        return ctx
            .remote("tables", reading)
            .await
            .map_err(|e| e.to_string());
    }
    let mut own = ctx
        .connect_to(Some(database))
        .await
        .map_err(|e| e.to_string())?;
    let read = ctx.remote("tables", own.table_sizes(database)).await;
    own.close().await;
    read.map_err(|e| e.to_string())
}

/// The largest `top` tables one by one, then one row folding the rest.
fn snapshot(
    database: &str,
    method: &'static str,
    tables: Vec<TableSize>,
    top: usize,
) -> TableSnapshot {
    let mut tables = tables;
    tables.sort_by(|a, b| b.total_bytes.cmp(&a.total_bytes).then(a.name.cmp(&b.name)));
    let mut rows: Vec<TableRow> = tables
        .into_iter()
        .map(|t| TableRow {
            table_name: t.name,
            is_rest: false,
            tables: 1,
            total_bytes: t.total_bytes,
            data_bytes: t.data_bytes,
            index_bytes: t.index_bytes,
            row_estimate: t.rows,
        })
        .collect();
    let rest = rows.split_off(rows.len().min(top));
    rows.extend(folded(rest));
    TableSnapshot {
        database: database.to_string(),
        method,
        rows,
    }
}

/// Keep at most `cap` tables one by one across the instance, the largest
/// (ties by name, then by database order); each database's others join
/// its `rest` row, so its rows still sum to what was read. Every
/// snapshot's rows are sorted largest first, so a database keeps a
/// prefix of its rows.
fn cap_instance(snapshots: &mut [TableSnapshot], cap: usize) {
    let mut exact: Vec<(i64, &str, usize)> = snapshots
        .iter()
        .enumerate()
        .flat_map(|(d, s)| {
            s.rows
                .iter()
                .filter(|r| !r.is_rest)
                .map(move |r| (r.total_bytes, r.table_name.as_str(), d))
        })
        .collect();
    if exact.len() <= cap {
        return;
    }
    exact.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)).then(a.2.cmp(&b.2)));
    let mut kept = vec![0; snapshots.len()];
    for (_, _, d) in exact.iter().take(cap) {
        kept[*d] += 1;
    }
    for (snapshot, keep) in snapshots.iter_mut().zip(kept) {
        let rest = snapshot.rows.split_off(keep);
        snapshot.rows.extend(folded(rest));
    }
}

/// `rows` (tables and `rest` rows) as one `rest` row; none when empty.
/// The row estimate is known only when every row's is.
fn folded(rows: Vec<TableRow>) -> Option<TableRow> {
    if rows.is_empty() {
        return None;
    }
    let rows_known = rows.iter().all(|r| r.row_estimate.is_some());
    Some(TableRow {
        table_name: String::new(),
        is_rest: true,
        tables: rows.iter().map(|r| r.tables).sum(),
        total_bytes: rows.iter().map(|r| r.total_bytes).sum(),
        data_bytes: rows.iter().map(|r| r.data_bytes).sum(),
        index_bytes: rows.iter().map(|r| r.index_bytes).sum(),
        row_estimate: rows_known.then(|| rows.iter().filter_map(|r| r.row_estimate).sum()),
    })
}

fn count(output: &mut Output, snapshot: &TableSnapshot) {
    if snapshot.rows.is_empty() {
        return;
    }
    output.databases += 1;
    for row in &snapshot.rows {
        let n = u32::try_from(row.tables).unwrap_or(u32::MAX);
        if row.is_rest {
            output.folded += n;
        } else {
            output.tables += n;
        }
    }
    let bytes: i64 = snapshot.rows.iter().map(|r| r.total_bytes).sum();
    output.total_size_mb += (bytes + (1 << 20) - 1) >> 20;
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn table(name: &str, total: i64, rows: Option<i64>) -> TableSize {
        TableSize {
            name: name.to_string(),
            total_bytes: total,
            data_bytes: total - 1,
            index_bytes: 1,
            rows,
        }
    }

    #[test]
    fn the_largest_tables_are_kept_and_the_rest_folded_into_one_row() {
        let tables = vec![
            table("small", 10, Some(1)),
            table("big", 1000, Some(50)),
            table("mid", 100, Some(5)),
            table("tiny", 1, None),
        ];
        let s = snapshot("shop", "exact", tables, 2);
        let names: Vec<&str> = s.rows.iter().map(|r| r.table_name.as_str()).collect();
        assert_eq!(names, ["big", "mid", ""]);
        let rest = &s.rows[2];
        assert!(rest.is_rest);
        assert_eq!((rest.tables, rest.total_bytes), (2, 11));
        assert_eq!(rest.row_estimate, None, "one table has no estimate");
        let mut output = Output::default();
        count(&mut output, &s);
        assert_eq!((output.databases, output.tables, output.folded), (1, 2, 2));
        assert_eq!(output.total_size_mb, 1, "1,111 bytes round up to 1 MiB");
    }

    #[test]
    fn the_instance_keeps_its_largest_tables_and_each_database_folds_the_rest() {
        let tables = |sizes: &[(&str, i64)]| -> Vec<TableSize> {
            sizes.iter().map(|(n, b)| table(n, *b, Some(2))).collect()
        };
        let mut snapshots = vec![
            snapshot(
                "a",
                "exact",
                tables(&[("a1", 900), ("a2", 50), ("a3", 5)]),
                2,
            ),
            snapshot(
                "b",
                "exact",
                tables(&[("b1", 800), ("b2", 700), ("b3", 1)]),
                5,
            ),
            snapshot("c", "exact", tables(&[("c1", 10), ("c2", 10)]), 5),
        ];
        let read: Vec<i64> = snapshots.iter().map(sum).collect();
        cap_instance(&mut snapshots, 3);
        let names = |s: &TableSnapshot| -> Vec<String> {
            s.rows.iter().map(|r| r.table_name.clone()).collect()
        };
        assert_eq!(names(&snapshots[0]), ["a1", ""]);
        assert_eq!(names(&snapshots[1]), ["b1", "b2", ""]);
        assert_eq!(names(&snapshots[2]), [""], "every table of `c` folded");
        let rests: Vec<(i64, i64, Option<i64>)> = snapshots
            .iter()
            .map(|s| s.rows.last().unwrap())
            .map(|r| (r.tables, r.total_bytes, r.row_estimate))
            .collect();
        assert_eq!(rests, [(2, 55, Some(4)), (1, 1, Some(2)), (2, 20, Some(4))]);
        let after: Vec<i64> = snapshots.iter().map(sum).collect();
        assert_eq!(after, read, "each database still sums to what was read");

        let mut loose = vec![snapshot("a", "exact", tables(&[("x", 1)]), 5)];
        cap_instance(&mut loose, 3);
        assert_eq!(names(&loose[0]), ["x"], "under the cap nothing moves");
    }

    fn sum(s: &TableSnapshot) -> i64 {
        s.rows.iter().map(|r| r.total_bytes).sum()
    }

    #[test]
    fn a_database_without_tables_files_nothing() {
        let s = snapshot("empty", "estimate", Vec::new(), 50);
        assert!(s.rows.is_empty());
        let mut output = Output::default();
        count(&mut output, &s);
        assert_eq!(output.databases, 0);
    }
}
