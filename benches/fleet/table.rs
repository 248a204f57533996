//! The one table: each figure as min / median / max over the runs, and as
//! a ratio against its baseline measured in the same run (the ratio is
//! taken run by run, then summarised the same way).

/// Min, median and max of a series.
#[derive(Debug, Clone, Copy)]
pub struct Spread {
    pub min: f64,
    pub median: f64,
    pub max: f64,
}

impl Spread {
    pub fn of(values: &[f64]) -> Self {
        let mut sorted = values.to_vec();
        sorted.sort_by(|a, b| a.total_cmp(b));
        let n = sorted.len();
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
        };
        Self {
            min: sorted[0],
            median,
            max: sorted[n - 1],
        }
    }

    fn show(&self, digits: usize) -> String {
        format!(
            "{:.d$} / {:.d$} / {:.d$}",
            self.min,
            self.median,
            self.max,
            d = digits
        )
    }
}

/// One line of the table.
pub struct Row {
    pub figure: String,
    pub n: String,
    pub unit: &'static str,
    pub value: Spread,
    /// What the value is compared with, and its series.
    pub baseline: Option<(String, Spread)>,
    /// Value ÷ baseline, run by run.
    pub ratio: Option<Spread>,
    pub target: String,
}

impl Row {
    /// A figure against a baseline, `values[i]` and `bases[i]` from run `i`.
    pub fn new(figure: &str, n: impl ToString, unit: &'static str, values: &[f64]) -> Self {
        Self {
            figure: figure.to_string(),
            n: n.to_string(),
            unit,
            value: Spread::of(values),
            baseline: None,
            ratio: None,
            target: String::new(),
        }
    }

    pub fn baseline(mut self, name: &str, values: &[f64], bases: &[f64]) -> Self {
        let ratios: Vec<f64> = values.iter().zip(bases).map(|(v, b)| v / b).collect();
        self.baseline = Some((name.to_string(), Spread::of(bases)));
        self.ratio = Some(Spread::of(&ratios));
        self
    }

    pub fn target(mut self, target: &str) -> Self {
        self.target = target.to_string();
        self
    }
}

/// Print the rows as one Markdown table.
pub fn print(rows: &[Row]) {
    println!(
        "| figure | N | min / median / max | unit | baseline (median) | ratio min / median / max | target |"
    );
    println!("| --- | ---: | ---: | --- | --- | ---: | --- |");
    for row in rows {
        let digits = if row.value.median >= 100.0 { 0 } else { 2 };
        let baseline = row
            .baseline
            .as_ref()
            .map_or(String::from("—"), |(name, b)| {
                format!("{name} ({:.d$})", b.median, d = digits)
            });
        let ratio = row
            .ratio
            .map_or(String::from("—"), |r| format!("{}×", r.show(2)));
        println!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            row.figure,
            row.n,
            row.value.show(digits),
            row.unit,
            baseline,
            ratio,
            row.target
        );
    }
}

/// Every figure of every run, by name and size, in run order.
#[derive(Default)]
pub struct Series(std::collections::BTreeMap<(&'static str, usize), Vec<f64>>);

impl Series {
    pub fn push(&mut self, name: &'static str, n: usize, value: f64) {
        self.0.entry((name, n)).or_default().push(value);
    }

    pub fn get(&self, name: &'static str, n: usize) -> &[f64] {
        self.0.get(&(name, n)).map_or(&[], Vec::as_slice)
    }
}
