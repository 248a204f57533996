//! A job's end, off its slot: what the job staged is filed with its lease's
//! release (one transaction), then its result is published, and the
//! delivery is settled by how both went.
//!
//! The filing's commit waits for its flush to disk, the slowest step of a
//! job's store work; doing it after the slot is free lets the slot take its
//! next job meanwhile, and changes no order that matters: the result is
//! still published only once what the job found is stored, and the job
//! acked only once its result is confirmed. A worker that dies before the
//! filing commits leaves the delivery unsettled, so the job runs again.

use std::sync::Arc;

use tracing::Instrument;

use super::{Outcome, Worker};
use crate::broker::{Delivery, Outgoing};
use crate::domain::{InstanceId, JobId};
use crate::message::JobResult;
use crate::store::{self, Filing};

use super::spans;

/// What a job staged, not yet written.
pub(super) struct Unfiled {
    pub(super) instance: InstanceId,
    pub(super) job: JobId,
    pub(super) filing: Filing,
}

impl Worker {
    /// File what the job staged and release its lease, in one transaction.
    /// A job that staged nothing only releases the lease, and a failure to
    /// do that is not the job's: the lease expires on its own.
    pub(super) async fn file(&self, unfiled: &Unfiled) -> store::Result<()> {
        let Unfiled {
            instance,
            job,
            filing,
        } = unfiled;
        let runs = self.store.runs();
        let filed = runs.end(*instance, *job, filing);
        match filed.instrument(tracing::info_span!("persist")).await {
            Err(e) if filing.is_empty() => {
                tracing::warn!(error = %e, "lease not released; it expires on its own");
                Ok(())
            }
            filed => filed,
        }
    }

    /// The tail of a delivery whose job ended: file, publish, settle. When
    /// the filing fails, nothing the job found is stored: the delivery goes
    /// back to the broker and the job runs again, its result unpublished.
    pub(super) async fn finish(
        self: Arc<Self>,
        delivery: Delivery,
        result: Box<JobResult>,
        unfiled: Option<Box<Unfiled>>,
        span: tracing::Span,
    ) {
        if let Some(unfiled) = unfiled {
            if let Err(e) = self.file(&unfiled).instrument(span.clone()).await {
                let retries = delivery.meta.retries();
                let reason = e.to_string();
                let deferred = Outcome::Deferred { reason, retries };
                return self.settle(delivery, deferred).instrument(span).await;
            }
        }
        span.in_scope(|| log_end(&result));
        let mut outgoing = Outgoing::result(&result);
        let broker = self.broker.as_ref();
        let publish = spans::publish_result(broker, &mut outgoing, &result, &span);
        let outcome = match broker.publish(outgoing).instrument(publish).await {
            Ok(()) => Outcome::Reported(result.status),
            Err(e) => Outcome::Unreported(e),
        };
        self.settle(delivery, outcome).instrument(span).await;
    }
}

/// A job's end, logged and counted once what it found is stored.
fn log_end(result: &JobResult) {
    let class = result.error.as_ref().map(|e| e.class.as_str());
    crate::metrics::metrics().job_ended(result.kind.as_str(), class);
    match &result.error {
        None => tracing::info!(warnings = result.warnings.len(), "job succeeded"),
        Some(e) => tracing::warn!(class = e.class.as_str(), error = %e.message, "job failed"),
    }
}
