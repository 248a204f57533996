//! A Python virtual environment for the tests that run Python clients
//! (the README's pika producer, schemathesis, openapi-spec-validator).
//!
//! Made once under the target directory from the pinned
//! `tests/python/requirements.txt` and reused while that file is unchanged
//! (its hash names the directory). It is built beside its final place and
//! renamed into it, so a run killed half-way never leaves a broken one to
//! reuse; scripts are run as `python SCRIPT`, since renaming a virtual
//! environment breaks its scripts' `#!` lines but not its interpreter.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use crate::common;

/// One test at a time builds the environment; the others wait for it.
static BUILDING: Mutex<()> = Mutex::new(());

/// The environment's Python, built first if needed.
pub fn venv() -> Venv {
    let requirements = common::repo_root().join("tests/python/requirements.txt");
    let text = std::fs::read(&requirements).unwrap();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("python-venv-{:016x}", fnv1a(&text)));
    let _building = BUILDING.lock().unwrap_or_else(|e| e.into_inner());
    if !dir.join("ready").exists() {
        build(&dir, &requirements);
    }
    Venv(dir)
}

/// A ready virtual environment.
pub struct Venv(PathBuf);

impl Venv {
    pub fn python(&self) -> Command {
        Command::new(self.0.join("bin/python"))
    }

    /// `python <venv>/bin/SCRIPT`: an installed console script.
    pub fn script(&self, script: &str) -> Command {
        let mut command = self.python();
        command.arg(self.0.join("bin").join(script));
        command
    }
}

fn build(dir: &Path, requirements: &Path) {
    let staging = dir.with_extension(format!("tmp-{}", common::tag()));
    run(Command::new("python3").args(["-m", "venv"]).arg(&staging));
    run(Command::new(staging.join("bin/python"))
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .arg("-r")
        .arg(requirements));
    std::fs::write(staging.join("ready"), b"").unwrap();
    if std::fs::rename(&staging, dir).is_err() {
        // Another run finished first: use its environment.
        let _ = std::fs::remove_dir_all(&staging);
        assert!(dir.join("ready").exists(), "cannot place {}", dir.display());
    }
}

fn run(command: &mut Command) {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A hash that stays the same from one Rust release to the next.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
