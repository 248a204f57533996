//! `probe`: can dbfleet do its work on one instance? It connects, reads what
//! the server says about itself, and checks every privilege dbfleet needs,
//! naming the statement that adds each missing one.
//!
//! A probe that connects succeeds; a missing privilege is a warning on a
//! succeeded job, so `dbfleet instance check` can list every problem of a
//! fleet in one run.

use serde::{Deserialize, Serialize};

/// No parameters: the instance is the job's target.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Params {}

/// Which server answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Flavor {
    Mysql,
    Mariadb,
    Postgresql,
}

impl Flavor {
    pub fn as_str(self) -> &'static str {
        match self {
            Flavor::Mysql => "mysql",
            Flavor::Mariadb => "mariadb",
            Flavor::Postgresql => "postgresql",
        }
    }
}

/// One privilege dbfleet needs, and whether the account holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Privilege {
    /// `PROCESS`, `SHOW DATABASES`, `CONNECT`, `pg_read_all_stats`.
    pub privilege: String,
    /// The database it applies to; absent for global privileges and roles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    pub granted: bool,
    /// False for an alternative that is not needed when the others are
    /// granted (PostgreSQL's `pg_read_all_stats` replaces `CONNECT` on each
    /// database).
    pub required: bool,
    /// Why dbfleet needs it.
    pub needed_for: String,
    /// The statement that adds it, ready to paste.
    pub grant: String,
}

/// How the probe's own connection was protected: what every job on this
/// instance gets, since they all connect with the same settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Security {
    /// The instance's TLS mode, in its engine's words (`verify-full`,
    /// `verify_identity`).
    pub tls_mode: String,
    /// The session is encrypted.
    pub encrypted: bool,
    /// `TLSv1.3`, as the server reports it; absent in clear.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_version: Option<String>,
    /// `TLS_AES_256_GCM_SHA384`; absent in clear.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cipher: Option<String>,
    /// The server's certificate chains to a trusted CA: the mode checks it
    /// (`verify-ca`/`verify_ca` and above) and the handshake succeeded.
    pub certificate_verified: bool,
    /// The certificate also names the host dialled (`verify-full`,
    /// `verify_identity`).
    pub host_verified: bool,
}

/// What a probe found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Output {
    pub flavor: Flavor,
    /// The server's version string, as it reports it.
    pub version: String,
    /// Seconds since the server started, when the account may read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uptime_seconds: Option<u64>,
    /// The server accepts no writes (a replica, a standby, `read_only`).
    pub read_only: bool,
    /// The account as the server sees it.
    pub account: String,
    /// Equal for two instances that are the same server, whatever address
    /// reaches it: MySQL `@@server_uuid`, MariaDB `@@server_uid`,
    /// PostgreSQL's `system_identifier` with the postmaster's start time,
    /// each with the port. Absent when the server does not tell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_identity: Option<String>,
    pub privileges: Vec<Privilege>,
    /// The connection's TLS; absent in results of workers that predate it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security: Option<Security>,
}

impl Output {
    /// The required privileges the account lacks.
    pub fn missing(&self) -> impl Iterator<Item = &Privilege> {
        self.privileges.iter().filter(|p| p.required && !p.granted)
    }
}
