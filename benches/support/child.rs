//! Phases run as children of the benchmark's own executable, under
//! `/usr/bin/time`, so each one's peak resident set and CPU time are its
//! own.
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
    /// The child's CPU time, user and system, start-up included.
    pub cpu_secs: f64,
    pub databases: usize,
}

/// What `/usr/bin/time` reports of a child.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    pub rss_mib: f64,
    pub cpu_secs: f64,
}

/// This executable with `args`, under `/usr/bin/time` writing to `report`.
fn timed(args: &[String], report: &PathBuf) -> Command {
    let mut command = Command::new("/usr/bin/time");
    command
        .args(["-f", "%M %U %S", "-o"])
        .arg(report)
        .arg(std::env::current_exe().unwrap())
        .args(args);
    command
}

/// The peak RSS (KiB, shown in MiB) and the user and system seconds
/// `/usr/bin/time` wrote to `report`.
fn read_usage(report: &PathBuf) -> Usage {
    let text = std::fs::read_to_string(report).unwrap();
    let _ = std::fs::remove_file(report);
    let fields: Vec<f64> = text
        .lines()
        .last()
        .unwrap()
        .split_whitespace()
        .map(|f| f.parse().unwrap())
        .collect();
    Usage {
        rss_mib: fields[0] / 1024.0,
        cpu_secs: fields[1] + fields[2],
    }
}

/// This process's CPU time so far, user and system, in seconds (from
/// `/proc/self/stat`, in ticks of 1/100 s).
pub fn own_cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
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
    let usage = read_usage(&report);
    Measured {
        secs,
        rss_mib: usage.rss_mib,
        cpu_secs: usage.cpu_secs,
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

    /// Close its stdin, wait for it to end; its peak RSS and CPU time.
    pub fn stop(mut self) -> Usage {
        drop(self.child.stdin.take());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "a timed child ended with {status}");
        read_usage(&self.report)
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
