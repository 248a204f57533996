//! What differs between the two control-store databases, and nothing else.
//!
//! Every statement of the store is written once, with `$N` placeholders
//! (sqlx's SQLite driver binds `$N` by number), `now` bound from Rust, and
//! only SQL both databases accept. What cannot be written once lives here:
//!
//! * how values are bound and read: UUIDs (PostgreSQL `uuid`, SQLite
//!   hyphenated TEXT), timestamps (`timestamptz`, SQLite the fixed-width TEXT
//!   of [`sqlite::ts`]), JSON (`jsonb`, SQLite TEXT), and PostgreSQL
//!   `integer` columns read back as `i32` ([`postgres`], [`sqlite`]);
//! * how a JSON array parameter becomes rows ([`Dialect::rows`]), so a bulk
//!   insert or update is one statement on both, JSON columns included;
//! * how a write transaction locks the row it folds into
//!   ([`Dialect::lock_row`]);
//! * opening the pool and running the migration tree of each database;
//! * what one process shares over an embedded store besides its pool: its
//!   writer's turn and word of moved batches ([`local`]).

pub(crate) mod local;
pub(crate) mod postgres;
pub(crate) mod sqlite;

use chrono::{DateTime, Utc};
use serde_json::Value;

/// The SQL dialect of a pool or transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Postgres,
    Sqlite,
}

/// A column of the rows of a JSON array parameter (see [`Dialect::rows`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Column {
    pub name: &'static str,
    pub kind: Kind,
}

/// How a bulk-row column is typed on PostgreSQL; SQLite takes JSON values
/// as they are (integers, text, NULL).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Int,
    Text,
    Uuid,
    /// Written with [`json_time`].
    Time,
    /// A calendar day, written `YYYY-MM-DD`.
    Date,
    Float,
    /// A JSON value kept as it is (`jsonb`; SQLite its JSON text). A JSON
    /// `null`, like an absent key, is SQL NULL.
    Json,
}

impl Kind {
    fn postgres_type(self) -> &'static str {
        match self {
            Kind::Int => "bigint",
            Kind::Text => "text",
            Kind::Uuid => "uuid",
            Kind::Time => "timestamptz",
            Kind::Date => "date",
            Kind::Float => "double precision",
            Kind::Json => "jsonb",
        }
    }

    /// How SQLite takes the column `name` from a `json_each` row.
    /// `json_extract` would give a JSON string as bare text, so a JSON
    /// column takes its JSON text (`->`) instead.
    fn sqlite_extract(self, name: &str) -> String {
        match self {
            Kind::Json => format!("nullif(value -> '$.{name}', 'null') AS {name}"),
            _ => format!("json_extract(value, '$.{name}') AS {name}"),
        }
    }
}

impl Dialect {
    /// A `FROM` item named `t` with one row per object of the JSON array
    /// bound as `$param`, one column per `columns` entry: how every bulk
    /// write takes its rows, as one parameter of one statement.
    pub(crate) fn rows(self, param: usize, columns: &[Column]) -> String {
        match self {
            Dialect::Postgres => {
                let typed: Vec<String> = columns
                    .iter()
                    .map(|c| format!("{} {}", c.name, c.kind.postgres_type()))
                    .collect();
                // The parameter is bound as `jsonb`: taking its rows from it
                // as it is costs a fifth of casting it to `json`, which is
                // printed and parsed again.
                format!(
                    "jsonb_to_recordset(${param}::jsonb) AS t({})",
                    typed.join(", ")
                )
            }
            Dialect::Sqlite => {
                let extracted: Vec<String> = columns
                    .iter()
                    .map(|c| c.kind.sqlite_extract(c.name))
                    .collect();
                format!(
                    "(SELECT {} FROM json_each(${param})) AS t",
                    extracted.join(", ")
                )
            }
        }
    }

    /// A query of one row whose integer column `present` is 1 when the
    /// table `$1` exists, 0 otherwise.
    pub(crate) fn table_exists(self) -> &'static str {
        match self {
            Dialect::Postgres => {
                "SELECT CASE WHEN to_regclass($1) IS NULL THEN 0 ELSE 1 END AS present"
            }
            Dialect::Sqlite => {
                "SELECT count(*) AS present FROM sqlite_master WHERE type = 'table' AND name = $1"
            }
        }
    }

    /// The suffix of a `SELECT` of one row that a write transaction then
    /// changes. PostgreSQL locks the row (`FOR UPDATE`); SQLite needs
    /// nothing, as its write transactions begin with `BEGIN IMMEDIATE` and
    /// so already hold the database's one write lock.
    pub(crate) fn lock_row(self) -> &'static str {
        match self {
            Dialect::Postgres => " FOR UPDATE",
            Dialect::Sqlite => "",
        }
    }

    /// A statement that locks a text key (`$1`) until the transaction
    /// ends, where one is needed: PostgreSQL's advisory lock on its hash;
    /// SQLite's write transactions already exclude each other.
    pub(crate) fn lock_key(self) -> Option<&'static str> {
        match self {
            Dialect::Postgres => Some("SELECT pg_advisory_xact_lock(hashtext($1))"),
            Dialect::Sqlite => None,
        }
    }

    /// [`Dialect::lock_row`] for a join: lock the rows of `alias` only
    /// (PostgreSQL cannot lock the nullable side of an outer join).
    pub(crate) fn lock_rows_of(self, alias: &str) -> String {
        match self {
            Dialect::Postgres => format!(" FOR UPDATE OF {alias}"),
            Dialect::Sqlite => String::new(),
        }
    }
}

/// A timestamp inside the JSON rows of [`Dialect::rows`]: SQLite's stored
/// form ([`sqlite::ts`]), which PostgreSQL parses as `timestamptz` too.
pub(crate) fn json_time(at: DateTime<Utc>) -> Value {
    Value::String(sqlite::ts(at))
}

#[cfg(test)]
mod tests {
    use super::*;

    const COLUMNS: [Column; 3] = [
        Column {
            name: "id",
            kind: Kind::Int,
        },
        Column {
            name: "at",
            kind: Kind::Time,
        },
        Column {
            name: "doc",
            kind: Kind::Json,
        },
    ];

    #[test]
    fn bulk_rows_per_dialect() {
        assert_eq!(
            Dialect::Postgres.rows(3, &COLUMNS),
            "jsonb_to_recordset($3::jsonb) AS t(id bigint, at timestamptz, doc jsonb)"
        );
        assert_eq!(
            Dialect::Sqlite.rows(3, &COLUMNS),
            "(SELECT json_extract(value, '$.id') AS id, json_extract(value, '$.at') AS at, \
             nullif(value -> '$.doc', 'null') AS doc FROM json_each($3)) AS t"
        );
    }
}
