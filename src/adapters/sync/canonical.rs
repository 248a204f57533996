//! The canonical text of a value, as SQL on each engine, and the SQL that
//! turns it back into a value of a column's type.
//!
//! A row travels between engines as one canonical text per column, and the
//! same expressions feed the verification hashes: reading and verifying
//! cannot disagree, and the same value gives the same text on PostgreSQL and
//! on MySQL (timestamps in UTC as `YYYY-MM-DD HH:MM:SS.ffffff`, decimals at
//! their declared scale, booleans `0`/`1`, bytes lower-case hex, uuids
//! lower-case, NULL as no text at all).
//!
//! Text is compared and ordered by code point on both engines (`COLLATE "C"`,
//! `utf8mb4_bin`): key ranges must mean the same rows on a source and a
//! target of different engines, whose default collations disagree.

use super::{Column, ColumnKind};

/// Which engine's SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Postgres,
    Mysql,
}

impl Dialect {
    /// An identifier, quoted for the engine whatever it contains.
    pub(crate) fn quote(self, name: &str) -> String {
        match self {
            Dialect::Postgres => format!("\"{}\"", name.replace('"', "\"\"")),
            Dialect::Mysql => format!("`{}`", name.replace('`', "``")),
        }
    }

    /// The column's canonical text (NULL stays NULL).
    pub(crate) fn canonical(self, column: &Column) -> String {
        let q = self.quote(&column.name);
        match self {
            Dialect::Postgres => pg_canonical(&column.kind, &q),
            Dialect::Mysql => {
                let inner = mysql_canonical(&column.kind, &q);
                // One explicit collation: CONCAT over columns of different
                // collations would otherwise be an "illegal mix".
                format!("CONVERT({inner} USING utf8mb4) COLLATE utf8mb4_bin")
            }
        }
    }

    /// The column as it is compared and ordered in key ranges.
    pub(crate) fn ordered(self, column: &Column) -> String {
        self.ordered_as(column, self.quote(&column.name))
    }

    /// [`Dialect::ordered`] of the column of table `alias`: in `ORDER BY`,
    /// a bare name would be the output column of that name, which is
    /// canonical text.
    pub(crate) fn ordered_in(self, column: &Column, alias: &str) -> String {
        self.ordered_as(column, format!("{alias}.{}", self.quote(&column.name)))
    }

    fn ordered_as(self, column: &Column, q: String) -> String {
        match (self, &column.kind) {
            (Dialect::Postgres, ColumnKind::Text) if !column.native_order => {
                format!("{q} COLLATE \"C\"")
            }
            (Dialect::Mysql, ColumnKind::Text | ColumnKind::Json) if !column.native_order => {
                format!("CONVERT({q} USING utf8mb4) COLLATE utf8mb4_bin")
            }
            (Dialect::Mysql, ColumnKind::Uuid) => {
                format!("CONVERT(LOWER(CAST({q} AS CHAR)) USING utf8mb4) COLLATE utf8mb4_bin")
            }
            _ => q,
        }
    }

    /// A canonical text `param` (a placeholder) as a value comparable with
    /// [`Dialect::ordered`] of the column.
    pub(crate) fn compared(self, column: &Column, param: &str) -> String {
        match self {
            Dialect::Postgres => match &column.kind {
                ColumnKind::Text if column.collatable => format!("{param}::text"),
                _ => pg_from_text(column, &format!("{param}::text")),
            },
            Dialect::Mysql => mysql_compared(column, param),
        }
    }

    /// A canonical text `param` as the value written into the column.
    pub(crate) fn written(self, column: &Column, param: &str) -> String {
        match (self, &column.kind) {
            // Text keeps its assignment cast: too long for a `varchar(n)` is
            // an error, not a silent truncation.
            (Dialect::Postgres, ColumnKind::Text) if column.collatable => param.to_string(),
            (Dialect::Postgres, _) => pg_from_text(column, param),
            (Dialect::Mysql, ColumnKind::Bytes) => format!("UNHEX({param})"),
            (Dialect::Mysql, _) => param.to_string(),
        }
    }

