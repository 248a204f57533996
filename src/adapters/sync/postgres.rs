//! The sync's statements on PostgreSQL: the catalogue, target tables and
//! checkpoints, the clock horizon, keyset reads and digests, and each
//! page's transaction (rows passed as `text[]` arrays through `UNNEST`, so
//! a page is one statement whatever its size).

use std::time::Duration;

use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row as _};

use super::canonical::Dialect;
use super::scan::{digest_sql, split_name, table_sql, Sql};
use super::{Checkpoint, Column, ColumnKind, Digest, Error, Row, Scan, TableShape, UniqueIndex};
use crate::adapters::postgres::map_error;

mod copy;
mod write;

pub(super) use self::write::apply;

const D: Dialect = Dialect::Postgres;

pub(super) async fn shape(c: &mut PgConnection, name: &str) -> Result<Option<TableShape>, Error> {
    let (schema, table) = split_name(D, name);
    let rows = sqlx::query(
        "SELECT a.attname::text, t.typname::text, format_type(a.atttypid, a.atttypmod), \
                NOT a.attnotnull, a.atttypmod, a.attcollation <> 0, \
                coalesce(CASE WHEN co.collname = 'default' THEN \
                    (SELECT datcollate::text FROM pg_database WHERE datname = current_database()) \
                    ELSE co.collname::text END, '') \
         FROM pg_attribute a \
         JOIN pg_class c ON c.oid = a.attrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         JOIN pg_type t ON t.oid = a.atttypid \
         LEFT JOIN pg_collation co ON co.oid = a.attcollation \
         WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p') \
           AND a.attnum > 0 AND NOT a.attisdropped \
         ORDER BY a.attnum",
    )
    .bind(schema.unwrap_or("public"))
    .bind(table)
    .fetch_all(&mut *c)
    .await
    .map_err(map_error)?;
    if rows.is_empty() {
        return Ok(None);
    }
    let columns = rows.iter().map(column_of).collect::<Result<Vec<_>, _>>()?;
    let schema = schema.unwrap_or("public");
    let key = primary_key(c, schema, table).await?;
    let unique = unique_indexes(c, schema, table).await?;
    Ok(Some(TableShape {
        columns,
        key,
        unique,
    }))
}

/// The tables of `schema` (partitions left to their parent), by name.
pub(super) async fn tables(c: &mut PgConnection, schema: &str) -> Result<Vec<String>, Error> {
    sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition \
         ORDER BY c.relname COLLATE \"C\"",
    )
    .bind(schema)
    .fetch_all(&mut *c)
    .await
    .map_err(map_error)
}

/// A column from its catalogue row; text in a collation other than `C`
/// needs one forced to compare by code point.
fn column_of(row: &PgRow) -> Result<Column, Error> {
    let typname: String = row.try_get(1).map_err(map_error)?;
    let typmod: i32 = row.try_get(4).map_err(map_error)?;
    let collatable: bool = row.try_get(5).map_err(map_error)?;
    let collation: String = row.try_get(6).map_err(map_error)?;
    let kind = kind_of(&typname, typmod);
    Ok(Column {
        name: row.try_get(0).map_err(map_error)?,
        native_order: kind != ColumnKind::Text
            || !collatable
            || matches!(collation.as_str(), "C" | "POSIX"),
        kind,
        declared: row.try_get(2).map_err(map_error)?,
        nullable: row.try_get(3).map_err(map_error)?,
        collatable,
    })
}

async fn primary_key(
    c: &mut PgConnection,
    schema: &str,
    table: &str,
) -> Result<Vec<String>, Error> {
    sqlx::query_scalar(
        "SELECT a.attname::text \
         FROM pg_index i \
         JOIN pg_class c ON c.oid = i.indrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) \
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum \
         WHERE i.indisprimary AND n.nspname = $1 AND c.relname = $2 \
         ORDER BY k.ord",
    )
    .bind(schema)
    .bind(table)
    .fetch_all(&mut *c)
    .await
    .map_err(map_error)
}

/// The unique indexes besides the primary key (partial ones included: a
/// row can still collide inside their predicate), each with its key
/// columns in order (not its `INCLUDE` ones), an expression as its text.
async fn unique_indexes(
    c: &mut PgConnection,
    schema: &str,
    table: &str,
) -> Result<Vec<UniqueIndex>, Error> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT ci.relname::text, \
                coalesce(a.attname::text, pg_get_indexdef(i.indexrelid, k.ord::int, true)) \
         FROM pg_index i \
         JOIN pg_class c ON c.oid = i.indrelid \
         JOIN pg_class ci ON ci.oid = i.indexrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) \
         LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum \
           AND k.attnum > 0 \
         WHERE i.indisunique AND NOT i.indisprimary AND k.ord <= i.indnkeyatts \
           AND n.nspname = $1 AND c.relname = $2 \
         ORDER BY ci.relname, k.ord",
    )
    .bind(schema)
    .bind(table)
    .fetch_all(&mut *c)
    .await
    .map_err(map_error)?;
    let mut unique: Vec<UniqueIndex> = Vec::new();
    for (name, column) in rows {
        match unique.last_mut() {
            Some(u) if u.name == name => u.columns.push(column),
            _ => unique.push(UniqueIndex {
                name,
                columns: vec![column],
            }),
        }
    }
    Ok(unique)
}

