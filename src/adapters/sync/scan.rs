//! What a keyset read asks for, and the SQL of it on each engine.
//!
//! Pages are read by keyset (`WHERE (k1, k2) > (…) ORDER BY k1, k2 LIMIT
//! n`), never by OFFSET: a page costs the same wherever it is, and rows
//! that move while the table is read are not skipped. Bounds are canonical
//! texts cast back to each column's type, so an integer key is compared as
//! an integer (MySQL compares an integer with a string as DOUBLE, wrong
//! past 2^53).

use super::canonical::Dialect;
use super::Column;

/// Keys after `after` (exclusive) up to `through` (inclusive); `None` is
/// unbounded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyRange {
    pub after: Option<Vec<String>>,
    pub through: Option<Vec<String>>,
}

/// One read of a table.
#[derive(Debug, Clone, Default)]
pub struct Scan<'a> {
    pub table: &'a str,
    /// The columns returned, as canonical text, in this order.
    pub select: Vec<&'a Column>,
    /// The keyset order: `cursor…, key…` or `key…`.
    pub order: Vec<&'a Column>,
    /// The order reversed (the bounds stay what they are).
    pub descending: bool,
    /// Rows strictly after this tuple of `order`.
    pub after: Option<&'a [String]>,
    /// Rows up to this tuple of `order`, included.
    pub through: Option<&'a [String]>,
    /// Rows whose first `order` column is at least this.
    pub since: Option<&'a str>,
    /// Rows whose column is below this value.
    pub before: Option<(&'a Column, &'a str)>,
    /// Columns that must not be NULL (a cursor).
    pub not_null: Vec<&'a Column>,
    pub limit: Option<u32>,
    pub offset: u32,
}

impl<'a> Scan<'a> {
    /// Every row of `table`, nothing selected yet.
    pub fn new(table: &'a str) -> Self {
        Scan {
            table,
            ..Scan::default()
        }
    }

    /// The scan of a key range of `table`.
    pub fn range(table: &'a str, key: Vec<&'a Column>, range: &'a KeyRange) -> Self {
        Scan {
            table,
            select: key.clone(),
            order: key,
            after: range.after.as_deref(),
            through: range.through.as_deref(),
            ..Scan::default()
        }
    }
}

/// A statement being built: its text and its binds, in order.
pub(crate) struct Sql {
    pub(crate) dialect: Dialect,
    pub(crate) binds: Vec<String>,
}

impl Sql {
    pub(crate) fn new(dialect: Dialect) -> Self {
        Self {
            dialect,
            binds: Vec::new(),
        }
    }

    /// A placeholder bound to `value`.
    pub(crate) fn param(&mut self, value: &str) -> String {
        self.binds.push(value.to_string());
        match self.dialect {
            Dialect::Postgres => format!("${}", self.binds.len()),
            Dialect::Mysql => "?".to_string(),
        }
    }

    /// `SELECT … FROM … WHERE … ORDER BY … LIMIT …` of `scan`.
    pub(crate) fn select(&mut self, scan: &Scan<'_>) -> String {
        let d = self.dialect;
        let columns: Vec<String> = scan.select.iter().map(|c| d.canonical(c)).collect();
        let mut sql = format!(
            "SELECT {} FROM {} AS dbfleet_s{}",
            columns.join(", "),
            table_sql(d, scan.table),
            self.filter(scan)
        );
        if !scan.order.is_empty() {
            let order: Vec<String> = scan
                .order
                .iter()
                .map(|c| d.ordered_in(c, "dbfleet_s"))
                .map(|o| if scan.descending { o + " DESC" } else { o })
                .collect();
            sql.push_str(&format!(" ORDER BY {}", order.join(", ")));
        }
        if let Some(limit) = scan.limit {
            sql.push_str(&format!(" LIMIT {limit}"));
        }
        if scan.offset > 0 {
            sql.push_str(&format!(" OFFSET {}", scan.offset));
        }
        sql
    }

