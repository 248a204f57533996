//! Certificates of one test's own, made with the `openssl` command in a
//! fresh temporary directory that is deleted on drop: a CA, a server
//! certificate it signs for `127.0.0.1` and `localhost`, the same expired
//! since yesterday, a client certificate it signs, and a second CA that
//! signs nothing here (the "wrong CA" of a refused handshake).
//!
//! Keys are P-256: quick to make, and both rustls and the servers' OpenSSL
//! take them.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::tag;

pub struct Pki {
    pub dir: PathBuf,
}

impl Pki {
    pub fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("dbft-pki-{}", tag()));
        std::fs::create_dir_all(&dir).unwrap();
        let pki = Self { dir };
        pki.ca("ca", "dbfleet test CA");
        pki.ca("other-ca", "dbfleet unrelated CA");
        let server = "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n";
        pki.leaf("server", "localhost", server, "2");
        // Valid from now until a day ago: expired whatever the clock says.
        pki.leaf("expired", "localhost", server, "-1");
        pki.leaf(
            "client",
            "dbfleet-client",
            "extendedKeyUsage=clientAuth\n",
            "2",
        );
        pki
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    /// `ca.pem`, `other-ca.pem`.
    pub fn ca_file(&self) -> PathBuf {
        self.path("ca.pem")
    }

    pub fn other_ca_file(&self) -> PathBuf {
        self.path("other-ca.pem")
    }

    fn ca(&self, name: &str, subject: &str) {
        openssl(
            &self.dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-days",
                "2",
            ],
            &[
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.pem"),
                "-subj",
                &format!("/CN={subject}"),
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
    }

    /// `name.pem` and `name.key`, signed by `ca`, with `extensions`, valid
    /// for `days`.
    fn leaf(&self, name: &str, common_name: &str, extensions: &str, days: &str) {
        let ext = self.path(&format!("{name}.ext"));
        std::fs::write(&ext, format!("basicConstraints=CA:FALSE\n{extensions}")).unwrap();
        openssl(
            &self.dir,
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
            ],
            &[
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
                "-subj",
                &format!("/CN={common_name}"),
            ],
        );
        openssl(
            &self.dir,
            &["x509", "-req", "-days", days, "-CAcreateserial"],
            &[
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-out",
                &format!("{name}.pem"),
                "-extfile",
                &format!("{name}.ext"),
            ],
        );
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn openssl(dir: &Path, fixed: &[&str], args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(fixed)
        .args(args)
        .output()
        .expect("the openssl command");
    assert!(
        out.status.success(),
        "openssl {fixed:?} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
