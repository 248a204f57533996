//! The sync's statements on MySQL and MariaDB: the catalogue of the
//! session's database, target tables and checkpoints, the clock, keyset
//! reads and digests, and each page's transaction (multi-row prepared
//! `INSERT … ON DUPLICATE KEY UPDATE`, within the 65,535 binds).
//!
//! Sessions run in UTC (`time_zone = '+00:00'`), so `TIMESTAMP` columns
//! read and write as UTC, and in `utf8mb4`.

use std::time::Duration;

use sqlx::mysql::MySqlRow;
use sqlx::{MySqlConnection, Row as _};

use super::canonical::{mysql_decimal, Dialect};
use super::scan::{digest_sql, split_name, table_sql, Sql};
use super::{Checkpoint, Column, ColumnKind, Digest, Error, Row, Scan, TableShape, UniqueIndex};
use crate::adapters::mysql::map_error;

mod write;

pub(super) use self::write::apply;

const D: Dialect = Dialect::Mysql;

pub(super) async fn prepare_session(c: &mut MySqlConnection) -> Result<(), Error> {
    execute(c, "SET time_zone = '+00:00', NAMES utf8mb4").await
}

async fn execute(c: &mut MySqlConnection, sql: &str) -> Result<(), Error> {
    sqlx::Executor::execute(&mut *c, sql)
        .await
        .map(|_| ())
        .map_err(map_error)
}

/// A text column whatever the server sent (MariaDB's `information_schema`
/// has binary strings).
fn text(row: &MySqlRow, i: usize) -> Result<Option<String>, Error> {
    match row.try_get::<Option<String>, _>(i) {
        Ok(v) => Ok(v),
        Err(_) => row
            .try_get_unchecked::<Option<Vec<u8>>, _>(i)
            .map(|v| v.map(|b| String::from_utf8_lossy(&b).into_owned()))
            .map_err(map_error),
    }
}

fn number(row: &MySqlRow, i: usize) -> u64 {
    if let Ok(Some(v)) = row.try_get::<Option<u64>, _>(i) {
        return v;
    }
    if let Ok(Some(v)) = row.try_get::<Option<i64>, _>(i) {
        return u64::try_from(v).unwrap_or(0);
    }
    text(row, i)
        .ok()
        .flatten()
        .and_then(|t| t.parse().ok())
        .unwrap_or(0)
}

pub(super) async fn shape(
    c: &mut MySqlConnection,
    name: &str,
) -> Result<Option<TableShape>, Error> {
    let (_, table) = split_name(D, name);
    let rows = sqlx::query(
        "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, NUMERIC_PRECISION, \
                NUMERIC_SCALE, COLLATION_NAME \
         FROM information_schema.COLUMNS \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
    )
    .bind(table)
    .fetch_all(&mut *c)
    .await
    .map_err(map_error)?;
    if rows.is_empty() {
        return Ok(None);
    }
    let columns = rows.iter().map(column_of).collect::<Result<Vec<_>, _>>()?;
    let (key, unique) = unique_keys(c, table).await?;
    Ok(Some(TableShape {
        columns,
        key,
        unique,
    }))
}

/// The base tables of the session's database, by name.
pub(super) async fn tables(c: &mut MySqlConnection) -> Result<Vec<String>, Error> {
    let rows = sqlx::query(
        "SELECT CAST(TABLE_NAME AS CHAR) FROM information_schema.TABLES \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'",
    )
    .fetch_all(&mut *c)
    .await
    .map_err(map_error)?;
    let mut names: Vec<String> = rows
        .iter()
        .map(|row| text(row, 0).map(Option::unwrap_or_default))
        .collect::<Result<_, _>>()?;
    names.sort();
    Ok(names)
}

