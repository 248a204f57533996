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
use super::{Error, Result};

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
            self.run(script(statements)?).await?;
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
pub(crate) fn script(statements: Vec<Statement>) -> Result<Statement> {
    let mut binds = Binds::default();
    let sql: Vec<String> = statements
        .into_iter()
        .map(|s| binds.take(s))
        .collect::<Result<_>>()?;
    Ok(Statement {
        sql: sql.join("; "),
        args: binds.0,
    })
}

/// `main` with each of `parts` before it in its `WITH`, under its name,
/// each keeping its own binds. A `$` followed by a digit is a placeholder
/// in every statement joined (none quotes one).
pub(crate) fn joined(parts: Vec<(String, Statement)>, main: Statement) -> Result<Statement> {
    if parts.is_empty() {
        return Ok(main);
    }
    let mut binds = Binds::default();
    let mut sql = String::from("WITH ");
    for (name, part) in parts {
        let _ = write!(sql, "{name} AS ({}), ", binds.take(part)?);
    }
    let main_sql = binds.take(main)?;
    match main_sql.strip_prefix("WITH ") {
        Some(own_parts) => sql.push_str(own_parts),
        None => {
            sql.truncate(sql.len() - 2);
            sql.push(' ');
            sql.push_str(&main_sql);
        }
    }
    Ok(Statement { sql, args: binds.0 })
}

/// The binds of statements made one: one placeholder per distinct value,
/// so a value several of them bind (the instance, the day, a JSON array
/// of rows) is sent and parsed once. A value is bound as the type of its
/// Rust value (sqlx declares it), so every statement that shares it gets
/// the type it had alone.
#[derive(Default)]
struct Binds(Vec<Arg>);

impl Binds {
    /// `statement`'s SQL, its placeholders renumbered to the shared binds;
    /// a placeholder past the statement's own binds (a mistake in its
    /// text, which SQLite would bind as NULL) is an error.
    fn take(&mut self, statement: Statement) -> Result<String> {
        let numbers: Vec<usize> = statement
            .args
            .into_iter()
            .map(|arg| self.number(arg))
            .collect();
        let number = |n: usize| n.checked_sub(1).and_then(|i| numbers.get(i)).copied();
        renumbered(&statement.sql, number).ok_or_else(|| {
            let past = format!(
                "a placeholder past the {} binds of: {}",
                numbers.len(),
                statement.sql
            );
            Error::Database(sqlx::Error::Protocol(past))
        })
    }

    fn number(&mut self, arg: Arg) -> usize {
        match self.0.iter().position(|bound| *bound == arg) {
            Some(at) => at + 1,
            None => {
                self.0.push(arg);
                self.0.len()
            }
        }
    }
}

/// `sql` with each placeholder `$N` made `$(number(N))`, or `None` when
/// `number` has none for one; a `$` not followed by a digit (SQLite's
/// `'$.name'` JSON paths) is left as it is.
fn renumbered(sql: &str, number: impl Fn(usize) -> Option<usize>) -> Option<String> {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..=at]);
        rest = &rest[at + 1..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if let Ok(n) = rest[..digits].parse::<usize>() {
            let _ = write!(out, "{}", number(n)?);
            rest = &rest[digits..];
        }
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::store::db::args;

    #[test]
    fn placeholders_renumber_and_nothing_else_does() {
        let plus = |sql, by| renumbered(sql, |n| Some(n + by));
        let some = |sql: &str| Some(sql.to_string());
        assert_eq!(plus("a = $1 AND b = $12", 3), some("a = $4 AND b = $15"));
        assert_eq!(plus("x $ y $1 '$.name'", 10), some("x $ y $11 '$.name'"));
        assert_eq!(plus("no placeholders", 2), some("no placeholders"));
        assert_eq!(renumbered("$1 $2", |n| (n == 1).then_some(1)), None);
    }

    #[test]
    fn a_value_bound_twice_is_sent_once() {
        let one = script(vec![
            Statement {
                sql: "DELETE FROM t WHERE x = $1 AND y = $2".into(),
                args: args![7_i64, "a"],
            },
            Statement {
                sql: "UPDATE u SET x = $2 WHERE y = $1 AND z = $3".into(),
                args: args!["a", 7_i64, "b"],
            },
        ])
        .unwrap();
        assert_eq!(
            one.sql,
            "DELETE FROM t WHERE x = $1 AND y = $2; UPDATE u SET x = $1 WHERE y = $2 AND z = $3"
        );
        assert_eq!(one.args, args![7_i64, "a", "b"]);
    }

    #[test]
    fn a_placeholder_past_its_statements_binds_is_an_error() {
        let past = script(vec![Statement {
            sql: "SELECT $2".into(),
            args: args![1_i64],
        }]);
        let error = past.map(|s| s.sql).unwrap_err().to_string();
        assert!(error.contains("past the 1 binds of: SELECT $2"), "{error}");
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
        ])
        .unwrap();
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
        )
        .unwrap();
        assert_eq!(
            one.sql,
            "WITH a AS (DELETE FROM t WHERE x = $1 AND y = $2), \
             b AS (UPDATE u SET x = $4 WHERE y = $3) SELECT $5 + $6"
        );
        assert_eq!(one.args.len(), 6);

        let alone = joined(Vec::new(), part("SELECT $1", 7)).unwrap();
        assert_eq!(alone.sql, "SELECT $1");

        let own = joined(
            vec![("a".into(), part("DELETE FROM t WHERE x = $1", 1))],
            part("WITH c AS (SELECT $2) SELECT $1", 3),
        )
        .unwrap();
        assert_eq!(
            own.sql,
            "WITH a AS (DELETE FROM t WHERE x = $1), c AS (SELECT $4) SELECT $3"
        );
    }
}
