//! How a connection to an instance is protected: a TLS mode in each
//! engine's own words, and the files that hold the certificates.
//!
//! Only file *references* live here (like a password reference): the store,
//! messages and logs carry paths, and the certificate and key material is
//! read by the driver on the worker that connects. Pure: no IO.
//!
//! Both engines have the same five levels under different names, so the
//! program keeps one [`TlsMode`] and spells it for the engine wherever an
//! operator reads or writes it. The canonical names (stored, sent in jobs)
//! are PostgreSQL's; either vocabulary is accepted where the engine is not
//! known (the fleet-wide default).

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::domain::DbType;

/// How much of TLS a connection insists on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TlsMode {
    /// Never TLS.
    Disable,
    /// TLS when the server offers it, in clear otherwise; the certificate
    /// is not checked.
    #[default]
    Prefer,
    /// TLS or nothing; the certificate is not checked.
    Require,
    /// TLS, and the certificate chains to a trusted CA; the name is not
    /// checked.
    VerifyCa,
    /// TLS, a trusted certificate, and it names the host dbfleet dialled.
    VerifyFull,
}

impl TlsMode {
    pub const ALL: [TlsMode; 5] = [
        TlsMode::Disable,
        TlsMode::Prefer,
        TlsMode::Require,
        TlsMode::VerifyCa,
        TlsMode::VerifyFull,
    ];

    /// The canonical name (PostgreSQL's `sslmode` word).
    pub fn as_str(self) -> &'static str {
        self.name(DbType::Postgresql)
    }

    /// The engine's own word: PostgreSQL `sslmode`, MySQL/MariaDB
    /// `--ssl-mode`.
    pub fn name(self, engine: DbType) -> &'static str {
        match (engine, self) {
            (DbType::Postgresql, TlsMode::Disable) => "disable",
            (DbType::Postgresql, TlsMode::Prefer) => "prefer",
            (DbType::Postgresql, TlsMode::Require) => "require",
            (DbType::Postgresql, TlsMode::VerifyCa) => "verify-ca",
            (DbType::Postgresql, TlsMode::VerifyFull) => "verify-full",
            (DbType::Mysql, TlsMode::Disable) => "disabled",
            (DbType::Mysql, TlsMode::Prefer) => "preferred",
            (DbType::Mysql, TlsMode::Require) => "required",
            (DbType::Mysql, TlsMode::VerifyCa) => "verify_ca",
            (DbType::Mysql, TlsMode::VerifyFull) => "verify_identity",
        }
    }

    /// The engine's words, as an error lists them.
    pub fn allowed(engine: DbType) -> String {
        let names: Vec<&str> = Self::ALL.iter().map(|m| m.name(engine)).collect();
        names.join(", ")
    }

    /// A mode in the engine's own vocabulary (any case); the error lists
    /// the words it accepts.
    pub fn parse(engine: DbType, raw: &str) -> Result<Self, String> {
        let wanted = raw.trim().to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|m| m.name(engine) == wanted)
            .ok_or_else(|| {
                format!(
                    "unknown TLS mode `{raw}` for {engine}; expected one of {}",
                    Self::allowed(engine)
                )
            })
    }

    /// A mode in either engine's vocabulary, for settings that apply to
    /// both (the fleet-wide default).
    pub fn parse_any(raw: &str) -> Result<Self, String> {
        Self::parse(DbType::Postgresql, raw)
            .or_else(|_| Self::parse(DbType::Mysql, raw))
            .map_err(|_| {
                format!(
                    "unknown TLS mode `{raw}`; expected one of {} (or {})",
                    Self::allowed(DbType::Postgresql),
                    Self::allowed(DbType::Mysql)
                )
            })
    }

    /// The server's certificate is checked against a trusted CA.
    pub fn verifies_certificate(self) -> bool {
        matches!(self, TlsMode::VerifyCa | TlsMode::VerifyFull)
    }

    /// The connection may go in clear.
    pub fn allows_clear(self) -> bool {
        matches!(self, TlsMode::Disable | TlsMode::Prefer)
    }
}

impl fmt::Display for TlsMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for TlsMode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for TlsMode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse_any(&raw).map_err(serde::de::Error::custom)
    }
}

/// An instance's TLS settings: the mode and where the certificates are.
/// Paths only; the files are read by the driver when it connects.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsSettings {
    pub mode: TlsMode,
    /// PEM file of the CA certificates that sign the server's certificate;
    /// trusted besides the public web roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// PEM file of the client certificate, for servers that require one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<PathBuf>,
    /// PEM file of the client certificate's private key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
}