/// A column from its `information_schema.COLUMNS` row.
fn column_of(row: &MySqlRow) -> Result<Column, Error> {
    let data_type = text(row, 1)?.unwrap_or_default().to_ascii_lowercase();
    let declared = text(row, 2)?.unwrap_or_default().to_ascii_lowercase();
    let precision = u32::try_from(number(row, 4)).unwrap_or(0);
    let kind = kind_of(
        &data_type,
        &declared,
        precision,
        u32::try_from(number(row, 5)).unwrap_or(0),
    );
    let collation = text(row, 6)?.unwrap_or_default();
    Ok(Column {
        name: text(row, 0)?.unwrap_or_default(),
        native_order: !matches!(kind, ColumnKind::Text | ColumnKind::Json)
            || collation == "utf8mb4_bin",
        kind,
        nullable: text(row, 3)?.as_deref() == Some("YES"),
        declared,
        collatable: false,
    })
}

/// The primary key's columns and the other unique indexes, each in index
/// order. A MySQL 8 functional key part has no column name: it shows as
/// its expression.
async fn unique_keys(
    c: &mut MySqlConnection,
    table: &str,
) -> Result<(Vec<String>, Vec<UniqueIndex>), Error> {
    let rows = sqlx::query(
        "SELECT INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND NON_UNIQUE = 0 \
         ORDER BY INDEX_NAME, SEQ_IN_INDEX",
    )
    .bind(table)
    .fetch_all(&mut *c)
    .await
    .map_err(map_error)?;
    let (mut key, mut unique) = (Vec::new(), Vec::<UniqueIndex>::new());
    for row in &rows {
        let index = text(row, 0)?.unwrap_or_default();
        let column = text(row, 1)?.unwrap_or_else(|| "(an expression)".to_string());
        match unique.last_mut() {
            _ if index == "PRIMARY" => key.push(column),
            Some(u) if u.name == index => u.columns.push(column),
            _ => unique.push(UniqueIndex {
                name: index,
                columns: vec![column],
            }),
        }
    }
    Ok((key, unique))
}

fn kind_of(data_type: &str, column_type: &str, precision: u32, scale: u32) -> ColumnKind {
    match data_type {
        "tinyint" if column_type.starts_with("tinyint(1)") => ColumnKind::Bool,
        "bigint" if column_type.contains("unsigned") => ColumnKind::Decimal {
            precision: 20,
            scale: 0,
        },
        "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint" | "year" => {
            ColumnKind::Int
        }
        "decimal" | "numeric" => ColumnKind::Decimal { precision, scale },
        "float" | "double" | "real" => ColumnKind::Float,
        "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" => {
            ColumnKind::Bytes
        }
        "date" => ColumnKind::Date,
        "time" => ColumnKind::Time,
        "datetime" => ColumnKind::Timestamp,
        "timestamp" => ColumnKind::TimestampTz,
        "json" => ColumnKind::Json,
        "uuid" => ColumnKind::Uuid,
        _ => ColumnKind::Text,
    }
}

/// The closest MySQL type of a kind. Keys need a bounded length; text is
/// `utf8mb4_bin` (the table's default), so keys that differ only in case
/// stay two rows, as on the source.
fn type_of(column: &Column, in_key: bool) -> String {
    match &column.kind {
        ColumnKind::Int => "bigint".to_string(),
        ColumnKind::Decimal { precision, scale } => {
            let (p, s) = mysql_decimal(*precision, *scale);
            format!("decimal({p},{s})")
        }
        ColumnKind::Float => "double".to_string(),
        ColumnKind::Bool => "tinyint(1)".to_string(),
        ColumnKind::Text if in_key => "varchar(255)".to_string(),
        ColumnKind::Text => "longtext".to_string(),
        ColumnKind::Bytes if in_key => "varbinary(255)".to_string(),
        ColumnKind::Bytes => "longblob".to_string(),
        ColumnKind::Date => "date".to_string(),
        ColumnKind::Time => "time(6)".to_string(),
        ColumnKind::Timestamp | ColumnKind::TimestampTz => "datetime(6)".to_string(),
        ColumnKind::Json => "json".to_string(),
        ColumnKind::Uuid => "char(36)".to_string(),
    }
}