    /// The canonical text of a whole row: each column's text in the order
    /// given (by name), each prefixed with `v<length>:`, NULL as `n`. The
    /// prefix makes the encoding unambiguous: no value can pass for a
    /// separator or for NULL.
    pub(crate) fn row_text(self, columns: &[&Column]) -> String {
        let parts: Vec<String> = columns
            .iter()
            .map(|c| {
                let v = self.canonical(c);
                match self {
                    Dialect::Postgres => {
                        format!("coalesce('v' || length({v}) || ':' || {v}, 'n')")
                    }
                    Dialect::Mysql => {
                        format!("COALESCE(CONCAT('v', CHAR_LENGTH({v}), ':', {v}), 'n')")
                    }
                }
            })
            .collect();
        match self {
            Dialect::Postgres => parts.join(" || '|' || "),
            Dialect::Mysql => format!("CONCAT({})", parts.join(", '|', ")),
        }
    }

    /// The exact sum, as decimal text, of the rows' 60-bit hashes (the first
    /// 15 hex digits of the md5 of [`Dialect::row_text`]): a sum has no
    /// wrap, and unlike XOR it counts duplicates. MySQL sums unsigned
    /// integers as DECIMAL, exactly; a sum of the `CONV` strings would be a
    /// DOUBLE.
    pub(crate) fn hash_sum(self, columns: &[&Column]) -> String {
        let row = self.row_text(columns);
        match self {
            Dialect::Postgres => format!(
                "coalesce(sum(('x' || substr(md5({row}), 1, 15))::bit(60)::bigint::numeric), 0)::text"
            ),
            Dialect::Mysql => format!(
                "CAST(COALESCE(SUM(CAST(CONV(SUBSTR(MD5({row}), 1, 15), 16, 10) AS UNSIGNED)), 0) \
                 AS CHAR)"
            ),
        }
    }
}

fn pg_canonical(kind: &ColumnKind, q: &str) -> String {
    match kind {
        ColumnKind::Int
        | ColumnKind::Decimal { .. }
        | ColumnKind::Float
        | ColumnKind::Text
        | ColumnKind::Uuid => format!("{q}::text"),
        ColumnKind::Json => format!("{q}::jsonb::text"),
        ColumnKind::Bool => format!("{q}::int::text"),
        ColumnKind::Bytes => format!("encode({q}, 'hex')"),
        ColumnKind::Date => format!("to_char({q}, 'YYYY-MM-DD')"),
        ColumnKind::Time => format!("to_char({q}, 'HH24:MI:SS.US')"),
        ColumnKind::Timestamp => format!("to_char({q}, 'YYYY-MM-DD HH24:MI:SS.US')"),
        ColumnKind::TimestampTz => {
            format!("to_char({q} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')")
        }
    }
}

fn mysql_canonical(kind: &ColumnKind, q: &str) -> String {
    match kind {
        ColumnKind::Int | ColumnKind::Decimal { .. } | ColumnKind::Float | ColumnKind::Json => {
            format!("CAST({q} AS CHAR)")
        }
        ColumnKind::Text => q.to_string(),
        ColumnKind::Bool => format!("CAST(({q} <> 0) AS CHAR)"),
        ColumnKind::Uuid => format!("LOWER(CAST({q} AS CHAR))"),
        ColumnKind::Bytes => format!("LOWER(HEX({q}))"),
        ColumnKind::Date => format!("DATE_FORMAT({q}, '%Y-%m-%d')"),
        ColumnKind::Time => format!("TIME_FORMAT({q}, '%H:%i:%s.%f')"),
        ColumnKind::Timestamp | ColumnKind::TimestampTz => {
            format!("DATE_FORMAT({q}, '%Y-%m-%d %H:%i:%s.%f')")
        }
    }
}

/// Canonical text (an expression of type text) to the column's own type.
/// A timestamp with time zone is UTC in canonical text.
fn pg_from_text(column: &Column, text: &str) -> String {
    match column.kind {
        ColumnKind::Bytes => format!("decode({text}, 'hex')"),
        ColumnKind::TimestampTz => format!("({text} || '+00')::timestamptz"),
        _ => format!("({text})::{}", column.declared),
    }
}

