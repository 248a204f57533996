//! `aggregate`: period aggregates of one instance's daily size history.
//!
//! Reads and writes only the control store: it never connects to the
//! instance, so it succeeds for an instance that is down (its history is
//! still there). For each period type asked for, it takes the period (the
//! last completed one, or the current one), reads the days of that period
//! and of the one before it, computes the aggregates
//! ([`crate::aggregate`]) and stages them; the worker files them with the
//! lease release, each period's rows of the instance replaced whole.
//!
//! "Today" is the job clock's day in the configured time zone, or the
//! `date` parameter for a backfill.

use super::{Context, Failure, Job};
use crate::aggregate::{PeriodSet, Window};
use crate::message::aggregate::{Output, Params, PeriodOutput};
use crate::message::{ErrorClass, JobError};
use crate::store::Tally;

/// The `aggregate` kind.
pub struct Aggregate;

impl Job for Aggregate {
    type Params = Params;
    type Output = Output;

    async fn run(ctx: &Context<'_>, params: &Params) -> Result<Output, Failure> {
        let periods = params.periods();
        if periods.is_empty() {
            let message = "`periods` is empty: name at least one, or leave it out for all";
            return Err(JobError::new(ErrorClass::Config, message).into());
        }
        let today = params.date.unwrap_or(ctx.clock.today);
        let mut output = Output::default();
        for period in periods {
            let window = Window::chosen(period, today, params.current);
            let from = window.previous().start;
            let aggregates = ctx.store.aggregates();
            let history = aggregates
                .history(ctx.instance.id, from, window.end)
                .await?;
            let set = PeriodSet::compute(window, &history);
            output.periods.push(summary(&set));
            ctx.stage(|f| f.aggregates.push(set));
        }
        Ok(output)
    }

    fn tally(output: &Output) -> Tally {
        Tally::from_pairs([
            ("database_aggregates", output.database_aggregates()),
            ("instance_aggregates", output.instance_aggregates()),
        ])
    }

    fn empty_summary() -> Tally {
        Self::tally(&Output::default())
    }
}

fn summary(set: &PeriodSet) -> PeriodOutput {
    PeriodOutput {
        period: set.window.period,
        start: set.window.start,
        end: set.window.end,
        databases: u32::try_from(set.databases.len()).unwrap_or(u32::MAX),
        instance_row: set.instance.is_some(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;
    use crate::message::aggregate::PeriodType;
    use crate::message::JobOutput;

    pub(crate) fn sample_output() -> JobOutput {
        let day = |s: &str| s.parse().unwrap();
        JobOutput::Aggregate(Output {
            periods: vec![PeriodOutput {
                period: PeriodType::Monthly,
                start: day("2026-02-01"),
                end: day("2026-02-28"),
                databases: 3,
                instance_row: true,
            }],
        })
    }

    #[test]
    fn the_tally_counts_the_rows_written() {
        let JobOutput::Aggregate(output) = sample_output() else {
            unreachable!()
        };
        let tally = Aggregate::tally(&output);
        assert_eq!(tally.get("database_aggregates"), 3);
        assert_eq!(tally.get("instance_aggregates"), 1);
    }
}