pub(super) async fn create_table(
    c: &mut MySqlConnection,
    name: &str,
    shape: &TableShape,
) -> Result<(), Error> {
    let mut parts: Vec<String> = shape
        .columns
        .iter()
        .map(|col| {
            let null = if col.nullable { " NULL" } else { " NOT NULL" };
            let in_key = shape.key.contains(&col.name);
            format!("{} {}{null}", D.quote(&col.name), type_of(col, in_key))
        })
        .collect();
    let key: Vec<String> = shape.key.iter().map(|k| D.quote(k)).collect();
    parts.push(format!("PRIMARY KEY ({})", key.join(", ")));
    let sql = format!(
        "CREATE TABLE {} ({}) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
        table_sql(D, name),
        parts.join(", ")
    );
    execute(c, &sql).await
}

pub(super) async fn ensure_checkpoints(c: &mut MySqlConnection) -> Result<(), Error> {
    execute(
        c,
        "CREATE TABLE IF NOT EXISTS dbfleet_sync_checkpoints (\
           `definition` varchar(128) NOT NULL, `target_table` varchar(255) NOT NULL, \
           `mode` varchar(32) NOT NULL, `phase` varchar(32) NOT NULL, `position` longtext NULL, \
           `horizon` varchar(64) NULL, `fingerprint` longtext NOT NULL, \
           `rows_applied` bigint NOT NULL DEFAULT 0, \
           `updated_at` datetime(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) \
             ON UPDATE CURRENT_TIMESTAMP(6), \
           PRIMARY KEY (`definition`, `target_table`)\
         ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    )
    .await
}

pub(super) async fn load_checkpoint(
    c: &mut MySqlConnection,
    definition: &str,
    table: &str,
) -> Result<Option<Checkpoint>, Error> {
    let row = sqlx::query(
        "SELECT `mode`, `phase`, `position`, `horizon`, `fingerprint`, `rows_applied` \
         FROM dbfleet_sync_checkpoints WHERE `definition` = ? AND `target_table` = ?",
    )
    .bind(definition)
    .bind(table)
    .fetch_optional(&mut *c)
    .await
    .map_err(map_error)?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(Checkpoint {
        definition: definition.to_string(),
        table: table.to_string(),
        mode: text(&row, 0)?.unwrap_or_default(),
        phase: text(&row, 1)?.unwrap_or_default(),
        position: super::position_from_json(text(&row, 2)?)?,
        horizon: text(&row, 3)?,
        fingerprint: text(&row, 4)?.unwrap_or_default(),
        rows_applied: number(&row, 5),
    }))
}

/// Whether `table` holds no row: one index or heap page read at most.
pub(super) async fn is_empty(c: &mut MySqlConnection, table: &str) -> Result<bool, Error> {
    let sql = format!("SELECT 1 FROM {} LIMIT 1", table_sql(D, table));
    let row = sqlx::query(&sql)
        .fetch_optional(&mut *c)
        .await
        .map_err(map_error)?;
    Ok(row.is_none())
}

/// The name of a target table's lock, its table bound as `?`. Names are
/// server-wide and at most 64 characters: the database and the table,
/// hashed.
pub(super) const TABLE_LOCK: &str = "CONCAT('dbfleet_sync_', SHA1(CONCAT(DATABASE(), '/', ?)))";

/// Takes (`take`) or releases the table's named lock ([`TABLE_LOCK`]).
pub(super) async fn try_lock(
    c: &mut MySqlConnection,
    table: &str,
    take: bool,
) -> Result<bool, Error> {
    let sql = if take {
        format!("SELECT GET_LOCK({TABLE_LOCK}, 0)")
    } else {
        format!("SELECT RELEASE_LOCK({TABLE_LOCK})")
    };
    let held: Option<i64> = sqlx::query_scalar(&sql)
        .bind(super::lock_name(table))
        .fetch_one(&mut *c)
        .await
        .map_err(map_error)?;
    Ok(held == Some(1))
}

