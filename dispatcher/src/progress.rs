//! Batch progress for people: a bar on a terminal, plain lines otherwise
//! (so logs of CI jobs and cron runs stay readable).

use std::io::IsTerminal;

use dbfleet::store::Batch;
use indicatif::{ProgressBar, ProgressStyle};

pub enum Progress {
    Bar(ProgressBar),
    Lines,
}

impl Progress {
    pub fn start() -> Self {
        if !std::io::stderr().is_terminal() {
            return Progress::Lines;
        }
        let bar = ProgressBar::new(0);
        let style = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} instances {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Progress::Bar(bar)
    }

    pub fn update(&mut self, batch: &Batch) {
        let done = batch.succeeded + batch.failed;
        match self {
            Progress::Bar(bar) => {
                bar.set_length(u64::try_from(batch.total).unwrap_or_default());
                bar.set_position(u64::try_from(done).unwrap_or_default());
                bar.set_message(format!("({} failed)", batch.failed));
            }
            Progress::Lines => eprintln!(
                "batch {}: {done}/{} instances done, {} failed",
                batch.id, batch.total, batch.failed
            ),
        }
    }

    pub fn finish(self) {
        if let Progress::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}
