//! A page's transaction on MySQL: removals, the upsert (multi-row prepared
//! `INSERT … ON DUPLICATE KEY UPDATE`, within the 65,535 binds; a plain
//! multi-row `INSERT` for the rows of a fresh load) and the checkpoint,
//! committed together.

use sqlx::{Connection as _, MySqlConnection};

use super::{read, D};
use crate::adapters::mysql::map_error;
use crate::adapters::sync::scan::{table_sql, Sql};
use crate::adapters::sync::{Applied, Apply, Checkpoint, Column, Error, Row, Scan};

/// Keys per `DELETE`: an `OR` of equalities the range optimizer still
/// reads as point lookups.
const KEYS_PER_DELETE: usize = 500;

/// Bytes of values per `INSERT`, well below the default 16 MiB
/// `max_allowed_packet`, whatever the rows hold.
const BYTES_PER_STATEMENT: usize = 4 << 20;

async fn save_checkpoint(c: &mut MySqlConnection, k: &Checkpoint) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO dbfleet_sync_checkpoints (`definition`, `target_table`, `mode`, `phase`, \
           `position`, `horizon`, `fingerprint`, `rows_applied`) VALUES (?, ?, ?, ?, ?, ?, ?, ?) \
         ON DUPLICATE KEY UPDATE `mode` = VALUES(`mode`), `phase` = VALUES(`phase`), \
           `position` = VALUES(`position`), `horizon` = VALUES(`horizon`), \
           `fingerprint` = VALUES(`fingerprint`), `rows_applied` = VALUES(`rows_applied`)",
    )
    .bind(&k.definition)
    .bind(&k.table)
    .bind(&k.mode)
    .bind(&k.phase)
    .bind(crate::adapters::sync::position_json(&k.position))
    .bind(&k.horizon)
    .bind(&k.fingerprint)
    .bind(k.rows_applied)
    .execute(&mut *c)
    .await
    .map(|_| ())
    .map_err(map_error)
}

