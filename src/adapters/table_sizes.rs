//! Sizes per table: what a `table_sizes` job reads of one database.
//!
//! Each engine answers for one database at a time: MySQL and MariaDB from
//! `information_schema.TABLES` on the instance's session (every storage
//! engine, data and index lengths as the engine reports them, so the
//! method is `estimate` for InnoDB, whose lengths are page counts of its
//! statistics); PostgreSQL from `pg_class` on a session to that database
//! (`pg_table_size` counts TOAST with its table, `pg_indexes_size` the
//! indexes; exact byte counts of the files). Row counts are the engines'
//! estimates, `None` where the engine has none yet (a PostgreSQL table
//! never analysed), never `-1` or `0` taken for a count.

use serde::{Deserialize, Serialize};

use super::{Connection, Error};

/// One table's size, largest first in every answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableSize {
    /// `schema.table` on PostgreSQL, the table on MySQL.
    pub name: String,
    /// Data and indexes (and TOAST) together.
    pub total_bytes: i64,
    pub data_bytes: i64,
    pub index_bytes: i64,
    /// The engine's estimate of its rows, when it has one.
    pub rows: Option<i64>,
}

/// How the sizes of a database were read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Byte counts of the files (PostgreSQL).
    Exact,
    /// The engine's statistics (InnoDB's page counts, `TABLE_ROWS`).
    Estimate,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Exact => "exact",
            Method::Estimate => "estimate",
        }
    }
}

impl Connection {
    /// The tables of `database`, largest first, and how they were read. On
    /// PostgreSQL the session must be to `database` itself.
    pub async fn table_sizes(&mut self, database: &str) -> Result<(Vec<TableSize>, Method), Error> {
        match self {
            Connection::Mysql(c) => Ok((c.table_sizes(database).await?, Method::Estimate)),
            Connection::Postgres(c) => Ok((c.table_sizes().await?, Method::Exact)),
        }
    }
}

/// `bytes` as a non-negative size: catalogues answer NULL for a table
/// dropped meanwhile.
pub(super) fn bytes(value: Option<i64>) -> i64 {
    value.unwrap_or(0).max(0)
}
