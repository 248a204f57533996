//! A page's transaction on PostgreSQL: removals, the upsert (rows passed
//! as `text[]` arrays through `UNNEST`, so a page is one statement whatever
//! its size, or a `COPY` into a table a fresh load fills) and the
//! checkpoint, committed together.

use sqlx::{Connection as _, PgConnection};

use super::{read, D};
use crate::adapters::postgres::map_error;
use crate::adapters::sync::scan::{table_sql, Sql};
use crate::adapters::sync::{Applied, Apply, Checkpoint, Column, Error, Row, Scan};

async fn save_checkpoint(c: &mut PgConnection, k: &Checkpoint) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO dbfleet_sync_checkpoints AS k \
           (definition, target_table, mode, phase, position, horizon, fingerprint, rows_applied) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (definition, target_table) DO UPDATE SET mode = EXCLUDED.mode, \
           phase = EXCLUDED.phase, position = EXCLUDED.position, horizon = EXCLUDED.horizon, \
           fingerprint = EXCLUDED.fingerprint, rows_applied = EXCLUDED.rows_applied, \
           updated_at = now()",
    )
    .bind(&k.definition)
    .bind(&k.table)
    .bind(&k.mode)
    .bind(&k.phase)
    .bind(crate::adapters::sync::position_json(&k.position))
    .bind(&k.horizon)
    .bind(&k.fingerprint)
    .bind(i64::try_from(k.rows_applied).unwrap_or(i64::MAX))
    .execute(&mut *c)
    .await
    .map(|_| ())
    .map_err(map_error)
}

pub(in crate::adapters::sync) async fn apply(
    c: &mut PgConnection,
    a: &Apply<'_>,
) -> Result<Applied, Error> {
    let mut tx = c.begin().await.map_err(map_error)?;
    let removed = remove(&mut tx, a).await?;
    let rows = if a.upsert { a.rows } else { &[] };
    let rejected = match a.rejects {
        None => {
            write_rows(&mut tx, a, rows).await.map_err(map_error)?;
            Vec::new()
        }
        Some(allowed) => rejecting(&mut tx, a, rows, allowed).await?,
    };
    if rejected.len() as u64 > a.rejects.unwrap_or(0) {
        tx.rollback().await.map_err(map_error)?;
        return Ok(Applied {
            removed: 0,
            rejected,
            committed: false,
        });
    }
    if let Some(k) = a.checkpoint {
        save_checkpoint(&mut tx, k).await?;
    }
    tx.commit().await.map_err(map_error)?;
    Ok(Applied {
        removed,
        rejected,
        committed: true,
    })
}

async fn write_rows(c: &mut PgConnection, a: &Apply<'_>, rows: &[Row]) -> Result<(), sqlx::Error> {
    if a.bulk {
        return super::copy::copy_rows(c, a, rows).await;
    }
    for chunk in rows.chunks(a.rows_per_statement.max(1)) {
        upsert(c, a, chunk).await?;
    }
    Ok(())
}

/// The page under a savepoint; when the target refuses a value, again row
/// by row, each under its own savepoint, keeping the rows it accepts.
/// Stops once more than `allowed` rows were refused.
async fn rejecting(
    c: &mut PgConnection,
    a: &Apply<'_>,
    rows: &[Row],
    allowed: u64,
) -> Result<Vec<(usize, String)>, Error> {
    let mut whole = c.begin().await.map_err(map_error)?;
    match write_rows(&mut whole, a, rows).await {
        Ok(()) => {
            whole.commit().await.map_err(map_error)?;
            return Ok(Vec::new());
        }
        Err(e) if refused(&e).is_some() => whole.rollback().await.map_err(map_error)?,
        Err(e) => return Err(map_error(e)),
    }
    let mut rejected = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let mut one = c.begin().await.map_err(map_error)?;
        match upsert(&mut one, a, std::slice::from_ref(row)).await {
            Ok(()) => one.commit().await.map_err(map_error)?,
            Err(e) => {
                let Some(reason) = refused(&e) else {
                    return Err(map_error(e));
                };
                one.rollback().await.map_err(map_error)?;
                rejected.push((i, reason));
                if rejected.len() as u64 > allowed {
                    break;
                }
            }
        }
    }
    Ok(rejected)
}

/// The reason the target refused a row for its values: SQLSTATE class 22
/// (data exception: out of range, too long, invalid text) or 23 (integrity
/// constraint: NOT NULL, CHECK, foreign or unique key). Any other error is
/// the session's, the schema's or the server's, and no row is to blame.
fn refused(e: &sqlx::Error) -> Option<String> {
    let db = e.as_database_error()?;
    let code = db.code()?;
    (code.starts_with("22") || code.starts_with("23"))
        .then(|| format!("{} (SQLSTATE {code})", db.message()))
}