/// The kind of a PostgreSQL type; `numeric`'s precision and scale from its
/// type modifier (`-1`: none declared).
fn kind_of(typname: &str, typmod: i32) -> ColumnKind {
    match typname {
        "int2" | "int4" | "int8" => ColumnKind::Int,
        "numeric" if typmod >= 4 => {
            let m = (typmod - 4) as u32;
            ColumnKind::Decimal {
                precision: (m >> 16) & 0xffff,
                scale: m & 0xffff,
            }
        }
        "numeric" => ColumnKind::Decimal {
            precision: 0,
            scale: 0,
        },
        "float4" | "float8" => ColumnKind::Float,
        "bool" => ColumnKind::Bool,
        "bytea" => ColumnKind::Bytes,
        "date" => ColumnKind::Date,
        "time" => ColumnKind::Time,
        "timestamp" => ColumnKind::Timestamp,
        "timestamptz" => ColumnKind::TimestampTz,
        "json" | "jsonb" => ColumnKind::Json,
        "uuid" => ColumnKind::Uuid,
        _ => ColumnKind::Text,
    }
}

/// The closest PostgreSQL type of a kind; text keys in code-point order,
/// as every sync compares them.
fn type_of(column: &Column, in_key: bool) -> String {
    match &column.kind {
        ColumnKind::Int => "bigint".to_string(),
        ColumnKind::Decimal { precision: 0, .. } => "numeric".to_string(),
        ColumnKind::Decimal { precision, scale } => format!("numeric({precision},{scale})"),
        ColumnKind::Float => "double precision".to_string(),
        ColumnKind::Bool => "boolean".to_string(),
        ColumnKind::Text if in_key => "text COLLATE \"C\"".to_string(),
        ColumnKind::Text => "text".to_string(),
        ColumnKind::Bytes => "bytea".to_string(),
        ColumnKind::Date => "date".to_string(),
        ColumnKind::Time => "time(6)".to_string(),
        ColumnKind::Timestamp => "timestamp(6)".to_string(),
        ColumnKind::TimestampTz => "timestamptz".to_string(),
        ColumnKind::Json => "jsonb".to_string(),
        ColumnKind::Uuid => "uuid".to_string(),
    }
}

pub(super) async fn create_table(
    c: &mut PgConnection,
    name: &str,
    shape: &TableShape,
) -> Result<(), Error> {
    let mut parts: Vec<String> = shape
        .columns
        .iter()
        .map(|col| {
            let null = if col.nullable { "" } else { " NOT NULL" };
            let in_key = shape.key.contains(&col.name);
            format!("{} {}{null}", D.quote(&col.name), type_of(col, in_key))
        })
        .collect();
    let key: Vec<String> = shape.key.iter().map(|k| D.quote(k)).collect();
    parts.push(format!("PRIMARY KEY ({})", key.join(", ")));
    let sql = format!("CREATE TABLE {} ({})", table_sql(D, name), parts.join(", "));
    execute(c, &sql).await
}

async fn execute(c: &mut PgConnection, sql: &str) -> Result<(), Error> {
    sqlx::query(sql)
        .execute(&mut *c)
        .await
        .map(|_| ())
        .map_err(map_error)
}

pub(super) async fn ensure_checkpoints(c: &mut PgConnection) -> Result<(), Error> {
    let created = execute(
        c,
        "CREATE TABLE IF NOT EXISTS dbfleet_sync_checkpoints (\
           definition text NOT NULL, target_table text NOT NULL, mode text NOT NULL, \
           phase text NOT NULL, position text, horizon text, fingerprint text NOT NULL, \
           rows_applied bigint NOT NULL DEFAULT 0, \
           updated_at timestamptz NOT NULL DEFAULT now(), \
           PRIMARY KEY (definition, target_table))",
    )
    .await;
    // Two syncs creating it at once: one of them loses the race on the
    // catalogue, and finds the table there.
    if created.is_err() {
        let exists: bool =
            sqlx::query_scalar("SELECT to_regclass('dbfleet_sync_checkpoints') IS NOT NULL")
                .fetch_one(&mut *c)
                .await
                .map_err(map_error)?;
        if exists {
            return Ok(());
        }
    }
    created
}

