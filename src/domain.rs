//! Validated identifiers and names shared by every layer.
//!
//! Parse, don't validate: values enter the program through these types at the
//! boundary (CLI, configuration, messages, store rows) and inner functions take
//! them as proof that the checks were made.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Primary key of an `instances` row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct InstanceId(pub i64);

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Identifier of one job; it is also the AMQP `message_id`, so a redelivered
/// job is recognised as the same job everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(pub Uuid);

impl JobId {
    /// Time-ordered ids keep `batch_jobs` inserts append-mostly.
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }
}

impl Default for JobId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Identifier of one batch; the AMQP `correlation_id` of its jobs and results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BatchId(pub Uuid);

impl BatchId {
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }
}

impl Default for BatchId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for BatchId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for BatchId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s.trim()).map(Self)
    }
}

/// The database engines dbfleet can talk to.
///
/// Stored and sent in canonical lower-case form; the filter file is keyed by
/// the same strings, so `mariadb` and `postgres` are folded on the way in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DbType {
    Mysql,
    Postgresql,
}

impl DbType {
    pub const ALL: [DbType; 2] = [DbType::Mysql, DbType::Postgresql];

    pub fn as_str(self) -> &'static str {
        match self {
            DbType::Mysql => "mysql",
            DbType::Postgresql => "postgresql",
        }
    }

    pub fn default_port(self) -> u16 {
        match self {
            DbType::Mysql => 3306,
            DbType::Postgresql => 5432,
        }
    }
}

impl fmt::Display for DbType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An engine name that is not one of [`DbType::ALL`] (or a known alias).
#[derive(Debug, Clone, thiserror::Error)]
#[error("unsupported database type `{0}` (expected mysql or postgresql)")]
pub struct UnknownDbType(pub String);

impl FromStr for DbType {
    type Err = UnknownDbType;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "mysql" | "mariadb" => Ok(DbType::Mysql),
            "postgresql" | "postgres" | "pg" => Ok(DbType::Postgresql),
            _ => Err(UnknownDbType(s.to_string())),
        }
    }
}

/// A name for an instance: what operators type on the command line.
///
/// Letters and digits of any script (`订单库`, `база-1`), plus `-`, `_` and
/// `.`: operators name servers in their own language. Nothing else, so a
/// name is one shell word and one token in a log line or a URL path: no
/// white space, no control or format characters (which could hide in a
/// name that looks like another), no quotes, slashes or other punctuation.
/// At most 128 characters, as the store's column.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct InstanceName(String);

#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "invalid instance name `{0}`: use 1 to 128 characters among letters and digits (of any \
     script), `-`, `_` and `.`; no spaces or other punctuation"
)]
pub struct InvalidInstanceName(pub String);

/// Longest name, in characters (the store's `VARCHAR(128)`).
const MAX_NAME_CHARS: usize = 128;

impl InstanceName {
    pub fn parse(raw: &str) -> Result<Self, InvalidInstanceName> {
        if is_name(raw) {
            Ok(Self(raw.to_string()))
        } else {
            Err(InvalidInstanceName(raw.to_string()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for InstanceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for InstanceName {
    type Err = InvalidInstanceName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// The rule of every name operators type (see [`InstanceName`]).
fn is_name(raw: &str) -> bool {
    !raw.is_empty()
        && raw.chars().count() <= MAX_NAME_CHARS
        && raw
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The name of a credential that instances share (`credentials:` in the
/// configuration): the rules of an [`InstanceName`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CredentialName(String);

#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "invalid credential name `{0}`: use 1 to 128 characters among letters and digits (of any \
     script), `-`, `_` and `.`"
)]
pub struct InvalidCredentialName(pub String);

impl CredentialName {
    pub fn parse(raw: &str) -> Result<Self, InvalidCredentialName> {
        if is_name(raw) {
            Ok(Self(raw.to_string()))
        } else {
            Err(InvalidCredentialName(raw.to_string()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CredentialName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for CredentialName {
    type Err = InvalidCredentialName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn db_type_folds_aliases() {
        for (raw, want) in [
            ("mysql", DbType::Mysql),
            (" MariaDB ", DbType::Mysql),
            ("postgres", DbType::Postgresql),
            ("PG", DbType::Postgresql),
            ("postgresql", DbType::Postgresql),
        ] {
            assert_eq!(raw.parse::<DbType>().ok(), Some(want), "{raw}");
        }
        assert!("oracle".parse::<DbType>().is_err());
    }

    #[test]
    fn instance_names_are_checked() {
        let longest = "库".repeat(128);
        for good in [
            "prod-db_01.eu",
            "订单库",
            "订单库-主.01",
            "база_данных",
            "café",
            "é",
            "٣٤",
            longest.as_str(),
        ] {
            assert!(InstanceName::parse(good).is_ok(), "{good}");
        }
        let too_long = "a".repeat(129);
        for bad in [
            "",
            "a b",
            "订单 库",
            "a\u{3000}b",
            "x;drop",
            "a/b",
            "a'b",
            "a\tb",
            "a\u{200b}b",
            "a\u{202e}b",
            "e\u{301}",
            "«a»",
            too_long.as_str(),
        ] {
            let err = InstanceName::parse(bad).unwrap_err();
            assert!(err.to_string().contains("any script"), "{err}");
        }
    }
}
