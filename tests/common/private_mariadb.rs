//! A MariaDB server of one test's own: a fresh data directory under the
//! temporary directory, on a free loopback port, stopped and deleted when
//! the value is dropped (even when the test panics).
//!
//! For what the shared server must not be changed for: a server-wide
//! setting such as `innodb_file_per_table=OFF`, which only `SET GLOBAL` can
//! change and which would put other runs' tables in the system tablespace.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use sqlx::{Connection as _, MySqlConnection};

use super::{closed_port, eventually, tag};

pub struct PrivateMariaDb {
    pub port: u16,
    dir: PathBuf,
    child: Child,
}

impl PrivateMariaDb {
    /// Bootstrap a data directory and start `mariadbd` on it with the
    /// server options `options` (`--innodb-file-per-table=0`), then wait
    /// until `root` (no password) can connect.
    pub async fn start(options: &[&str]) -> Self {
        let dir = std::env::temp_dir().join(format!("dbft-mariadb-{}", tag()));
        let data = dir.join("data");
        // Temporary files of its own: two servers bootstrapping at once in
        // the shared temporary directory trip over each other's.
        let tmp = dir.join("tmp");
        std::fs::create_dir_all(&tmp).unwrap();
        let small = [
            "--innodb-log-file-size=8M".to_string(),
            "--innodb-buffer-pool-size=32M".to_string(),
            format!("--tmpdir={}", tmp.display()),
        ];
        let installed = Command::new("mariadb-install-db")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .args(["--user=root", "--auth-root-authentication-method=normal"])
            .arg("--skip-test-db")
            .args(&small)
            .output()
            .expect("mariadb-install-db");
        if !installed.status.success() {
            let _ = std::fs::remove_dir_all(&dir);
            panic!(
                "mariadb-install-db failed: {}\n{}",
                String::from_utf8_lossy(&installed.stdout),
                String::from_utf8_lossy(&installed.stderr)
            );
        }
        let port = closed_port();
        let child = Command::new("mariadbd")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--port={port}"))
            .arg(format!("--socket={}", dir.join("sock").display()))
            .arg(format!("--pid-file={}", dir.join("pid").display()))
            .arg(format!("--log-error={}", dir.join("error.log").display()))
            .args(["--bind-address=127.0.0.1", "--user=root", "--skip-log-bin"])
            .args(&small)
            .args(options)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mariadbd");
        let server = Self { port, dir, child };
        let url = server.root_url();
        eventually("the private MariaDB to accept connections", || async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            MySqlConnection::connect(&url).await.ok().map(|_| ())
        })
        .await;
        server
    }

    pub fn root_url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}", self.port)
    }

    pub async fn root(&self) -> MySqlConnection {
        MySqlConnection::connect(&self.root_url()).await.unwrap()
    }

    /// Run statements as root; a failure panics, naming the statement.
    pub async fn exec(&self, statements: &[String]) {
        let mut root = self.root().await;
        for sql in statements {
            super::mariadb_exec(&mut root, sql).await;
        }
    }

    /// A database holding roughly `kib` KiB of InnoDB data.
    pub async fn create_database(&self, name: &str, kib: usize) {
        let mut statements = vec![
            format!("CREATE DATABASE `{name}`"),
            format!("CREATE TABLE `{name}`.t (id INT AUTO_INCREMENT PRIMARY KEY, v TEXT)"),
        ];
        for _ in 0..kib.div_ceil(64) {
            statements.push(format!(
                "INSERT INTO `{name}`.t (v) SELECT REPEAT('x', 1024) FROM `{name}`.seq_1_to_64"
            ));
        }
        self.exec(&statements).await;
    }

    /// A monitoring account `user` holding `privileges` on `*.*`.
    pub async fn account(&self, user: &str, password: &str, privileges: &str) {
        self.exec(&[
            format!("CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'"),
            format!("GRANT {privileges} ON *.* TO '{user}'@'%'"),
        ])
        .await;
    }
}

impl Drop for PrivateMariaDb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