    /// ` WHERE …` of `scan`, or nothing.
    pub(crate) fn filter(&mut self, scan: &Scan<'_>) -> String {
        let d = self.dialect;
        let mut conditions = Vec::new();
        for c in &scan.not_null {
            conditions.push(format!("{} IS NOT NULL", d.quote(&c.name)));
        }
        if let (Some(since), Some(first)) = (scan.since, scan.order.first()) {
            let p = self.param(since);
            conditions.push(format!("{} >= {}", d.ordered(first), d.compared(first, &p)));
        }
        if let Some((column, value)) = scan.before {
            let p = self.param(value);
            conditions.push(format!(
                "{} < {}",
                d.ordered(column),
                d.compared(column, &p)
            ));
        }
        if let Some(after) = scan.after {
            conditions.push(self.tuple(&scan.order, after, true));
        }
        if let Some(through) = scan.through {
            conditions.push(self.tuple(&scan.order, through, false));
        }
        if conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conditions.join(" AND "))
        }
    }

    /// `columns > values` (`after`) or `columns <= values`, in tuple order.
    /// PostgreSQL compares row values (an index serves them); MySQL gets the
    /// expanded form, which its range optimizer reads.
    fn tuple(&mut self, columns: &[&Column], values: &[String], after: bool) -> String {
        let d = self.dialect;
        let n = columns.len().min(values.len());
        if d == Dialect::Postgres {
            let left: Vec<String> = columns[..n].iter().map(|c| d.ordered(c)).collect();
            let right: Vec<String> = (0..n)
                .map(|i| {
                    let p = self.param(&values[i]);
                    d.compared(columns[i], &p)
                })
                .collect();
            let op = if after { ">" } else { "<=" };
            return format!("({}) {op} ({})", left.join(", "), right.join(", "));
        }
        self.expanded(&columns[..n], &values[..n], after)
    }

    fn expanded(&mut self, columns: &[&Column], values: &[String], after: bool) -> String {
        let d = self.dialect;
        let (Some(first), Some(value)) = (columns.first(), values.first()) else {
            return "TRUE".to_string();
        };
        let o = d.ordered(first);
        let mut v = || {
            let p = self.param(value);
            d.compared(first, &p)
        };
        let (strict, wide) = if after { (">", ">=") } else { ("<", "<=") };
        if columns.len() == 1 {
            let op = if after { ">" } else { "<=" };
            return format!("{o} {op} {}", v());
        }
        let (a, b, c) = (v(), v(), v());
        let rest = self.expanded(&columns[1..], &values[1..], after);
        format!("({o} {wide} {a} AND ({o} {strict} {b} OR ({o} = {c} AND {rest})))")
    }
}

/// The statement that counts the rows `scan` selects and sums their
/// hashes (columns in name order, as on the other side), and its binds:
/// one text for both engines, each in its own dialect.
pub(crate) fn digest_sql(d: Dialect, scan: &Scan<'_>) -> (String, Vec<String>) {
    let mut sql = Sql::new(d);
    let mut columns = scan.select.clone();
    columns.sort_by(|a, b| a.name.cmp(&b.name));
    let text = format!(
        "SELECT count(*), {} FROM {}{}",
        d.hash_sum(&columns),
        table_sql(d, scan.table),
        sql.filter(scan)
    );
    (text, sql.binds)
}

/// The table's name in SQL: PostgreSQL `"schema"."table"` (`public` when
/// no `schema.` is given); MySQL the table in the session's database, a
/// `prefix.` dropped.
pub(crate) fn table_sql(d: Dialect, name: &str) -> String {
    let (schema, table) = split_name(d, name);
    match schema {
        Some(schema) => format!("{}.{}", d.quote(schema), d.quote(table)),
        None => d.quote(table),
    }
}

/// `(schema, table)` of a table name as the dialect reads it.
pub(crate) fn split_name(d: Dialect, name: &str) -> (Option<&str>, &str) {
    match (d, name.split_once('.')) {
        (Dialect::Postgres, Some((schema, table))) => (Some(schema), table),
        (Dialect::Postgres, None) => (Some("public"), name),
        (Dialect::Mysql, Some((_, table))) => (None, table),
        (Dialect::Mysql, None) => (None, name),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::adapters::sync::ColumnKind;

    fn int(name: &str) -> Column {
        Column {
            name: name.to_string(),
            kind: ColumnKind::Int,
            nullable: false,
            declared: "bigint".to_string(),
            native_order: true,
            collatable: false,
        }
    }

    #[test]
    fn keyset_bounds_on_each_engine() {
        let (a, b) = (int("a"), int("b"));
        let values = ["1".to_string(), "2".to_string()];
        let scan = Scan {
            table: "s.t",
            select: vec![&a, &b],
            order: vec![&a, &b],
            after: Some(&values),
            limit: Some(7),
            ..Scan::default()
        };
        let mut pg = Sql::new(Dialect::Postgres);
        assert_eq!(
            pg.select(&scan),
            "SELECT \"a\"::text, \"b\"::text FROM \"s\".\"t\" AS dbfleet_s WHERE (\"a\", \"b\") > \
             (($1::text)::bigint, ($2::text)::bigint) ORDER BY dbfleet_s.\"a\", dbfleet_s.\"b\" LIMIT 7"
        );
        let mut my = Sql::new(Dialect::Mysql);
        let sql = my.select(&scan);
        assert!(
            sql.contains(
                "WHERE (`a` >= CAST(? AS SIGNED) AND (`a` > CAST(? AS SIGNED) OR \
                 (`a` = CAST(? AS SIGNED) AND `b` > CAST(? AS SIGNED))))"
            ),
            "{sql}"
        );
        assert_eq!(my.binds, ["1", "1", "1", "2"]);
    }

    #[test]
    fn names() {
        assert_eq!(split_name(Dialect::Postgres, "t"), (Some("public"), "t"));
        assert_eq!(split_name(Dialect::Postgres, "s.t"), (Some("s"), "t"));
        assert_eq!(split_name(Dialect::Mysql, "public.t"), (None, "t"));
        assert_eq!(table_sql(Dialect::Mysql, "a`b"), "`a``b`");
    }
}
