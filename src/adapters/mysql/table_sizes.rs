//! Table sizes of one database (see `adapters/table_sizes.rs`).

use sqlx::Row as _;

use super::error::map_error;
use super::MysqlConnection;
use crate::adapters::table_sizes::{bytes, TableSize};
use crate::adapters::Error;

/// Base tables of every storage engine (views have no storage), largest
/// first. `TABLE_ROWS` is NULL where the engine keeps no count.
const SQL: &str = "SELECT CAST(TABLE_NAME AS CHAR) AS name, \
         CAST(COALESCE(DATA_LENGTH, 0) + COALESCE(INDEX_LENGTH, 0) AS SIGNED) AS total, \
         CAST(COALESCE(DATA_LENGTH, 0) AS SIGNED) AS data, \
         CAST(COALESCE(INDEX_LENGTH, 0) AS SIGNED) AS idx, \
         CAST(TABLE_ROWS AS SIGNED) AS row_estimate \
     FROM information_schema.TABLES \
     WHERE TABLE_SCHEMA = ? AND TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED') \
     ORDER BY total DESC, name";

impl MysqlConnection {
    pub async fn table_sizes(&mut self, database: &str) -> Result<Vec<TableSize>, Error> {
        let rows = sqlx::query(SQL)
            .bind(database)
            .fetch_all(&mut self.conn)
            .await
            .map_err(map_error)?;
        rows.iter()
            .map(|row| {
                Ok(TableSize {
                    name: row.try_get("name").map_err(map_error)?,
                    total_bytes: bytes(row.try_get("total").map_err(map_error)?),
                    data_bytes: bytes(row.try_get("data").map_err(map_error)?),
                    index_bytes: bytes(row.try_get("idx").map_err(map_error)?),
                    rows: row.try_get("row_estimate").map_err(map_error)?,
                })
            })
            .collect()
    }
}
