//! What a capacity sync tells people about what it could not do: a warning
//! per database not measured and one for a partial inventory, or, when
//! nothing could be measured, the error that names the fix.
//!
//! Every message carries what a DBA acts on: the database, the reason, and
//! the statement that grants what is missing when that is the cause.

use std::collections::BTreeMap;

use crate::adapters::{Listing, Unmeasured, UnmeasuredReason};
use crate::message::capacity_sync::{Output, UnmeasuredDatabase, MAX_NAMED};
use crate::message::{ErrorClass, JobError, Warning};

/// Most database names an error message quotes per reason.
const MAX_QUOTED: usize = 5;

/// Count the databases not measured, and name the first [`MAX_NAMED`].
pub(super) fn record_unmeasured(output: &mut Output, unmeasured: &[Unmeasured]) {
    output.unmeasured = u32::try_from(unmeasured.len()).unwrap_or(u32::MAX);
    let mut named: Vec<UnmeasuredDatabase> = unmeasured
        .iter()
        .map(|u| UnmeasuredDatabase {
            database: u.name.clone(),
            reason: u.reason.as_str().to_string(),
            detail: u.detail.clone(),
        })
        .collect();
    named.sort_by(|a, b| a.database.cmp(&b.database));
    named.truncate(MAX_NAMED);
    output.unmeasured_databases = named;
}

/// One `not_measured` warning per named database (and one for the rest),
/// and a `partial_inventory` warning when the account cannot see every
/// database.
pub(super) fn warnings(output: &Output) -> Vec<Warning> {
    let mut warnings = Vec::new();
    if output.inventory.partial {
        let fix = output
            .inventory_grant
            .as_ref()
            .map(|g| format!(": {g}"))
            .unwrap_or_default();
        warnings.push(Warning {
            code: "partial_inventory".to_string(),
            message: format!(
                "the account cannot see every database, so none was marked dropped \
                 ({} kept without being seen){fix}",
                output.inventory.unseen
            ),
        });
    }
    for u in &output.unmeasured_databases {
        warnings.push(Warning {
            code: "not_measured".to_string(),
            message: format!("`{}` not measured ({}): {}", u.database, u.reason, u.detail),
        });
    }
    let rest = (output.unmeasured as usize).saturating_sub(output.unmeasured_databases.len());
    if rest > 0 {
        warnings.push(Warning {
            code: "not_measured".to_string(),
            message: format!("and {rest} more databases not measured (see the day's records)"),
        });
    }
    warnings
}

/// The failure of a run that measured nothing although there was
/// something to measure: `permission` when every database lacked a grant
/// (or the account sees none), `query` otherwise.
pub(super) fn nothing_measured(unmeasured: &[Unmeasured], listing: &Listing) -> JobError {
    let grants_only = unmeasured.iter().all(|u| {
        matches!(
            u.reason,
            UnmeasuredReason::Permission | UnmeasuredReason::NotVisible
        )
    });
    let class = if grants_only {
        ErrorClass::Permission
    } else {
        ErrorClass::Query
    };
    if unmeasured.is_empty() {
        let fix = listing
            .grant
            .as_ref()
            .map(|g| format!(": {g}"))
            .unwrap_or_default();
        let message =
            format!("the account sees no database to measure, and cannot see every database{fix}");
        return JobError::new(class, message);
    }
    JobError::new(class, summary(unmeasured))
}

/// "none of the N databases could be measured: " and, per reason and fix,
/// the databases and what to do: their detail when they all share it
/// (without PROCESS, every database says the same), else their grant.
fn summary(unmeasured: &[Unmeasured]) -> String {
    let mut groups: BTreeMap<(UnmeasuredReason, Option<&str>), Vec<&Unmeasured>> = BTreeMap::new();
    for u in unmeasured {
        groups
            .entry((u.reason, u.grant.as_deref()))
            .or_default()
            .push(u);
    }
    let parts: Vec<String> = groups
        .into_iter()
        .map(|((reason, grant), members)| {
            let names = quoted_names(&members);
            let reason = reason.as_str();
            let first = members[0].detail.as_str();
            let shared = members.iter().all(|m| m.detail == first);
            match grant {
                _ if shared => format!("{names} ({reason}): {first}"),
                Some(grant) => format!("{names} ({reason}): {grant}"),
                None => format!("{names} ({reason})"),
            }
        })
        .collect();
    let n = unmeasured.len();
    let databases = if n == 1 { "database" } else { "databases" };
    format!(
        "none of the {n} {databases} could be measured: {}",
        parts.join(" | ")
    )
}

