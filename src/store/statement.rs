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
    let mut binds = Binds::default();
    let sql: Vec<String> = statements.into_iter().map(|s| binds.take(s)).collect();
    Statement {
        sql: sql.join("; "),
        args: binds.0,
    }
}

/// `main` with each of `parts` before it in its `WITH`, under its name,
/// each keeping its own binds. A `$` followed by a digit is a placeholder
/// in every statement joined (none quotes one).
pub(crate) fn joined(parts: Vec<(String, Statement)>, main: Statement) -> Statement {
    if parts.is_empty() {
        return main;
    }
    let mut binds = Binds::default();
    let mut sql = String::from("WITH ");
    for (name, part) in parts {
        let _ = write!(sql, "{name} AS ({}), ", binds.take(part));
    }
    let main_sql = binds.take(main);
    match main_sql.strip_prefix("WITH ") {
        Some(own_parts) => sql.push_str(own_parts),
        None => {
            sql.truncate(sql.len() - 2);
            sql.push(' ');
            sql.push_str(&main_sql);
        }
    }
    Statement { sql, args: binds.0 }
}

/// The binds of statements made one: one placeholder per distinct value,
/// so a value several of them bind (the instance, the day, a JSON array
/// of rows) is sent and parsed once. A value is bound as the type of its
/// Rust value (sqlx declares it), so every statement that shares it gets
/// the type it had alone.
#[derive(Default)]
struct Binds(Vec<Arg>);

impl Binds {
    /// `statement`'s SQL, its placeholders renumbered to the shared binds.
    /// One past its own binds becomes `$0`, which the database refuses.
    fn take(&mut self, statement: Statement) -> String {
        let numbers: Vec<usize> = statement
            .args
            .into_iter()
            .map(|arg| self.number(arg))
            .collect();
        renumbered(&statement.sql, |n| {
            n.checked_sub(1)
                .and_then(|i| numbers.get(i))
                .copied()
                .unwrap_or(0)
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

/// `sql` with each placeholder `$N` made `$(number(N))`; a `$` not
/// followed by a digit (SQLite's `'$.name'` JSON paths) is left as it is.
fn renumbered(sql: &str, number: impl Fn(usize) -> usize) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..=at]);
        rest = &rest[at + 1..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        match rest[..digits].parse::<usize>() {
            Ok(n) => {
                let _ = write!(out, "{}", number(n));
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
    fn placeholders_renumber_and_nothing_else_does() {
        let plus = |by| move |n| n + by;
        assert_eq!(
            renumbered("a = $1 AND b = $12", plus(3)),
            "a = $4 AND b = $15"
        );
        assert_eq!(
            renumbered("x $ y $1 '$.name'", plus(10)),
            "x $ y $11 '$.name'"
        );
        assert_eq!(renumbered("no placeholders", plus(2)), "no placeholders");
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
        ]);
        assert_eq!(
            one.sql,
            "DELETE FROM t WHERE x = $1 AND y = $2; UPDATE u SET x = $1 WHERE y = $2 AND z = $3"
        );
        assert_eq!(one.args, args![7_i64, "a", "b"]);
        // One number past a statement's binds is refused, not another's.
        let past = script(vec![Statement {
            sql: "SELECT $2".into(),
            args: args![1_i64],
        }]);
        assert_eq!(past.sql, "SELECT $0");
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