/// The clock minus `back`. A `TIMESTAMP` is read in UTC; a `DATETIME` is
/// taken in the server's time zone, as `DEFAULT CURRENT_TIMESTAMP` stamps
/// it.
pub(super) async fn clock(
    c: &mut MySqlConnection,
    column: &Column,
    back: Duration,
) -> Result<String, Error> {
    let now = "(NOW(6) - INTERVAL ? MICROSECOND)";
    let local = format!("COALESCE(CONVERT_TZ({now}, '+00:00', @@global.time_zone), {now})");
    let sql = match column.kind {
        ColumnKind::TimestampTz => format!("SELECT DATE_FORMAT({now}, '%Y-%m-%d %H:%i:%s.%f')"),
        ColumnKind::Timestamp => format!("SELECT DATE_FORMAT({local}, '%Y-%m-%d %H:%i:%s.%f')"),
        ColumnKind::Date => format!("SELECT DATE_FORMAT({local}, '%Y-%m-%d')"),
        _ => {
            return Err(Error::Unsupported(format!(
                "column {} is not a date or time",
                column.name
            )))
        }
    };
    let micros = i64::try_from(back.as_micros()).unwrap_or(i64::MAX);
    let mut query = sqlx::query(&sql);
    for _ in 0..sql.matches('?').count() {
        query = query.bind(micros);
    }
    let row = query.fetch_one(&mut *c).await.map_err(map_error)?;
    Ok(text(&row, 0)?.unwrap_or_default())
}

pub(super) async fn read(c: &mut MySqlConnection, scan: &Scan<'_>) -> Result<Vec<Row>, Error> {
    let mut sql = Sql::new(D);
    let statement = sql.select(scan);
    let mut query = sqlx::query(&statement);
    for b in &sql.binds {
        query = query.bind(b);
    }
    let rows = query.fetch_all(&mut *c).await.map_err(map_error)?;
    rows.iter()
        .map(|r| {
            (0..scan.select.len())
                .map(|i| canonical_text(r, i))
                .collect()
        })
        .collect()
}

/// A canonical text as selected: `utf8mb4_bin`, which the driver sends as
/// bytes; taken as they are, without a failed typed decode per value.
fn canonical_text(row: &MySqlRow, i: usize) -> Result<Option<String>, Error> {
    let bytes = row
        .try_get_unchecked::<Option<Vec<u8>>, _>(i)
        .map_err(map_error)?;
    Ok(bytes.map(|b| {
        String::from_utf8(b).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }))
}

pub(super) async fn digest(c: &mut MySqlConnection, scan: &Scan<'_>) -> Result<Digest, Error> {
    let (statement, binds) = digest_sql(D, scan);
    let mut query = sqlx::query(&statement);
    for b in &binds {
        query = query.bind(b);
    }
    let row = query.fetch_one(&mut *c).await.map_err(map_error)?;
    let rows: i64 = row.try_get(0).map_err(map_error)?;
    Ok(Digest {
        rows: u64::try_from(rows).unwrap_or(0),
        sum: text(&row, 1)?.unwrap_or_default(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        fn check(data_type: &str, column_type: &str, expected: ColumnKind) {
            assert_eq!(
                kind_of(data_type, column_type, 12, 2),
                expected,
                "{column_type}"
            );
        }
        check("tinyint", "tinyint(1)", ColumnKind::Bool);
        check("tinyint", "tinyint(4)", ColumnKind::Int);
        check(
            "bigint",
            "bigint(20) unsigned",
            ColumnKind::Decimal {
                precision: 20,
                scale: 0,
            },
        );
        check("bigint", "bigint(20)", ColumnKind::Int);
        check(
            "decimal",
            "decimal(12,2)",
            ColumnKind::Decimal {
                precision: 12,
                scale: 2,
            },
        );
        check("timestamp", "timestamp(6)", ColumnKind::TimestampTz);
        check("datetime", "datetime(6)", ColumnKind::Timestamp);
        check("longtext", "longtext", ColumnKind::Text);
        check("varbinary", "varbinary(16)", ColumnKind::Bytes);
    }
}
