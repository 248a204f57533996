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
/// Kept to a conservative alphabet so it is safe in log lines, URLs and
/// shell scripts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct InstanceName(String);

#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "invalid instance name `{0}`: use 1 to 128 characters among letters, digits, `-`, `_` and `.`"
)]
pub struct InvalidInstanceName(pub String);

impl InstanceName {
    pub fn parse(raw: &str) -> Result<Self, InvalidInstanceName> {
        let ok = !raw.is_empty()
            && raw.len() <= 128
            && raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if ok {
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

#[cfg(test)]
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
        assert!(InstanceName::parse("prod-db_01.eu").is_ok());
        for bad in ["", "a b", "x;drop", "é", &"a".repeat(129)] {
            assert!(InstanceName::parse(bad).is_err(), "{bad}");
        }
    }
}
