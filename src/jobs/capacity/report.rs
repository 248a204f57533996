//! What a capacity sync tells people about what it could not do: a warning
//! per database not measured and one for a partial inventory, or, when
//! nothing could be measured, the error that names the fix.
//!
//! Every message carries what a DBA acts on: the database, the reason, and
//! the statement that grants what is missing when that is the cause.

use std::collections::BTreeSet;

use crate::adapters::{Listing, Unmeasured, UnmeasuredReason};
use crate::message::capacity_sync::{Output, UnmeasuredDatabase, MAX_NAMED};
use crate::message::{ErrorClass, JobError, Warning};

/// Most distinct details an error message quotes.
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

/// "none of the N databases could be measured: <detail>; …", each distinct
/// detail once (without PROCESS, every database says the same).
fn summary(unmeasured: &[Unmeasured]) -> String {
    let mut seen = BTreeSet::new();
    let distinct: Vec<&str> = unmeasured
        .iter()
        .map(|u| u.detail.as_str())
        .filter(|d| seen.insert(*d))
        .collect();
    let quoted = distinct[..distinct.len().min(MAX_QUOTED)].join("; ");
    let more = distinct.len().saturating_sub(MAX_QUOTED);
    let more = if more > 0 {
        format!("; and {more} more")
    } else {
        String::new()
    };
    let n = unmeasured.len();
    let databases = if n == 1 { "database" } else { "databases" };
    format!("none of the {n} {databases} could be measured: {quoted}{more}")
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

    fn listing(complete: bool) -> Listing {
        Listing {
            databases: Vec::new(),
            complete,
            grant: (!complete).then(|| "GRANT SHOW DATABASES ON *.* TO 'm'@'%';".to_string()),
        }
    }

    #[test]
    fn missing_grants_fail_as_permission_and_name_them_once() {
        let process = "the account lacks PROCESS: GRANT PROCESS ON *.* TO 'm'@'%';";
        let gaps = [
            gap("a", UnmeasuredReason::Permission, process),
            gap("b", UnmeasuredReason::Permission, process),
        ];
        let e = nothing_measured(&gaps, &listing(true));
        assert_eq!(e.class, ErrorClass::Permission);
        assert_eq!(
            e.message,
            format!("none of the 2 databases could be measured: {process}")
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
