//! Where an instance's password comes from.
//!
//! dbfleet never stores or sends a password: the store keeps a reference to
//! an environment variable or a mounted secret file, and each worker resolves
//! it in its own environment just before connecting (in Kubernetes, from the
//! worker's `Secret`). Resolved values are `SecretString`s, which neither
//! `Debug` nor `Display` reveal.

use std::path::PathBuf;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// A reference to a password, never the password itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "source", content = "ref", rename_all = "lowercase")]
pub enum PasswordRef {
    /// Connect with an empty password.
    None,
    /// The value of this environment variable.
    Env(String),
    /// The contents of this file, without a trailing newline.
    File(PathBuf),
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("password environment variable `{0}` is not set")]
    MissingEnv(String),
    #[error("cannot read password file `{path}`: {reason}")]
    File { path: String, reason: String },
    #[error("invalid password reference: {0}")]
    Invalid(String),
}

impl PasswordRef {
    /// Rebuild from the store's `(password_source, password_ref)` columns.
    pub fn from_parts(source: &str, reference: Option<&str>) -> Result<Self, Error> {
        match (source, reference) {
            ("none", None) => Ok(PasswordRef::None),
            ("env", Some(var)) => Ok(PasswordRef::Env(var.to_string())),
            ("file", Some(path)) => Ok(PasswordRef::File(PathBuf::from(path))),
            (other, _) => Err(Error::Invalid(format!("source `{other}`"))),
        }
    }

    /// The `(password_source, password_ref)` columns.
    pub fn to_parts(&self) -> (&'static str, Option<String>) {
        match self {
            PasswordRef::None => ("none", None),
            PasswordRef::Env(var) => ("env", Some(var.clone())),
            PasswordRef::File(path) => ("file", Some(path.display().to_string())),
        }
    }

    /// Check the shape of a reference given by an operator.
    pub fn env(var: &str) -> Result<Self, Error> {
        let ok = !var.is_empty()
            && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !var.starts_with(|c: char| c.is_ascii_digit());
        if ok {
            Ok(PasswordRef::Env(var.to_string()))
        } else {
            Err(Error::Invalid(format!(
                "`{var}` is not an environment variable name"
            )))
        }
    }

    /// Resolve the password in this process's environment.
    pub fn resolve(&self) -> Result<SecretString, Error> {
        match self {
            PasswordRef::None => Ok(SecretString::from(String::new())),
            PasswordRef::Env(var) => std::env::var(var)
                .map(SecretString::from)
                .map_err(|_| Error::MissingEnv(var.clone())),
            PasswordRef::File(path) => std::fs::read_to_string(path)
                .map(|text| SecretString::from(text.trim_end_matches(['\n', '\r']).to_string()))
                .map_err(|e| Error::File {
                    path: path.display().to_string(),
                    reason: e.kind().to_string(),
                }),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn parts_round_trip() {
        for r in [
            PasswordRef::None,
            PasswordRef::Env("DB_PASS".into()),
            PasswordRef::File("/run/secrets/db".into()),
        ] {
            let (source, reference) = r.to_parts();
            assert_eq!(
                PasswordRef::from_parts(source, reference.as_deref()).unwrap(),
                r
            );
        }
        assert!(PasswordRef::from_parts("plain", Some("hunter2")).is_err());
    }

    #[test]
    fn file_password_drops_trailing_newline_and_errors_hide_content() {
        let dir = std::env::temp_dir().join(format!("dbfleet-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("pw");
        std::fs::write(&file, "s3cr et\n").unwrap();
        let got = PasswordRef::File(file.clone()).resolve().unwrap();
        assert_eq!(got.expose_secret(), "s3cr et");
        assert!(!format!("{got:?}").contains("s3cr"));
        let missing = PasswordRef::File(dir.join("nope")).resolve().unwrap_err();
        assert!(missing.to_string().contains("nope"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn env_names_are_checked() {
        assert!(PasswordRef::env("PG_PASSWORD_1").is_ok());
        for bad in ["", "1X", "A-B", "A B", "$X"] {
            assert!(PasswordRef::env(bad).is_err(), "{bad}");
        }
    }
}
