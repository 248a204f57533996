//! The rows a target refused during a copy: counted, the first listed in
//! the run, and the table failed once they pass `max_rejected_rows`.

use crate::adapters::sync::{Applied, Row};
use crate::message::data_sync::{Rejected, REJECTED_KEPT};

use super::Copy;

impl Copy<'_, '_> {
    /// Counts and lists the rows the target refused; fails the table when
    /// they were more than `max_rejected_rows` (the page was then rolled
    /// back, checkpoint included).
    pub(super) fn rejected(&mut self, rows: &[Row], applied: &Applied) -> Result<(), String> {
        let (job, plan) = (self.job, self.plan);
        for (i, reason) in &applied.rejected {
            if self.run.rejected.len() < REJECTED_KEPT {
                let key = plan.key.iter().map(|&k| rows[*i][k].clone()).collect();
                let reason = reason.clone();
                self.run.rejected.push(Rejected { key, reason });
            }
        }
        self.run.rows_rejected += applied.rejected.len() as u64;
        if applied.committed {
            return Ok(());
        }
        let last = applied.rejected.last().map(|(i, reason)| {
            let key: Vec<&str> = plan
                .key
                .iter()
                .map(|&k| rows[*i][k].as_deref().unwrap_or("NULL"))
                .collect();
            format!("key [{}]: {reason}", key.join(", "))
        });
        Err(format!(
            "the target refused more than {} rows (table {} into {}), the last {}; its page was not applied",
            job.max_rejected_rows,
            job.spec.name,
            job.target_label,
            last.unwrap_or_default()
        ))
    }
}
