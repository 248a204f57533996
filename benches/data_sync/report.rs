//! The one table: every case's seconds as min / median / max over the
//! runs, its rate at the median, and a ratio against its baseline taken
//! run by run (so both sides of a ratio share a run's conditions), then
//! summarised the same way.

use std::collections::BTreeMap;

/// One case's measurement in one run.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub seconds: f64,
    /// Peak resident memory growth over the case, MiB.
    pub rss_mib: f64,
}

/// Every sample of every case, in run order.
#[derive(Default)]
pub struct Series(BTreeMap<&'static str, Vec<Sample>>);

impl Series {
    pub fn push(&mut self, case: &'static str, sample: Sample) {
        self.0.entry(case).or_default().push(sample);
    }

    fn seconds(&self, case: &str) -> Vec<f64> {
        self.0
            .get(case)
            .map_or(Vec::new(), |s| s.iter().map(|s| s.seconds).collect())
    }

    fn peak_mib(&self, case: &str) -> f64 {
        self.0
            .get(case)
            .map_or(0.0, |s| s.iter().map(|s| s.rss_mib).fold(0.0, f64::max))
    }
}

/// How a case compares with its baseline.
pub enum Against {
    None,
    /// Rows per second, the case's over the baseline's (higher is better).
    Rate(&'static str),
    /// Seconds, the case's over the baseline's.
    Time(&'static str),
}

/// One line: a case, what it is compared with, and the target.
pub struct Line {
    pub case: &'static str,
    pub against: Against,
    pub target: &'static str,
}

/// Prints the table for `rows` rows per case.
pub fn print(series: &Series, rows: usize, lines: &[Line]) {
    println!("| case | rows | seconds min / median / max | rows/s (median) | against | ratio min / median / max | target | peak RSS growth (MiB, max) |");
    println!("| --- | ---: | ---: | ---: | --- | ---: | --- | ---: |");
    for line in lines {
        let seconds = series.seconds(line.case);
        if seconds.is_empty() {
            continue;
        }
        let s = Spread::of(&seconds);
        let (against, ratio) = ratio(series, &seconds, &line.against);
        println!(
            "| {} | {rows} | {:.2} / {:.2} / {:.2} | {:.0} | {against} | {ratio} | {} | {:.1} |",
            line.case,
            s.min,
            s.median,
            s.max,
            rows as f64 / s.median,
            line.target,
            series.peak_mib(line.case),
        );
    }
}

fn ratio(series: &Series, seconds: &[f64], against: &Against) -> (String, String) {
    let (name, ratios): (&str, Vec<f64>) = match *against {
        Against::None => return ("—".into(), "—".into()),
        Against::Rate(base) => (
            base,
            seconds
                .iter()
                .zip(series.seconds(base))
                .map(|(s, b)| b / s)
                .collect(),
        ),
        Against::Time(base) => (
            base,
            seconds
                .iter()
                .zip(series.seconds(base))
                .map(|(s, b)| s / b)
                .collect(),
        ),
    };
    let kind = if matches!(against, Against::Rate(_)) {
        "rate"
    } else {
        "time"
    };
    let r = Spread::of(&ratios);
    (
        format!("{kind} of {name}"),
        format!("{:.2} / {:.2} / {:.2}×", r.min, r.median, r.max),
    )
}

/// Min, median and max of a series.
struct Spread {
    min: f64,
    median: f64,
    max: f64,
}

impl Spread {
    fn of(values: &[f64]) -> Self {
        let mut sorted = values.to_vec();
        sorted.sort_by(|a, b| a.total_cmp(b));
        let n = sorted.len();
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
        };
        Spread {
            min: sorted[0],
            median,
            max: sorted[n - 1],
        }
    }
}
