//! The process's peak resident memory over one measurement, as growth over
//! what it held when the measurement began.
//!
//! The kernel keeps the peak (`VmHWM`) and lets a process reset it to the
//! current size (`5` into `/proc/self/clear_refs`): exact, and free while
//! the measurement runs. Where that write is refused, a thread samples
//! `VmRSS` every 10 ms instead, which can miss a peak shorter than that.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

pub struct Peak {
    base_kib: u64,
    sampler: Option<Sampler>,
}

struct Sampler {
    stop: Arc<AtomicBool>,
    max_kib: Arc<AtomicU64>,
    thread: JoinHandle<()>,
}

impl Peak {
    pub fn start() -> Self {
        let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
        let base_kib = status_kib("VmRSS:");
        let sampler = (!reset).then(Sampler::start);
        Peak { base_kib, sampler }
    }

    /// The peak's growth over the start, in MiB.
    pub fn stop(self) -> f64 {
        let peak_kib = match self.sampler {
            Some(s) => s.stop(),
            None => status_kib("VmHWM:"),
        };
        peak_kib.saturating_sub(self.base_kib) as f64 / 1024.0
    }

    /// How peaks are taken on this machine, for the table's caption.
    pub fn method() -> &'static str {
        if std::fs::write("/proc/self/clear_refs", "5").is_ok() {
            "VmHWM, reset through /proc/self/clear_refs before each run"
        } else {
            "VmRSS sampled every 10 ms"
        }
    }
}

impl Sampler {
    fn start() -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let max_kib = Arc::new(AtomicU64::new(status_kib("VmRSS:")));
        let (s, m) = (stop.clone(), max_kib.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                m.fetch_max(status_kib("VmRSS:"), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        Sampler {
            stop,
            max_kib,
            thread,
        }
    }

    fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
        self.max_kib
            .load(Ordering::Relaxed)
            .max(status_kib("VmRSS:"))
    }
}

/// A `kB` line of `/proc/self/status`.
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
