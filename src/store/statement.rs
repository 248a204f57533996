//! A statement and its binds as a value, built before it runs, and the two
//! ways several become one call to the database: as the parts of one
//! `WITH` on PostgreSQL ([`joined`]), whose parts all see the snapshot the
//! statement began with, and as one script on SQLite ([`script`]), whose
//! statements run in order, each seeing the ones before. Both spare round
//! trips: to PostgreSQL's server, and to the thread sqlx's SQLite driver
//! runs each connection on (two context switches a call).

use std::fmt::Write as _;

use super::db::{Arg, Tx};
use super::dialect::Dialect;
use super::Result;

/// One statement and its binds, in `$1, $2, …` order.
#[derive(Debug, Clone)]
pub(crate) struct Statement {
    pub sql: String,
    pub args: Vec<Arg>,
}

impl Tx {
    /// Run a [`Statement`]; returns the rows it changed.
    pub(crate) async fn run(&mut self, statement: Statement) -> Result<u64> {
        self.execute(&statement.sql, statement.args).await
    }

    /// Run `statements` in order: on SQLite as one call ([`script`]), on
    /// PostgreSQL one by one.
    pub(crate) async fn run_all(&mut self, statements: Vec<Statement>) -> Result<()> {
        if self.dialect() == Dialect::Sqlite && statements.len() > 1 {
            self.run(script(statements)).await?;
            return Ok(());
        }
        for statement in statements {
            self.run(statement).await?;
        }
        Ok(())
    }
}

/// `statements` as one SQLite script, in order, each keeping its own binds
/// (sqlx's SQLite driver binds `$N` by number across the script).
pub(crate) fn script(statements: Vec<Statement>) -> Statement {
    let mut sql = String::new();
    let mut args = Vec::new();
    for statement in statements {
        if !sql.is_empty() {
            sql.push_str("; ");
        }
        sql.push_str(&shifted(&statement.sql, args.len()));
        args.extend(statement.args);
    }
    Statement { sql, args }
}

/// `main` with each of `parts` before it in its `WITH`, under its name;
/// every statement's placeholders renumbered after the ones before it, so
/// each keeps its own binds. A `$` followed by a digit is a placeholder in
/// every statement joined (none quotes one).
pub(crate) fn joined(parts: Vec<(String, Statement)>, main: Statement) -> Statement {
    if parts.is_empty() {
        return main;
    }
    let mut sql = String::from("WITH ");
    let mut args = Vec::new();
    for (name, part) in parts {
        let _ = write!(sql, "{name} AS ({}), ", shifted(&part.sql, args.len()));
        args.extend(part.args);
    }
    let main_sql = shifted(&main.sql, args.len());
    args.extend(main.args);
    match main_sql.strip_prefix("WITH ") {
        Some(own_parts) => sql.push_str(own_parts),
        None => {
            sql.truncate(sql.len() - 2);
            sql.push(' ');
            sql.push_str(&main_sql);
        }
    }
    Statement { sql, args }
}

/// `sql` with each placeholder `$N` made `$(N + by)`; a `$` not followed by
/// a digit (SQLite's `'$.name'` JSON paths) is left as it is.
fn shifted(sql: &str, by: usize) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..=at]);
        rest = &rest[at + 1..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        match rest[..digits].parse::<usize>() {
            Ok(n) => {
                let _ = write!(out, "{}", n + by);
                rest = &rest[digits..];
            }
            Err(_) => continue,
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::db::args;

    #[test]
    fn placeholders_shift_and_nothing_else_does() {
        assert_eq!(shifted("a = $1 AND b = $12", 3), "a = $4 AND b = $15");
        assert_eq!(shifted("x $ y $1", 10), "x $ y $11");
        assert_eq!(shifted("no placeholders", 2), "no placeholders");
    }

    #[test]
    fn a_script_runs_each_statement_with_its_own_binds() {
        let one = script(vec![
            Statement {
                sql: "DELETE FROM t WHERE x = $1".into(),
                args: args![1_i64],
            },
            Statement {
                sql: "UPDATE u SET x = $2 WHERE y = $1".into(),
                args: args![2_i64, 3_i64],
            },
        ]);
        assert_eq!(
            one.sql,
            "DELETE FROM t WHERE x = $1; UPDATE u SET x = $3 WHERE y = $2"
        );
        assert_eq!(one.args.len(), 3);
    }

    #[test]
    fn parts_go_before_main_each_with_its_own_binds() {
        let part = |sql: &str, n: i64| Statement {
            sql: sql.to_string(),
            args: args![n, n + 1],
        };
        let one = joined(
            vec![
                ("a".into(), part("DELETE FROM t WHERE x = $1 AND y = $2", 1)),
                ("b".into(), part("UPDATE u SET x = $2 WHERE y = $1", 3)),
            ],
            part("SELECT $1 + $2", 5),
        );
        assert_eq!(
            one.sql,
            "WITH a AS (DELETE FROM t WHERE x = $1 AND y = $2), \
             b AS (UPDATE u SET x = $4 WHERE y = $3) SELECT $5 + $6"
        );
        assert_eq!(one.args.len(), 6);

        let alone = joined(Vec::new(), part("SELECT $1", 7));
        assert_eq!(alone.sql, "SELECT $1");

        let own = joined(
            vec![("a".into(), part("DELETE FROM t WHERE x = $1", 1))],
            part("WITH c AS (SELECT $2) SELECT $1", 3),
        );
        assert_eq!(
            own.sql,
            "WITH a AS (DELETE FROM t WHERE x = $1), c AS (SELECT $4) SELECT $3"
        );
    }
}