pub(in crate::adapters::sync) async fn apply(
    c: &mut MySqlConnection,
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

async fn write_rows(
    c: &mut MySqlConnection,
    a: &Apply<'_>,
    rows: &[Row],
) -> Result<(), sqlx::Error> {
    for chunk in statements(rows, a.rows_per_statement) {
        insert(c, a, chunk, !a.bulk).await?;
    }
    Ok(())
}

/// The page under a savepoint; when the target refuses a value, again row
/// by row, each under its own savepoint, keeping the rows it accepts.
/// Stops once more than `allowed` rows were refused. Row by row always
/// upserts: a fresh load whose plain `INSERT` met a row already there
/// (error 1062) then writes the page as any other.
async fn rejecting(
    c: &mut MySqlConnection,
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
        match insert(&mut one, a, std::slice::from_ref(row), true).await {
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

/// Errors a row's own values cause under the session's strict mode: NULL
/// into NOT NULL (1048), a duplicate on another unique key (1062), out of
/// range (1264, 1690), truncated or invalid values (1265, 1292, 1366,
/// 1367, 1406, 1411, 3140 invalid JSON), a foreign key (1451, 1452), a
/// CHECK (3819 MySQL, 4025 MariaDB). Locks, timeouts, privileges and a
/// schema that does not fit are no row's fault and fail the page.
const REFUSALS: &[u16] = &[
    1048, 1062, 1264, 1265, 1292, 1366, 1367, 1406, 1411, 1451, 1452, 1690, 3140, 3819, 4025,
];

fn refused(e: &sqlx::Error) -> Option<String> {
    let db = e.as_database_error()?;
    let number = db
        .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()?
        .number();
    REFUSALS
        .contains(&number)
        .then(|| format!("{} (error {number})", withheld(db.message())))
}

/// The server's message with the row's value taken out: a duplicate entry
/// (1062) or an incorrect value (1292, 1366, 1367) quotes it, and a reason
/// is kept in the run history, where a row's data has no place (the key is
/// recorded apart). The value ends at the last closing text (`' for `,
/// or the message's last quote): a value may hold quotes, the index or
/// column name after it does not.
fn withheld(message: &str) -> String {
    const QUOTED: [(&str, &str); 4] = [
        ("Duplicate entry '", "' for "),
        (" value: '", "' for "),
        // 1292: "Truncated incorrect INTEGER value: 'abc'".
        (" value: '", "'"),
        // 1367: "Illegal double '1e500' value found during parsing".
        ("'", "' value found"),
    ];
    for (opening, closing) in QUOTED {
        let Some(start) = message.find(opening).map(|i| i + opening.len()) else {
            continue;
        };
        if let Some(length) = message[start..].rfind(closing) {
            let end = start + length;
            return format!("{}(value withheld){}", &message[..start], &message[end..]);
        }
    }
    message.to_string()
}

async fn remove(c: &mut MySqlConnection, a: &Apply<'_>) -> Result<u64, Error> {
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
        for keys in gone.chunks(KEYS_PER_DELETE) {
            removed += delete_keys(c, a.table, &key, keys).await?;
        }
    }
    if let Some(range) = &all {
        let mut sql = Sql::new(D);
        let statement = format!(
            "DELETE FROM {}{}",
            table_sql(D, a.table),
            sql.filter(&Scan::range(a.table, key.clone(), range))
        );
        let mut query = sqlx::query(&statement);
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
    c: &mut MySqlConnection,
    table: &str,
    key: &[&Column],
    keys: &[Vec<String>],
) -> Result<u64, Error> {
    if keys.is_empty() {
        return Ok(0);
    }
    let one: Vec<String> = key
        .iter()
        .map(|k| format!("{} = {}", D.ordered(k), D.compared(k, "?")))
        .collect();
    let one = format!("({})", one.join(" AND "));
    let statement = format!(
        "DELETE FROM {} WHERE {}",
        table_sql(D, table),
        vec![one; keys.len()].join(" OR ")
    );
    let mut query = sqlx::query(&statement);
    for k in keys {
        for v in k {
            query = query.bind(v);
        }
    }
    Ok(query
        .execute(&mut *c)
        .await
        .map_err(map_error)?
        .rows_affected())
}

/// One multi-row `INSERT` of `rows`, with the upsert clause when `upsert`.
/// Values are bound as the rows hold them, borrowed, not copied.
async fn insert(
    c: &mut MySqlConnection,
    a: &Apply<'_>,
    rows: &[Row],
    upsert: bool,
) -> Result<(), sqlx::Error> {
    let names: Vec<String> = a.columns.iter().map(|col| D.quote(&col.name)).collect();
    let one: Vec<String> = a.columns.iter().map(|col| D.written(col, "?")).collect();
    let one = format!("({})", one.join(", "));
    let mut statement = format!(
        "INSERT INTO {} ({}) VALUES {}",
        table_sql(D, a.table),
        names.join(", "),
        vec![one; rows.len()].join(", "),
    );
    if upsert {
        statement.push_str(&on_duplicate(a, &names));
    }
    let mut query = sqlx::query(&statement);
    for row in rows {
        for i in 0..a.columns.len() {
            query = query.bind(row.get(i).and_then(|v| v.as_deref()));
        }
    }
    query.execute(&mut *c).await.map(|_| ())
}

/// ` ON DUPLICATE KEY UPDATE` of every column but the key's.
fn on_duplicate(a: &Apply<'_>, names: &[String]) -> String {
    let rest: Vec<&String> = (0..names.len())
        .filter(|i| !a.key.contains(i))
        .map(|i| &names[i])
        .collect();
    let update: Vec<String> = if rest.is_empty() {
        // Every column is the key: nothing to update, and IGNORE would
        // hide real errors too.
        a.key
            .iter()
            .map(|&i| format!("{0} = {0}", names[i]))
            .collect()
    } else {
        rest.iter().map(|n| format!("{n} = VALUES({n})")).collect()
    };
    format!(" ON DUPLICATE KEY UPDATE {}", update.join(", "))
}

/// The rows cut into statements of at most `per_statement` rows and about
/// [`BYTES_PER_STATEMENT`] bytes (a statement has at least one row).
fn statements(rows: &[Row], per_statement: usize) -> Vec<&[Row]> {
    let mut cuts = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, row) in rows.iter().enumerate() {
        let size: usize = row.iter().flatten().map(|v| v.len() + 8).sum();
        let full = i - start >= per_statement.max(1) || bytes + size > BYTES_PER_STATEMENT;
        if i > start && full {
            cuts.push(&rows[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    if start < rows.len() {
        cuts.push(&rows[start..]);
    }
    cuts
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn values_are_withheld_from_reasons() {
        fn check(message: &str, expected: &str) {
            assert_eq!(withheld(message), expected, "{message}");
        }
        check(
            "Duplicate entry 'ann@example.com' for key 'users_email'",
            "Duplicate entry '(value withheld)' for key 'users_email'",
        );
        check(
            "Duplicate entry '7-it's' for key' for key 'users.tenant_name'",
            "Duplicate entry '(value withheld)' for key 'users.tenant_name'",
        );
        check(
            "Incorrect integer value: 'abc' for column `db`.`t`.`n` at row 1",
            "Incorrect integer value: '(value withheld)' for column `db`.`t`.`n` at row 1",
        );
        check(
            "Incorrect datetime value: '2024-13-01' for column `db`.`t`.`at` at row 1",
            "Incorrect datetime value: '(value withheld)' for column `db`.`t`.`at` at row 1",
        );
        check(
            "Truncated incorrect INTEGER value: 'abc'",
            "Truncated incorrect INTEGER value: '(value withheld)'",
        );
        check(
            "Illegal double '1e500' value found during parsing",
            "Illegal double '(value withheld)' value found during parsing",
        );
        let kept = "CONSTRAINT `no_7` failed for `db`.`items`";
        check(kept, kept);
        check("Duplicate entry 'cut short", "Duplicate entry 'cut short");
    }

    #[test]
    fn statements_are_cut_by_rows_and_bytes() {
        let small: Vec<Row> = (0..10).map(|i| vec![Some(i.to_string())]).collect();
        let sizes: Vec<usize> = statements(&small, 4).iter().map(|s| s.len()).collect();
        assert_eq!(sizes, [4, 4, 2]);
        let big: Vec<Row> = (0..3).map(|_| vec![Some("x".repeat(3 << 20))]).collect();
        let sizes: Vec<usize> = statements(&big, 100).iter().map(|s| s.len()).collect();
        assert_eq!(sizes, [1, 1, 1]);
        assert!(statements(&[], 5).is_empty());
    }
}