impl TlsSettings {
    /// The mode alone, no files.
    pub fn mode(mode: TlsMode) -> Self {
        Self {
            mode,
            ..Self::default()
        }
    }

    /// What is inconsistent, as `(key, problem)` pairs: a certificate
    /// without its key (or the reverse), files given with `disable`.
    pub fn problems(&self) -> Vec<(&'static str, &'static str)> {
        let mut found = Vec::new();
        match (&self.cert_file, &self.key_file) {
            (Some(_), None) => found.push(("tls_key_file", "required with `tls_cert_file`")),
            (None, Some(_)) => found.push(("tls_cert_file", "required with `tls_key_file`")),
            _ => {}
        }
        let has_files =
            self.ca_file.is_some() || self.cert_file.is_some() || self.key_file.is_some();
        if self.mode == TlsMode::Disable && has_files {
            found.push((
                "tls_mode",
                "certificate files are given but TLS is disabled; remove them or choose a mode \
                 that uses TLS",
            ));
        }
        found
    }
}

/// What a failed TLS handshake means, in the words an operator searches
/// for; `None` when the driver's text names no certificate problem. Reads
/// the text of rustls' certificate errors, which every driver here wraps.
pub fn certificate_problem(text: &str) -> Option<&'static str> {
    let checks: [(&str, &str); 6] = [
        (
            "UnknownIssuer",
            "unknown CA: the certificate is not signed by a trusted CA (check `ca_file`)",
        ),
        ("certificate expired", "the certificate has expired"),
        ("Expired", "the certificate has expired"),
        (
            "not valid for name",
            "name mismatch: the certificate does not name this host",
        ),
        (
            "NotValidForName",
            "name mismatch: the certificate does not name this host",
        ),
        (
            "certificate not valid yet",
            "the certificate is not valid yet",
        ),
    ];
    checks
        .iter()
        .find(|(needle, _)| text.contains(needle))
        .map(|(_, meaning)| *meaning)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn each_engine_has_its_own_words() {
        for mode in TlsMode::ALL {
            for engine in DbType::ALL {
                assert_eq!(TlsMode::parse(engine, mode.name(engine)).unwrap(), mode);
            }
            assert_eq!(TlsMode::parse_any(mode.name(DbType::Mysql)).unwrap(), mode);
        }
        assert_eq!(
            TlsMode::parse(DbType::Mysql, " VERIFY_IDENTITY ").unwrap(),
            TlsMode::VerifyFull
        );
        let e = TlsMode::parse(DbType::Mysql, "verify-full").unwrap_err();
        assert_eq!(
            e,
            "unknown TLS mode `verify-full` for mysql; expected one of disabled, preferred, \
             required, verify_ca, verify_identity"
        );
        let e = TlsMode::parse(DbType::Postgresql, "required").unwrap_err();
        assert!(
            e.contains("disable, prefer, require, verify-ca, verify-full"),
            "{e}"
        );
        assert!(TlsMode::parse_any("strict").is_err());
    }

    #[test]
    fn serde_writes_canonical_names_and_reads_both() {
        let json = serde_json::to_string(&TlsMode::VerifyFull).unwrap();
        assert_eq!(json, "\"verify-full\"");
        let back: TlsMode = serde_json::from_str("\"verify_identity\"").unwrap();
        assert_eq!(back, TlsMode::VerifyFull);
    }

    #[test]
    fn inconsistent_files_are_named() {
        let mut s = TlsSettings::mode(TlsMode::Disable);
        assert!(s.problems().is_empty());
        s.cert_file = Some("/c.pem".into());
        let keys: Vec<&str> = s.problems().iter().map(|p| p.0).collect();
        assert_eq!(keys, ["tls_key_file", "tls_mode"]);
    }

    #[test]
    fn certificate_problems_in_plain_words() {
        fn check(text: &str, expected: Option<&str>) {
            let got = certificate_problem(text).map(|m| m.split(':').next().unwrap_or(m));
            assert_eq!(got, expected, "{text}");
        }
        check(
            "invalid peer certificate: UnknownIssuer",
            Some("unknown CA"),
        );
        check(
            "invalid peer certificate: certificate not valid for name \"127.0.0.1\"; ...",
            Some("name mismatch"),
        );
        check(
            "invalid peer certificate: certificate expired: verification time 1",
            Some("the certificate has expired"),
        );
        check("connection refused", None);
    }
}
