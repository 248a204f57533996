//! Table sizes of the session's database (see `adapters/table_sizes.rs`).

use sqlx::Row as _;

use super::{map_error, PostgresConnection};
use crate::adapters::table_sizes::{bytes, TableSize};
use crate::adapters::Error;

/// Ordinary tables, materialised views and partitions (a partitioned
/// parent has no storage of its own, so it is left out); catalogues,
/// TOAST and temporary schemas are not the database's data. `reltuples`
/// is `-1` for a table never vacuumed or analysed (PostgreSQL 14 and
/// later): no estimate, not zero rows. Names are quoted where they need
/// it (`"a.b".c` and `a."b.c"` are two tables), so `schema.table` is
/// unambiguous.
const SQL: &str = "SELECT quote_ident(n.nspname) AS schema, quote_ident(c.relname) AS name, \
         pg_total_relation_size(c.oid) AS total, pg_table_size(c.oid) AS data, \
         pg_indexes_size(c.oid) AS idx, \
         CASE WHEN c.reltuples < 0 THEN NULL ELSE c.reltuples::bigint END AS rows \
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
     WHERE c.relkind IN ('r', 'm') \
       AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
       AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%' \
     ORDER BY 3 DESC, 1, 2";

impl PostgresConnection {
    pub async fn table_sizes(&mut self) -> Result<Vec<TableSize>, Error> {
        let rows = sqlx::query(SQL)
            .fetch_all(&mut self.conn)
            .await
            .map_err(map_error)?;
        rows.iter()
            .map(|row| {
                let schema: String = row.try_get("schema").map_err(map_error)?;
                let name: String = row.try_get("name").map_err(map_error)?;
                Ok(TableSize {
                    name: format!("{schema}.{name}"),
                    total_bytes: bytes(row.try_get("total").map_err(map_error)?),
                    data_bytes: bytes(row.try_get("data").map_err(map_error)?),
                    index_bytes: bytes(row.try_get("idx").map_err(map_error)?),
                    rows: row.try_get("rows").map_err(map_error)?,
                })
            })
            .collect()
    }
}
