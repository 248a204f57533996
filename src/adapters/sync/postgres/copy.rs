//! A fresh load on PostgreSQL: a page written with `COPY … FROM STDIN` in
//! text format, the fastest path into an empty table. Each value is the
//! same canonical text the `UNNEST` upsert casts, given to the column's
//! input function as it stands, so both paths store the same values.

use sqlx::PgConnection;

use super::D;
use crate::adapters::sync::scan::table_sql;
use crate::adapters::sync::{Apply, ColumnKind, Row};

/// Bytes buffered before they are sent: the page streams, whatever its
/// size, without holding a second copy of it.
const SEND_AT: usize = 1 << 20;

/// Writes `rows` with one `COPY`; on any failure the statement is
/// abandoned and the caller's transaction rolls back.
pub(super) async fn copy_rows(
    c: &mut PgConnection,
    a: &Apply<'_>,
    rows: &[Row],
) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = a.columns.iter().map(|col| D.quote(&col.name)).collect();
    let statement = format!(
        "COPY {} ({}) FROM STDIN",
        table_sql(D, a.table),
        names.join(", ")
    );
    let mut copy = c.copy_in_raw(&statement).await?;
    let kinds: Vec<&ColumnKind> = a.columns.iter().map(|col| &col.kind).collect();
    let mut buffer = Vec::with_capacity(SEND_AT + 4096);
    for row in rows {
        encode_row(&mut buffer, &kinds, row);
        if buffer.len() >= SEND_AT {
            if let Err(e) = copy.send(buffer.as_slice()).await {
                let _ = copy.abort("the page could not be sent").await;
                return Err(e);
            }
            buffer.clear();
        }
    }
    if let Err(e) = copy.send(buffer.as_slice()).await {
        let _ = copy.abort("the page could not be sent").await;
        return Err(e);
    }
    copy.finish().await.map(|_| ())
}

/// One line of `COPY` text: values separated by tabs, NULL as `\N`.
fn encode_row(out: &mut Vec<u8>, kinds: &[&ColumnKind], row: &Row) {
    for (i, kind) in kinds.iter().enumerate() {
        if i > 0 {
            out.push(b'\t');
        }
        match row.get(i).and_then(|v| v.as_deref()) {
            None => out.extend_from_slice(b"\\N"),
            Some(text) => encode_value(out, kind, text),
        }
    }
    out.push(b'\n');
}

/// The text the column's input function reads, as `UNNEST` casts it:
/// bytes as `\x` hex (the `decode(…, 'hex')` of the upsert), an instant as
/// UTC (`|| '+00'`), anything else as is.
fn encode_value(out: &mut Vec<u8>, kind: &ColumnKind, text: &str) {
    match kind {
        ColumnKind::Bytes => escape(out, &format!("\\x{text}")),
        ColumnKind::TimestampTz => escape(out, &format!("{text}+00")),
        _ => escape(out, text),
    }
}

/// `COPY` text escapes: backslash, tab, newline and carriage return; a
/// value can then never end a line, split a column or pass for `\N`.
fn escape(out: &mut Vec<u8>, text: &str) {
    for b in text.bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.push(b),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn line(kinds: &[ColumnKind], row: &[Option<&str>]) -> String {
        let kinds: Vec<&ColumnKind> = kinds.iter().collect();
        let row: Row = row.iter().map(|v| v.map(str::to_string)).collect();
        let mut out = Vec::new();
        encode_row(&mut out, &kinds, &row);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn values_are_escaped_and_nulls_marked() {
        let kinds = [ColumnKind::Int, ColumnKind::Text, ColumnKind::Text];
        assert_eq!(
            line(&kinds, &[Some("1"), Some("a\tb\nc\rd\\e 🦀"), None]),
            "1\ta\\tb\\nc\\rd\\\\e 🦀\t\\N\n"
        );
        // The text `\N` is a value, not NULL.
        assert_eq!(line(&[ColumnKind::Text], &[Some("\\N")]), "\\\\N\n");
        assert_eq!(line(&[ColumnKind::Text], &[Some("")]), "\n");
    }

    #[test]
    fn bytes_and_instants_read_as_the_upsert_casts_them() {
        let kinds = [ColumnKind::Bytes, ColumnKind::TimestampTz];
        assert_eq!(
            line(&kinds, &[Some("00ff"), Some("2024-06-01 10:00:00.000000")]),
            "\\\\x00ff\t2024-06-01 10:00:00.000000+00\n"
        );
    }
}
