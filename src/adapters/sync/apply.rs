//! What one target transaction is asked to do (a page: removals, rows,
//! checkpoint) and what it did.

use super::{Checkpoint, Column, KeyRange, Row};

/// What a target transaction removes before it upserts its rows.
#[derive(Debug, Clone, Copy)]
pub enum Removal<'a> {
    Nothing,
    /// The rows of the range whose key is none of the page's.
    Unlisted(&'a KeyRange),
    /// Every row of the range.
    All(&'a KeyRange),
}

/// One target transaction: removals, upserts, the checkpoint.
pub struct Apply<'a> {
    pub table: &'a str,
    /// The target's columns, in the order of the rows' values.
    pub columns: &'a [&'a Column],
    /// Positions in `columns` of the key.
    pub key: &'a [usize],
    pub rows: &'a [Row],
    /// Write `rows`; when false they only list the keys a removal keeps.
    pub upsert: bool,
    pub removal: Removal<'a>,
    pub checkpoint: Option<&'a Checkpoint>,
    /// Rows per statement, at most (the MySQL bind limit is the caller's).
    pub rows_per_statement: usize,
    /// The rows are new to a table that was empty when the run began, and
    /// need no upsert: on PostgreSQL they are written with `COPY`, several
    /// times faster than an upsert; on MySQL with a plain multi-row
    /// `INSERT`, without the `ON DUPLICATE KEY UPDATE` clause.
    pub bulk: bool,
    /// How many rows the target may refuse for their values (a data or
    /// integrity error) before the page fails. A refused page is written
    /// again row by row, each under a savepoint, so the rows it accepts are
    /// kept; `None`: the first refusal fails the page.
    pub rejects: Option<u64>,
}

/// What a page's transaction did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    pub removed: u64,
    /// The rows refused: their index in `rows` and the database's reason.
    pub rejected: Vec<(usize, String)>,
    /// False when more rows were refused than `rejects` allows: the whole
    /// transaction, checkpoint included, was rolled back.
    pub committed: bool,
}

impl<'a> Apply<'a> {
    /// A transaction on `table` that does nothing yet.
    pub fn new(table: &'a str) -> Self {
        Apply {
            table,
            columns: &[],
            key: &[],
            rows: &[],
            upsert: false,
            removal: Removal::Nothing,
            checkpoint: None,
            rows_per_statement: 1,
            bulk: false,
            rejects: None,
        }
    }
}