/// "`a`, `b`, `c`" (at most [`MAX_QUOTED`] names, then "and N more").
fn quoted_names(members: &[&Unmeasured]) -> String {
    let shown: Vec<String> = members
        .iter()
        .take(MAX_QUOTED)
        .map(|u| format!("`{}`", u.name))
        .collect();
    let more = members.len().saturating_sub(MAX_QUOTED);
    if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gap(name: &str, reason: UnmeasuredReason, detail: &str) -> Unmeasured {
        Unmeasured {
            name: name.to_string(),
            reason,
            detail: detail.to_string(),
            grant: None,
        }
    }

    fn granted(name: &str, grant: &str) -> Unmeasured {
        Unmeasured {
            grant: Some(grant.to_string()),
            ..gap(
                name,
                UnmeasuredReason::Permission,
                &format!("{name}: {grant}"),
            )
        }
    }

    fn listing(complete: bool) -> Listing {
        Listing {
            databases: Vec::new(),
            complete,
            grant: (!complete).then(|| "GRANT SHOW DATABASES ON *.* TO 'm'@'%';".to_string()),
        }
    }

    #[test]
    fn missing_grants_fail_as_permission_and_name_them_once() {
        let process = "GRANT PROCESS ON *.* TO 'm'@'%';";
        let gaps: Vec<Unmeasured> = ["a", "b", "c", "d", "e", "f", "g"]
            .iter()
            .map(|n| granted(n, process))
            .collect();
        let lacks = format!("1227: lacks PROCESS: {process}");
        let same: Vec<Unmeasured> = gaps
            .iter()
            .map(|g| Unmeasured {
                detail: lacks.clone(),
                ..g.clone()
            })
            .collect();
        let e = nothing_measured(&same[..2], &listing(true));
        assert_eq!(
            e.message,
            format!("none of the 2 databases could be measured: `a`, `b` (permission): {lacks}")
        );
        let e = nothing_measured(&gaps, &listing(true));
        assert_eq!(e.class, ErrorClass::Permission);
        assert_eq!(
            e.message,
            format!(
                "none of the 7 databases could be measured: \
                 `a`, `b`, `c`, `d`, `e` and 2 more (permission): {process}"
            )
        );
        let one = nothing_measured(&gaps[..1], &listing(true));
        assert_eq!(
            one.message,
            format!("none of the 1 database could be measured: `a` (permission): a: {process}")
        );
        let two_grants = [granted("a", "GRANT X;"), granted("b", "GRANT Y;")];
        let e = nothing_measured(&two_grants, &listing(true));
        assert_eq!(
            e.message,
            "none of the 2 databases could be measured: \
             `a` (permission): a: GRANT X; | `b` (permission): b: GRANT Y;"
        );
        let mixed = [
            gap("a", UnmeasuredReason::Permission, "p"),
            gap("b", UnmeasuredReason::Dropped, "d"),
        ];
        assert_eq!(
            nothing_measured(&mixed, &listing(true)).class,
            ErrorClass::Query
        );
        let none = nothing_measured(&[], &listing(false));
        assert_eq!(none.class, ErrorClass::Permission);
        assert!(none
            .message
            .contains("GRANT SHOW DATABASES ON *.* TO 'm'@'%';"));
    }

    #[test]
    fn each_unmeasured_database_is_a_warning_and_the_rest_one_more() {
        let mut output = Output::default();
        let gaps: Vec<Unmeasured> = (0..MAX_NAMED + 3)
            .map(|i| gap(&format!("db{i:03}"), UnmeasuredReason::Dropped, "gone"))
            .collect();
        record_unmeasured(&mut output, &gaps);
        assert_eq!(output.unmeasured as usize, MAX_NAMED + 3);
        assert_eq!(output.unmeasured_databases.len(), MAX_NAMED);
        let w = warnings(&output);
        assert_eq!(w.len(), MAX_NAMED + 1);
        assert_eq!(w[0].message, "`db000` not measured (dropped): gone");
        assert!(w[MAX_NAMED].message.starts_with("and 3 more"), "{w:?}");
        assert!(w.iter().all(|w| w.code == "not_measured"));
    }

    #[test]
    fn a_partial_inventory_is_a_warning_naming_the_grant() {
        let mut output = Output::default();
        output.inventory.partial = true;
        output.inventory.unseen = 2;
        output.inventory_grant = Some("GRANT SHOW DATABASES ON *.* TO 'm'@'%';".into());
        let w = warnings(&output);
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].code, "partial_inventory");
        assert!(w[0].message.contains("2 kept without being seen"), "{w:?}");
        assert!(w[0].message.contains("GRANT SHOW DATABASES"), "{w:?}");
        assert!(warnings(&Output::default()).is_empty());
    }
}
