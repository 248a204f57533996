//! Shared by the binary's black-box tests (each declares `mod support;`
//! after `mod common;`).
//!
//! The `dbfleet` binary, black-box, on a test's [`World`]: its store, its
//! broker and prefix, from the repository root with the example
//! configuration; and a directory of the test's own for the files it hands
//! the binary. `api.rs`: a running `dbfleet serve` with its HTTP API;
//! `python.rs`: the virtual environment of the Python clients.

#![allow(dead_code)]

pub mod api;
pub mod python;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use secrecy::ExposeSecret;

use crate::common::{self, World};

/// `dbfleet ARGS` on this world (only warnings and errors logged).
pub fn dbfleet(world: &World, args: &[&str]) -> Output {
    dbfleet_with(world, Path::new("config/dbfleet.yaml"), args)
}

/// [`dbfleet`] with the configuration file `config`.
pub fn dbfleet_with(world: &World, config: &Path, args: &[&str]) -> Output {
    let store = world.settings.store.url.as_ref().unwrap().expose_secret();
    let broker = world.settings.broker.url.as_ref().unwrap().expose_secret();
    Command::new(env!("CARGO_BIN_EXE_dbfleet"))
        .current_dir(common::repo_root())
        .arg("--config")
        .arg(config)
        .args(args)
        .env("DBFLEET__STORE__URL", store)
        .env("DBFLEET__BROKER__URL", broker)
        .env("DBFLEET__BROKER__PREFIX", &world.settings.broker.prefix)
        .env("DBFLEET__LOG__LEVEL", "warn")
        .output()
        .unwrap()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// The JSON a command printed; it must have exited 0.
pub fn json(out: &Output) -> serde_json::Value {
    assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A directory of the test's own, removed when dropped.
pub struct Files(pub PathBuf);

impl Files {
    pub fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("dbfleet-files-{}", common::tag()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// `path` as it appears at the start of each problem on `line`.
    pub fn at(path: &Path, line: usize) -> String {
        format!("{}:{line}: ", path.display())
    }
}

impl Default for Files {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