fn mysql_compared(column: &Column, param: &str) -> String {
    match &column.kind {
        ColumnKind::Int | ColumnKind::Bool => format!("CAST({param} AS SIGNED)"),
        ColumnKind::Decimal { precision, scale } => {
            let (p, s) = mysql_decimal(*precision, *scale);
            format!("CAST({param} AS DECIMAL({p},{s}))")
        }
        ColumnKind::Float => format!("CAST({param} AS DOUBLE)"),
        ColumnKind::Text | ColumnKind::Json | ColumnKind::Uuid => {
            format!("CONVERT({param} USING utf8mb4) COLLATE utf8mb4_bin")
        }
        ColumnKind::Bytes => format!("UNHEX({param})"),
        ColumnKind::Date => format!("CAST({param} AS DATE)"),
        ColumnKind::Time => format!("CAST({param} AS TIME(6))"),
        ColumnKind::Timestamp | ColumnKind::TimestampTz => {
            format!("CAST({param} AS DATETIME(6))")
        }
    }
}

/// A decimal's precision and scale within MySQL's bounds (65, 30); an
/// unconstrained PostgreSQL `numeric` (precision 0) takes the widest.
pub(crate) fn mysql_decimal(precision: u32, scale: u32) -> (u32, u32) {
    if precision == 0 {
        return (65, 30);
    }
    let scale = scale.min(30);
    (precision.clamp(scale.max(1), 65), scale)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn column(name: &str, kind: ColumnKind) -> Column {
        Column {
            name: name.to_string(),
            kind,
            nullable: true,
            declared: "bigint".to_string(),
            native_order: false,
            collatable: false,
        }
    }

    #[test]
    fn hostile_identifiers_are_quoted() {
        fn check(d: Dialect, name: &str, expected: &str) {
            assert_eq!(d.quote(name), expected, "{d:?} {name:?}");
        }
        check(Dialect::Postgres, "a\"b", "\"a\"\"b\"");
        check(Dialect::Postgres, "a`b", "\"a`b\"");
        check(Dialect::Mysql, "a`b", "`a``b`");
        check(Dialect::Mysql, "a\"b", "`a\"b`");
    }

    #[test]
    fn canonical_expressions() {
        fn check(d: Dialect, kind: ColumnKind, expected: &str) {
            assert_eq!(
                d.canonical(&column("c", kind.clone())),
                expected,
                "{kind:?}"
            );
        }
        let pg = Dialect::Postgres;
        check(pg, ColumnKind::Bool, "\"c\"::int::text");
        check(pg, ColumnKind::Bytes, "encode(\"c\", 'hex')");
        check(
            pg,
            ColumnKind::TimestampTz,
            "to_char(\"c\" AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')",
        );
        let my = Dialect::Mysql;
        check(
            my,
            ColumnKind::Bytes,
            "CONVERT(LOWER(HEX(`c`)) USING utf8mb4) COLLATE utf8mb4_bin",
        );
        check(
            my,
            ColumnKind::Bool,
            "CONVERT(CAST((`c` <> 0) AS CHAR) USING utf8mb4) COLLATE utf8mb4_bin",
        );
    }

    #[test]
    fn integers_are_compared_as_integers_on_mysql() {
        let c = column("id", ColumnKind::Int);
        assert_eq!(Dialect::Mysql.compared(&c, "?"), "CAST(? AS SIGNED)");
        let u = column(
            "id",
            ColumnKind::Decimal {
                precision: 20,
                scale: 0,
            },
        );
        assert_eq!(Dialect::Mysql.compared(&u, "?"), "CAST(? AS DECIMAL(20,0))");
        assert_eq!(Dialect::Postgres.compared(&c, "$1"), "($1::text)::bigint");
    }

    #[test]
    fn decimal_bounds() {
        assert_eq!(mysql_decimal(12, 2), (12, 2));
        assert_eq!(mysql_decimal(0, 0), (65, 30));
        assert_eq!(mysql_decimal(100, 40), (65, 30));
    }

    #[test]
    fn row_text_marks_nulls_and_lengths() {
        let (a, b) = (column("a", ColumnKind::Int), column("b", ColumnKind::Text));
        assert_eq!(
            Dialect::Postgres.row_text(&[&a, &b]),
            "coalesce('v' || length(\"a\"::text) || ':' || \"a\"::text, 'n') || '|' || \
             coalesce('v' || length(\"b\"::text) || ':' || \"b\"::text, 'n')"
        );
    }
}
