//! TLS keys of the configuration: an instance's `tls_mode` and certificate
//! files, the fleet-wide default mode (`instance_defaults.tls_mode`), and
//! the broker's `broker.tls` files.
//!
//! Every file is a path: the certificate or key itself never enters the
//! configuration, the store or a message, and a problem names the key, not
//! the file's contents.

use std::path::PathBuf;

use super::section::Section;
use super::BrokerTls;
use crate::domain::DbType;
use crate::tls::{TlsMode, TlsSettings};

/// The `instance_defaults` section: what an instance that does not say
/// gets. Its `tls_mode` accepts either engine's words.
pub(super) fn default_tls_mode(s: &mut Section<'_>) -> TlsMode {
    let Some(raw) = s.non_empty_string("tls_mode") else {
        return TlsMode::default();
    };
    TlsMode::parse_any(&raw).unwrap_or_else(|problem| {
        s.error("tls_mode", &problem);
        TlsMode::default()
    })
}

/// An instance's `tls_mode` (in its engine's words; `default` when absent)
/// and `tls_ca_file`, `tls_cert_file`, `tls_key_file`. Without a known
/// engine the mode cannot be read, so only the files are.
pub(super) fn instance_tls(
    s: &mut Section<'_>,
    engine: Option<DbType>,
    default: TlsMode,
) -> TlsSettings {
    let raw_mode = s.non_empty_string("tls_mode");
    let mode = match (raw_mode, engine) {
        (Some(raw), Some(engine)) => TlsMode::parse(engine, &raw).unwrap_or_else(|problem| {
            s.error("tls_mode", &problem);
            default
        }),
        _ => default,
    };
    let tls = TlsSettings {
        mode,
        ca_file: s.non_empty_string("tls_ca_file").map(PathBuf::from),
        cert_file: s.non_empty_string("tls_cert_file").map(PathBuf::from),
        key_file: s.non_empty_string("tls_key_file").map(PathBuf::from),
    };
    for (key, problem) in tls.problems() {
        s.error(key, problem);
    }
    tls
}

/// `broker.tls`: the CA that signs the broker's certificate (besides the
/// system's), and a client certificate with its key for brokers that ask
/// for one. Used by `amqps://` URLs only.
pub(super) fn broker_tls(s: &mut Section<'_>) -> BrokerTls {
    let tls = BrokerTls {
        ca_file: s.non_empty_string("ca_file").map(PathBuf::from),
        cert_file: s.non_empty_string("cert_file").map(PathBuf::from),
        key_file: s.non_empty_string("key_file").map(PathBuf::from),
    };
    match (&tls.cert_file, &tls.key_file) {
        (Some(_), None) => s.error("key_file", "required with `cert_file`"),
        (None, Some(_)) => s.error("cert_file", "required with `key_file`"),
        _ => {}
    }
    tls
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use crate::config::load_from_str;
    use crate::config::test_support::{errors, vars, SOURCE};
    use crate::tls::TlsMode;

    #[test]
    fn modes_default_from_the_fleet_and_read_in_each_engine_s_words() {
        let text = "
instance_defaults: {tls_mode: verify_identity}
instances:
  - {name: a, engine: pg, host: h, username: u}
  - {name: b, engine: mariadb, host: h, username: u, tls_mode: verify_ca,
     tls_ca_file: /etc/ca.pem, tls_cert_file: /etc/c.pem, tls_key_file: /etc/k.pem}
  - {name: c, engine: pg, host: h, username: u, tls_mode: Disable}
";
        let s = load_from_str(SOURCE, text, vec![]).unwrap();
        let modes: Vec<TlsMode> = s.instances.iter().map(|i| i.tls.mode).collect();
        assert_eq!(
            modes,
            [TlsMode::VerifyFull, TlsMode::VerifyCa, TlsMode::Disable]
        );
        assert_eq!(
            s.instances[1].tls.key_file.as_deref(),
            Some(std::path::Path::new("/etc/k.pem"))
        );
        let plain = load_from_str(SOURCE, "instances: []\n", vec![]).unwrap();
        assert_eq!(plain.instance_tls_mode, TlsMode::Prefer);
    }

    #[test]
    fn the_fleet_default_and_the_broker_files_come_from_the_environment_too() {
        let text = "instances:\n  - {name: a, engine: mysql, host: h, username: u}\n";
        let env = vars(&[
            ("DBFLEET__INSTANCE_DEFAULTS__TLS_MODE", "required"),
            ("DBFLEET__BROKER__TLS__CA_FILE", "/etc/dbfleet/tls/ca.pem"),
        ]);
        let s = load_from_str(SOURCE, text, env).unwrap();
        assert_eq!(s.instance_tls_mode, TlsMode::Require);
        assert_eq!(s.instances[0].tls.mode, TlsMode::Require);
        assert_eq!(
            s.broker.tls.ca_file.as_deref(),
            Some(std::path::Path::new("/etc/dbfleet/tls/ca.pem"))
        );
    }

    #[test]
    fn a_mode_of_the_other_engine_is_named_with_the_allowed_words() {
        let text = "
instance_defaults: {tls_mode: strict}
instances:
  - {name: a, engine: mysql, host: h, username: u, tls_mode: verify-full}
  - {name: b, engine: pg, host: h, username: u, tls_cert_file: /c.pem}
broker: {tls: {key_file: /k.pem}}
";
        let found: Vec<(String, String)> = errors(text, vec![])
            .into_iter()
            .map(|e| (e.key, e.problem))
            .collect();
        let keys: Vec<&str> = found.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "instance_defaults.tls_mode",
                "broker.tls.cert_file",
                "instances[0].tls_mode",
                "instances[1].tls_key_file"
            ],
            "{found:#?}"
        );
        assert_eq!(
            found[2].1,
            "instance `a`: unknown TLS mode `verify-full` for mysql; expected one of \
             disabled, preferred, required, verify_ca, verify_identity"
        );
    }
}
