//! Phases run as children of the benchmark's own executable, under
//! `/usr/bin/time`, so each one's peak resident set is its own.
//!
//! A short phase prints `<seconds> <databases>` on stdout and exits
//! ([`measure`]); a long-running one (a worker) runs until its stdin closes
//! ([`Timed`], [`stdin_closed`]).

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use tokio_util::sync::CancellationToken;

/// What a short phase reports.
#[derive(Debug, Clone, Copy)]
pub struct Measured {
    /// Wall time measured inside the phase.
    pub secs: f64,
    /// The child's maximum resident set.
    pub rss_mib: f64,
    pub databases: usize,
}

/// This executable with `args`, under `/usr/bin/time` writing to `report`.
fn timed(args: &[String], report: &PathBuf) -> Command {
    let mut command = Command::new("/usr/bin/time");
    command
        .args(["-f", "%M", "-o"])
        .arg(report)
        .arg(std::env::current_exe().unwrap())
        .args(args);
    command
}

/// The peak RSS `/usr/bin/time` wrote to `report`, in MiB.
fn read_rss(report: &PathBuf) -> f64 {
    let text = std::fs::read_to_string(report).unwrap();
    let _ = std::fs::remove_file(report);
    let kib: f64 = text.lines().last().unwrap().trim().parse().unwrap();
    kib / 1024.0
}

fn report_path(what: &str) -> PathBuf {
    let n = rand::random::<u32>();
    std::env::temp_dir().join(format!(
        "dbfleet-bench-{}-{what}-{n:08x}",
        std::process::id()
    ))
}

/// Run a short phase to its end.
pub fn measure(args: &[String]) -> Measured {
    let report = report_path("phase");
    let out = timed(args, &report).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?} failed:\n{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut fields = stdout.split_whitespace();
    let secs: f64 = fields.next().unwrap().parse().unwrap();
    let databases: usize = fields.next().unwrap().parse().unwrap();
    Measured {
        secs,
        rss_mib: read_rss(&report),
        databases,
    }
}

/// A long-running phase: it stops when its stdin is closed.
pub struct Timed {
    child: Child,
    report: PathBuf,
}

impl Timed {
    /// Start this executable with `args` and `envs`; its stderr goes to `log`.
    pub fn spawn(args: &[String], envs: &[(String, String)], log: std::fs::File) -> Self {
        let report = report_path("worker");
        let child = timed(args, &report)
            .envs(envs.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        Self { child, report }
    }

    /// Close its stdin, wait for it to end; its peak RSS in MiB.
    pub fn stop(mut self) -> f64 {
        drop(self.child.stdin.take());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "a timed child ended with {status}");
        read_rss(&self.report)
    }
}

/// In a long-running child: cancelled when stdin reaches its end.
pub fn stdin_closed() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
        cancel.cancel();
    });
    token
}
