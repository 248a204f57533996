//! What a long-running process tells its operators: Prometheus metrics at
//! `/metrics`, and `/healthz` and `/readyz` for its orchestrator, on
//! `telemetry.metrics_addr` (`server.rs`).
//!
//! The metrics are process-wide ([`metrics`]), as counters are: every part
//! of the process adds to the same families without threading a handle
//! through each call. Labels are bounded sets (kinds, engines, outcomes,
//! error classes, queues, batch statuses), never ids of jobs, batches or
//! instances, so a fleet of 100,000 instances exports the same number of
//! series as a fleet of ten. Names follow Prometheus conventions
//! (`dbfleet_…_total`, `_seconds`).

mod health;
mod server;

use std::sync::LazyLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

pub use health::{health, Health};
pub use server::{readiness, serve};

/// A job's end: its kind, `succeeded` or `failed`, and the error class
/// (`none` on success).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabels {
    pub kind: String,
    pub outcome: String,
    pub class: String,
}

/// A job's time on an engine.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindEngine {
    pub kind: String,
    pub engine: String,
}

/// A phase of work on a monitored server (`connect`, `inventory`,
/// `sizes`, `probe`) and its engine.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RemotePhase {
    pub engine: String,
    pub phase: String,
}

/// One queue of the fleet (`Jobs`, `Results`, `Dead`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueueLabel {
    pub queue: String,
}

/// A batch's final status.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabel {
    pub status: String,
}

/// A notification to an alert channel: the channel's configured name and
/// `delivered` or `failed`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AlertSendLabels {
    pub channel: String,
    pub outcome: String,
}

/// An alert transition: the rule's configured name and the new state.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AlertStateLabels {
    pub rule: String,
    pub state: String,
}

/// Every metric of the process.
pub struct Metrics {
    registry: Registry,
    pub jobs: Family<JobLabels, Counter>,
    pub job_duration: Family<KindEngine, Histogram>,
    pub remote: Family<RemotePhase, Histogram>,
    pub jobs_in_flight: Gauge,
    pub redelivered: Counter,
    pub dead_letters: Counter,
    pub reconnects: Family<QueueLabel, Counter>,
    pub queue_depth: Family<QueueLabel, Gauge>,
    pub publish_confirm: Histogram,
    pub results_folded: Counter,
    pub batches: Family<StatusLabel, Counter>,
    pub alert_sends: Family<AlertSendLabels, Counter>,
    pub alert_transitions: Family<AlertStateLabels, Counter>,
}

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);
    &METRICS
}

impl Metrics {
    fn new() -> Self {
        let seconds = || Histogram::new(exponential_buckets(0.005, 2.0, 16));
        let mut m = Self {
            registry: Registry::default(),
            jobs: Family::default(),
            job_duration: Family::new_with_constructor(seconds),
            remote: Family::new_with_constructor(seconds),
            jobs_in_flight: Gauge::default(),
            redelivered: Counter::default(),
            dead_letters: Counter::default(),
            reconnects: Family::default(),
            queue_depth: Family::default(),
            publish_confirm: Histogram::new(exponential_buckets(0.0005, 2.0, 14)),
            results_folded: Counter::default(),
            batches: Family::default(),
            alert_sends: Family::default(),
            alert_transitions: Family::default(),
        };
        m.register();
        m
    }

    fn register(&mut self) {
        let r = &mut self.registry;
        r.register(
            "dbfleet_jobs",
            "Jobs ended by this worker, by kind, outcome and error class",
            self.jobs.clone(),
        );
        r.register(
            "dbfleet_job_duration_seconds",
            "Time a job ran, from its start to its result, by kind and engine",
            self.job_duration.clone(),
        );
        r.register(
            "dbfleet_remote_query_duration_seconds",
            "Time spent on monitored servers, by engine and phase (connect, inventory, sizes, probe)",
            self.remote.clone(),
        );
        r.register(
            "dbfleet_jobs_in_flight",
            "Jobs running in this worker now",
            self.jobs_in_flight.clone(),
        );
        r.register(
            "dbfleet_deliveries_redelivered",
            "Deliveries the broker handed this process again",
            self.redelivered.clone(),
        );
        r.register(
            "dbfleet_dead_letters",
            "Messages this process dead-lettered",
            self.dead_letters.clone(),
        );
        r.register(
            "dbfleet_broker_reconnects",
            "Times a consumer of this process could not consume and waited to subscribe again",
            self.reconnects.clone(),
        );
        r.register(
            "dbfleet_queue_messages",
            "Messages ready in each queue of the default zone, as the control plane last counted them",
            self.queue_depth.clone(),
        );
        r.register(
            "dbfleet_publish_confirm_seconds",
            "Time from publishing a message to the broker's confirm",
            self.publish_confirm.clone(),
        );
        r.register(
            "dbfleet_results_folded",
            "Results the control plane folded into their batches",
            self.results_folded.clone(),
        );
        r.register(
            "dbfleet_batches_ended",
            "Batches that ended, by status",
            self.batches.clone(),
        );
        r.register(
            "dbfleet_alert_notifications",
            "Notifications sent to alert channels, by channel and outcome",
            self.alert_sends.clone(),
        );
        r.register(
            "dbfleet_alert_transitions",
            "Alert state changes this process recorded, by rule and new state",
            self.alert_transitions.clone(),
        );
    }

    /// A notification to `channel` was taken (or not, after its retries).
    pub fn alert_sent(&self, channel: &str, delivered: bool) {
        let labels = AlertSendLabels {
            channel: channel.to_string(),
            outcome: if delivered { "delivered" } else { "failed" }.to_string(),
        };
        self.alert_sends.get_or_create(&labels).inc();
    }

    /// This process recorded a change of `rule`'s subject to `state`.
    pub fn alert_changed(&self, rule: &str, state: &str) {
        let labels = AlertStateLabels {
            rule: rule.to_string(),
            state: state.to_string(),
        };
        self.alert_transitions.get_or_create(&labels).inc();
    }

    /// A job's result is decided: `class` is its error's, if it failed.
    pub fn job_ended(&self, kind: &str, class: Option<&str>) {
        let labels = JobLabels {
            kind: kind.to_string(),
            outcome: if class.is_some() {
                "failed"
            } else {
                "succeeded"
            }
            .to_string(),
            class: class.unwrap_or("none").to_string(),
        };
        self.jobs.get_or_create(&labels).inc();
    }

    /// A job ran on an instance of `engine` for `took`.
    pub fn job_ran(&self, kind: &str, engine: &str, took: Duration) {
        let labels = KindEngine {
            kind: kind.to_string(),
            engine: engine.to_string(),
        };
        self.job_duration
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }

    /// A phase of a job on an `engine` server took `took`.
    pub fn remote_phase(&self, engine: &str, phase: &str, took: Duration) {
        let labels = RemotePhase {
            engine: engine.to_string(),
            phase: phase.to_string(),
        };
        self.remote
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }

    /// Add one to `family`'s counter of `queue` (its name in lower case).
    pub fn count(family: &Family<QueueLabel, Counter>, queue: impl std::fmt::Debug) {
        let queue = format!("{queue:?}").to_lowercase();
        family.get_or_create(&QueueLabel { queue }).inc();
    }

    /// `queue` (its name in lower case) holds `ready` messages.
    pub fn queue_depth(&self, queue: impl std::fmt::Debug, ready: u64) {
        let queue = format!("{queue:?}").to_lowercase();
        let gauge = self.queue_depth.get_or_create(&QueueLabel { queue });
        gauge.set(i64::try_from(ready).unwrap_or(i64::MAX));
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}
