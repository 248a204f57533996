//! The values of flags, parsed and checked as clap reads them: a bad one
//! is a usage error (exit 2) that says what was expected.

use clap::builder::{PossibleValuesParser, TypedValueParser};
use dbfleet::import::Format;
use dbfleet::labels::{Labels, Selector};
use dbfleet::message::JobKind;
use dbfleet::secret::PasswordRef;

/// `--kind`: any kind this build knows, by its wire name.
pub(super) fn kind() -> impl TypedValueParser<Value = JobKind> {
    let names = JobKind::ALL.iter().map(|k| k.as_str());
    PossibleValuesParser::new(names)
        .try_map(|name: String| JobKind::parse(&name).ok_or("unknown kind"))
}

/// `--selector`: a label selector, its error naming the column.
pub(super) fn selector(value: &str) -> Result<Selector, String> {
    Selector::parse(value).map_err(|e| e.to_string())
}

/// `--label KEY=VALUE`: one label, checked as the configuration checks it.
pub(super) fn label(value: &str) -> Result<Labels, String> {
    Labels::parse_pairs([value]).map_err(|problems| problems.join("; "))
}

/// `--limit`: how many rows a listing shows, 1 to 10 000.
pub(super) fn limit() -> clap::builder::RangedI64ValueParser<i64> {
    clap::value_parser!(i64).range(1..=10_000)
}

/// A value that must say something (`--host`, `--username`): clap turns
/// the error into `invalid value '' for '--host <HOST>'`, exit code 2.
pub(super) fn non_empty(value: &str) -> Result<String, String> {
    if value.trim().is_empty() {
        return Err("must not be empty".to_string());
    }
    Ok(value.to_string())
}

/// `--password-env`: the name of an environment variable, checked here so
/// a typo is a usage error rather than a worker that cannot connect.
pub(super) fn env_var_name(value: &str) -> Result<String, String> {
    PasswordRef::env(value)
        .map(|_| value.to_string())
        .map_err(|_| {
            "not an environment variable name (letters, digits and `_`, not starting \
             with a digit)"
                .to_string()
        })
}

/// `--format`: csv or yaml.
pub(super) fn format() -> impl TypedValueParser<Value = Format> {
    PossibleValuesParser::new(Format::NAMES)
        .try_map(|name: String| Format::parse(&name).ok_or("unknown format"))
}

/// A `--spread` window: a humantime duration of at least one second.
pub(super) fn window(raw: &str) -> Result<std::time::Duration, String> {
    let max = dbfleet::fleet::spread::MAX_WINDOW;
    match humantime::parse_duration(raw) {
        Ok(d) if d > max => Err(format!(
            "must be at most {}",
            humantime::format_duration(max)
        )),
        Ok(d) if d >= std::time::Duration::from_secs(1) => Ok(d),
        Ok(_) => Err("must be at least 1s".to_string()),
        Err(e) => Err(format!("expected a duration such as `30m` or `2h`: {e}")),
    }
}

/// `--params`: a JSON object (checked against the kind once both are known).
pub(super) fn params(value: &str) -> Result<serde_json::Value, String> {
    match serde_json::from_str(value) {
        Ok(object @ serde_json::Value::Object(_)) => Ok(object),
        Ok(_) => Err("must be a JSON object, e.g. '{\"period\":\"monthly\"}'".to_string()),
        Err(e) => Err(format!("not JSON: {e}")),
    }
}
