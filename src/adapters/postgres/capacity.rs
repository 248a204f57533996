//! Sizing PostgreSQL databases, one database never hiding another.
//!
//! `pg_database_size` refuses a database the role may not `CONNECT` to
//! (unless it has the privileges of `pg_read_all_stats`), and one refusal
//! fails the statement it is in. So the one statement that sizes every
//! target asks first, per row, whether the role may size that database,
//! and sizes only those: the others are reported as not measured, with the
//! grant that would fix it. A database closed to connections
//! (`ALLOW_CONNECTIONS false`) is sized like any other: the function reads
//! its files, it does not connect.
//!
//! Should that statement fail all the same (a database dropped between the
//! privilege check and the size, for a role that is not a superuser), each
//! target is sized on its own, so the failure stays with its database.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use sqlx::Row as _;

use super::probe::{connect_grant, read_all_stats_grant};
use super::{map_error, sqlstate, PostgresConnection, INSUFFICIENT_PRIVILEGE};
use crate::adapters::{Capacity, DatabaseSize, Error, SizeMethod, Unmeasured, UnmeasuredReason};

/// SQLSTATE `invalid_catalog_name`: sized by oid, a dropped database.
const UNDEFINED_DATABASE: &str = "3D000";

/// One target as the catalogue answers for it. `size_mb` is `None` when
/// the role may not size it, or when it vanished (no files to measure).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Sized {
    allows_connections: bool,
    /// `CONNECT`; `None` when the database vanished since the catalogue
    /// snapshot (`has_database_privilege` answers NULL for it).
    may_connect: Option<bool>,
    /// The privileges of `pg_read_all_stats`: every database may be sized.
    reads_all: bool,
    size_mb: Option<i64>,
}

/// Sizes `$1` names: whether the role may size each, and the size of those
/// it may. `pg_has_role(…, 'USAGE')` is how `pg_database_size` itself
/// checks `pg_read_all_stats` (and is true for superusers).
const SIZE_SQL: &str = "SELECT d.datname::text, d.datallowconn, \
         has_database_privilege(d.oid, 'CONNECT'), \
         pg_has_role('pg_read_all_stats', 'USAGE'), \
         CASE WHEN has_database_privilege(d.oid, 'CONNECT') \
                   OR pg_has_role('pg_read_all_stats', 'USAGE') \
              THEN pg_database_size(d.oid) / 1024 / 1024 END AS size_mb \
     FROM pg_database d \
     WHERE NOT d.datistemplate AND d.datname::text = ANY($1::text[])";

impl PostgresConnection {
    /// Sizes of `targets`, floored to whole MiB; see the module docs.
    pub async fn fetch_capacity(&mut self, targets: &[String]) -> Result<Capacity, Error> {
        let collected_at = Utc::now();
        let role: String = sqlx::query_scalar("SELECT current_user::text")
            .fetch_one(&mut self.conn)
            .await
            .map_err(map_error)?;
        let (found, failed) = match self.size_all(targets).await {
            Ok(found) => (found, Vec::new()),
            Err(e) if e.as_database_error().is_some() => {
                tracing::warn!(error = %e, "sizing every database at once failed; sizing each");
                self.size_each(targets).await?
            }
            Err(e) => return Err(map_error(e)),
        };
        let failed_names: BTreeSet<&str> = failed.iter().map(|u| u.name.as_str()).collect();
        let rest: Vec<String> = targets
            .iter()
            .filter(|t| !failed_names.contains(t.as_str()))
            .cloned()
            .collect();
        let mut capacity = compose(&rest, &found, &role, collected_at);
        capacity.unmeasured.extend(failed);
        Ok(capacity)
    }

    async fn size_all(
        &mut self,
        targets: &[String],
    ) -> Result<BTreeMap<String, Sized>, sqlx::Error> {
        let rows = sqlx::query(SIZE_SQL)
            .bind(targets.to_vec())
            .fetch_all(&mut self.conn)
            .await?;
        rows.iter().map(sized_from_row).collect()
    }

    /// One statement per target; a target whose statement fails is
    /// reported as not measured, with the reason the error gives.
    async fn size_each(
        &mut self,
        targets: &[String],
    ) -> Result<(BTreeMap<String, Sized>, Vec<Unmeasured>), Error> {
        let mut found = BTreeMap::new();
        let mut failed = Vec::new();
        for target in unique(targets) {
            match self.size_all(std::slice::from_ref(target)).await {
                Ok(one) => found.extend(one),
                Err(e) => failed.push(failure(target, e)?),
            }
        }
        Ok((found, failed))
    }
}

fn sized_from_row(row: &sqlx::postgres::PgRow) -> Result<(String, Sized), sqlx::Error> {
    Ok((
        row.try_get(0)?,
        Sized {
            allows_connections: row.try_get(1)?,
            may_connect: row.try_get(2)?,
            reads_all: row.try_get(3)?,
            size_mb: row.try_get(4)?,
        },
    ))
}