async fn remove(c: &mut PgConnection, a: &Apply<'_>) -> Result<u64, Error> {
    let key: Vec<&Column> = a.key.iter().map(|&i| a.columns[i]).collect();
    let (unlisted, all) = crate::adapters::sync::removal_plan(a.removal, a.rows, a.key);
    let mut removed = 0;
    if let Some(range) = &unlisted {
        let present = read(c, &Scan::range(a.table, key.clone(), range)).await?;
        let present = present
            .into_iter()
            .map(|r| r.into_iter().flatten().collect())
            .collect();
        let gone = crate::adapters::sync::unlisted(present, a.rows, a.key);
        removed += delete_keys(c, a.table, &key, &gone).await?;
    }
    if let Some(range) = &all {
        let mut sql = Sql::new(D);
        let text = format!(
            "DELETE FROM {}{}",
            table_sql(D, a.table),
            sql.filter(&Scan::range(a.table, key.clone(), range))
        );
        let mut query = sqlx::query(&text);
        for b in &sql.binds {
            query = query.bind(b);
        }
        removed += query
            .execute(&mut *c)
            .await
            .map_err(map_error)?
            .rows_affected();
    }
    Ok(removed)
}

async fn delete_keys(
    c: &mut PgConnection,
    table: &str,
    key: &[&Column],
    keys: &[Vec<String>],
) -> Result<u64, Error> {
    if keys.is_empty() {
        return Ok(0);
    }
    let arrays: Vec<String> = (1..=key.len()).map(|i| format!("${i}::text[]")).collect();
    let names: Vec<String> = (0..key.len()).map(|i| format!("k{i}")).collect();
    let matches: Vec<String> = key
        .iter()
        .enumerate()
        .map(|(i, k)| {
            format!(
                "dbfleet_t.{} = {}",
                D.quote(&k.name),
                D.compared(k, &format!("dbfleet_d.k{i}"))
            )
        })
        .collect();
    let text = format!(
        "DELETE FROM {} AS dbfleet_t USING UNNEST({}) AS dbfleet_d({}) WHERE {}",
        table_sql(D, table),
        arrays.join(", "),
        names.join(", "),
        matches.join(" AND ")
    );
    let mut query = sqlx::query(&text);
    for i in 0..key.len() {
        query = query.bind(keys.iter().map(|k| k[i].clone()).collect::<Vec<String>>());
    }
    Ok(query
        .execute(&mut *c)
        .await
        .map_err(map_error)?
        .rows_affected())
}

async fn upsert(c: &mut PgConnection, a: &Apply<'_>, rows: &[Row]) -> Result<(), sqlx::Error> {
    let names: Vec<String> = a.columns.iter().map(|col| D.quote(&col.name)).collect();
    let arrays: Vec<String> = (1..=a.columns.len())
        .map(|i| format!("${i}::text[]"))
        .collect();
    let slots: Vec<String> = (0..a.columns.len()).map(|i| format!("c{i}")).collect();
    let values: Vec<String> = a
        .columns
        .iter()
        .enumerate()
        .map(|(i, col)| D.written(col, &format!("dbfleet_u.c{i}")))
        .collect();
    let key: Vec<String> = a.key.iter().map(|&i| names[i].clone()).collect();
    let conflict = on_conflict(&names, a.key);
    let text = format!(
        "INSERT INTO {} AS dbfleet_t ({}) SELECT {} FROM UNNEST({}) AS dbfleet_u({}) \
         ON CONFLICT ({}) {conflict}",
        table_sql(D, a.table),
        names.join(", "),
        values.join(", "),
        arrays.join(", "),
        slots.join(", "),
        key.join(", ")
    );
    let mut query = sqlx::query(&text);
    for i in 0..a.columns.len() {
        query = query.bind(
            rows.iter()
                .map(|r| r.get(i).cloned().flatten())
                .collect::<Vec<Option<String>>>(),
        );
    }
    query.execute(&mut *c).await.map(|_| ())
}

/// `DO UPDATE` of the non-key columns, only when one differs (no dead
/// tuple for an unchanged row); `DO NOTHING` when every column is the key.
fn on_conflict(names: &[String], key: &[usize]) -> String {
    let rest: Vec<&String> = (0..names.len())
        .filter(|i| !key.contains(i))
        .map(|i| &names[i])
        .collect();
    if rest.is_empty() {
        return "DO NOTHING".to_string();
    }
    let set: Vec<String> = rest.iter().map(|n| format!("{n} = EXCLUDED.{n}")).collect();
    let old: Vec<String> = rest.iter().map(|n| format!("dbfleet_t.{n}")).collect();
    let new: Vec<String> = rest.iter().map(|n| format!("EXCLUDED.{n}")).collect();
    format!(
        "DO UPDATE SET {} WHERE ROW({}) IS DISTINCT FROM ROW({})",
        set.join(", "),
        old.join(", "),
        new.join(", ")
    )
}