pub(super) async fn load_checkpoint(
    c: &mut PgConnection,
    definition: &str,
    table: &str,
) -> Result<Option<Checkpoint>, Error> {
    let row = sqlx::query(
        "SELECT mode, phase, position, horizon, fingerprint, rows_applied \
         FROM dbfleet_sync_checkpoints WHERE definition = $1 AND target_table = $2",
    )
    .bind(definition)
    .bind(table)
    .fetch_optional(&mut *c)
    .await
    .map_err(map_error)?;
    let Some(row) = row else { return Ok(None) };
    let applied: i64 = row.try_get(5).map_err(map_error)?;
    Ok(Some(Checkpoint {
        definition: definition.to_string(),
        table: table.to_string(),
        mode: row.try_get(0).map_err(map_error)?,
        phase: row.try_get(1).map_err(map_error)?,
        position: super::position_from_json(row.try_get(2).map_err(map_error)?)?,
        horizon: row.try_get(3).map_err(map_error)?,
        fingerprint: row.try_get(4).map_err(map_error)?,
        rows_applied: u64::try_from(applied).unwrap_or(0),
    }))
}

/// Whether `table` holds no row: one index or heap page read at most.
pub(super) async fn is_empty(c: &mut PgConnection, table: &str) -> Result<bool, Error> {
    let sql = format!("SELECT 1 FROM {} LIMIT 1", table_sql(D, table));
    let row = sqlx::query(&sql)
        .fetch_optional(&mut *c)
        .await
        .map_err(map_error)?;
    Ok(row.is_none())
}

/// Takes (`take`) or releases the table's advisory lock: session level, so
/// it outlives the page transactions and dies with the session.
pub(super) async fn try_lock(c: &mut PgConnection, table: &str, take: bool) -> Result<bool, Error> {
    let sql = if take {
        "SELECT pg_try_advisory_lock(hashtextextended($1, 0))"
    } else {
        "SELECT pg_advisory_unlock(hashtextextended($1, 0))"
    };
    sqlx::query_scalar(sql)
        .bind(super::lock_name(table))
        .fetch_one(&mut *c)
        .await
        .map_err(map_error)
}

pub(super) async fn clock(
    c: &mut PgConnection,
    column: &Column,
    back: Duration,
    hold: bool,
) -> Result<String, Error> {
    let value = match column.kind {
        ColumnKind::TimestampTz => "to_char(h AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')",
        // A naive timestamp is compared in UTC, the session's zone (the
        // driver sets it): a cursor stamped in a zone west of UTC needs a
        // `settle` of at least the offset.
        ColumnKind::Timestamp => "to_char(h::timestamp, 'YYYY-MM-DD HH24:MI:SS.US')",
        ColumnKind::Date => "to_char(h::date, 'YYYY-MM-DD')",
        _ => {
            return Err(Error::Unsupported(format!(
                "column {} is not a date or time",
                column.name
            )))
        }
    };
    let held = if hold {
        "coalesce((SELECT min(xact_start) FROM pg_stat_activity \
           WHERE datname = current_database() AND pid <> pg_backend_pid() \
           AND backend_type = 'client backend'), 'infinity')"
    } else {
        "'infinity'::timestamptz"
    };
    let sql = format!(
        "SELECT {value} FROM (SELECT least(now() - make_interval(secs => $1), {held}) AS h) x"
    );
    sqlx::query_scalar(&sql)
        .bind(back.as_secs_f64())
        .fetch_one(&mut *c)
        .await
        .map_err(map_error)
}

pub(super) async fn read(c: &mut PgConnection, scan: &Scan<'_>) -> Result<Vec<Row>, Error> {
    let mut sql = Sql::new(D);
    let text = sql.select(scan);
    let mut query = sqlx::query(&text);
    for b in &sql.binds {
        query = query.bind(b);
    }
    let rows = query.fetch_all(&mut *c).await.map_err(map_error)?;
    rows.iter()
        .map(|r| {
            (0..scan.select.len())
                .map(|i| r.try_get::<Option<String>, _>(i).map_err(map_error))
                .collect()
        })
        .collect()
}

pub(super) async fn digest(c: &mut PgConnection, scan: &Scan<'_>) -> Result<Digest, Error> {
    let (statement, binds) = digest_sql(D, scan);
    let mut query = sqlx::query(&statement);
    for b in &binds {
        query = query.bind(b);
    }
    let row = query.fetch_one(&mut *c).await.map_err(map_error)?;
    let rows: i64 = row.try_get(0).map_err(map_error)?;
    Ok(Digest {
        rows: u64::try_from(rows).unwrap_or(0),
        sum: row.try_get(1).map_err(map_error)?,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert_eq!(kind_of("int8", -1), ColumnKind::Int);
        // numeric(12,2): (12 << 16 | 2) + 4
        assert_eq!(
            kind_of("numeric", (12 << 16 | 2) + 4),
            ColumnKind::Decimal {
                precision: 12,
                scale: 2
            }
        );
        assert_eq!(
            kind_of("numeric", -1),
            ColumnKind::Decimal {
                precision: 0,
                scale: 0
            }
        );
        assert_eq!(kind_of("inet", -1), ColumnKind::Text);
    }
}