/// Why sizing one database failed, or the error when it is the session's.
fn failure(name: &str, e: sqlx::Error) -> Result<Unmeasured, Error> {
    let reason = match sqlstate(&e).as_deref() {
        Some(UNDEFINED_DATABASE) => UnmeasuredReason::Dropped,
        Some(INSUFFICIENT_PRIVILEGE) => UnmeasuredReason::Permission,
        Some(_) => UnmeasuredReason::Error,
        None => return Err(map_error(e)),
    };
    Ok(Unmeasured {
        name: name.to_string(),
        reason,
        detail: e.to_string(),
        grant: None,
    })
}

fn unique(targets: &[String]) -> impl Iterator<Item = &String> {
    let mut seen = BTreeSet::new();
    targets.iter().filter(move |t| seen.insert(t.as_str()))
}

/// A size for each target that has one, a reason for each that has not.
fn compose(
    targets: &[String],
    found: &BTreeMap<String, Sized>,
    role: &str,
    collected_at: DateTime<Utc>,
) -> Capacity {
    let mut capacity = Capacity::default();
    for name in unique(targets) {
        let Some(sized) = found.get(name) else {
            continue; // absent from the catalogue: dropped, reported below
        };
        match (sized.size_mb, sized.may_connect) {
            (Some(size_mb), _) => capacity.sizes.push(DatabaseSize {
                name: name.clone(),
                size_mb,
                data_size_mb: Some(size_mb),
                log_size_mb: None,
                method: SizeMethod::DatabaseSize,
                collected_at,
            }),
            (None, Some(false)) if !sized.reads_all => {
                capacity
                    .unmeasured
                    .push(denied(name, role, sized.allows_connections))
            }
            // Vanished since the snapshot, or no files left to measure.
            (None, _) => capacity.unmeasured.push(dropped(name)),
        }
    }
    let seen: BTreeSet<&str> = found.keys().map(String::as_str).collect();
    capacity.unmeasured.extend(
        unique(targets)
            .filter(|t| !seen.contains(t.as_str()))
            .map(|t| dropped(t)),
    );
    capacity
}

fn denied(name: &str, role: &str, allows_connections: bool) -> Unmeasured {
    let closed = if allows_connections {
        ""
    } else {
        " (it is closed to connections, which does not stop sizing it)"
    };
    let grant = connect_grant(name, role);
    Unmeasured {
        name: name.to_string(),
        reason: UnmeasuredReason::Permission,
        detail: format!(
            "role `{role}` may not size database `{name}`{closed}: {grant} \
             (or, for every database at once: {})",
            read_all_stats_grant(role)
        ),
        grant: Some(grant),
    }
}

fn dropped(name: &str) -> Unmeasured {
    Unmeasured {
        name: name.to_string(),
        reason: UnmeasuredReason::Dropped,
        detail: format!("database `{name}` no longer exists"),
        grant: None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sized(allows: bool, may: bool, size: Option<i64>) -> Sized {
        Sized {
            allows_connections: allows,
            may_connect: Some(may),
            reads_all: false,
            size_mb: size,
        }
    }

    #[test]
    fn each_target_gets_a_size_or_a_reason() {
        let targets: Vec<String> = [
            "open", "locked", "closed", "gone", "vanished", "racing", "open",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let found: BTreeMap<String, Sized> = [
            ("open", sized(true, true, Some(12))),
            ("locked", sized(true, false, None)),
            ("closed", sized(false, true, Some(3))),
            ("vanished", sized(true, true, None)),
            (
                "racing",
                Sized {
                    may_connect: None,
                    ..sized(true, false, None)
                },
            ),
        ]
        .into_iter()
        .map(|(n, s)| (n.to_string(), s))
        .collect();
        let c = compose(&targets, &found, "mon", Utc::now());
        let sizes: Vec<_> = c
            .sizes
            .iter()
            .map(|s| (s.name.as_str(), s.size_mb))
            .collect();
        assert_eq!(sizes, [("open", 12), ("closed", 3)]);
        assert!(c.sizes.iter().all(|s| s.method == SizeMethod::DatabaseSize));
        let reasons: Vec<_> = c
            .unmeasured
            .iter()
            .map(|u| (u.name.as_str(), u.reason))
            .collect();
        assert_eq!(
            reasons,
            [
                ("locked", UnmeasuredReason::Permission),
                ("vanished", UnmeasuredReason::Dropped),
                ("racing", UnmeasuredReason::Dropped),
                ("gone", UnmeasuredReason::Dropped),
            ]
        );
        let locked = &c.unmeasured[0];
        assert_eq!(
            locked.grant.as_deref(),
            Some(r#"GRANT CONNECT ON DATABASE "locked" TO "mon";"#)
        );
        assert!(locked
            .detail
            .contains(r#"GRANT pg_read_all_stats TO "mon";"#));
    }

    #[test]
    fn a_closed_database_the_role_may_not_size_says_both() {
        let found = [("shut".to_string(), sized(false, false, None))].into();
        let c = compose(&["shut".to_string()], &found, "mon", Utc::now());
        assert!(c.unmeasured[0].detail.contains("closed to connections"));
        assert_eq!(c.unmeasured[0].reason, UnmeasuredReason::Permission);
    }
}
