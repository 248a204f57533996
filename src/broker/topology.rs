//! Names of every exchange, queue and routing key, derived from one prefix.
//!
//! Both programs declare the same topology at start-up, so it lives here and
//! nowhere else. A per-fleet prefix lets several fleets, or many test runs,
//! share one broker.
//!
//! **Zones.** A worker in network zone `z` (`worker.zone`) consumes only
//! the jobs of instances in that zone: they are published with routing key
//! `zone.<z>.job.<kind>` to the same exchange, bound to their own queue
//! `<prefix>.zone.<z>.jobs` (with retry tiers `<prefix>.zone.<z>.retry.<n>`
//! that send a parked job back there). The default zone keeps the names of
//! a fleet without zones, and its binding `job.#` never matches a zone's
//! key, so no worker ever takes a job it cannot reach. Results and dead
//! letters do not depend on the zone.

use std::time::Duration;

use super::Queue;

#[derive(Debug, Clone)]
pub struct Topology {
    pub prefix: String,
    /// Deliveries of one job before the broker dead-letters it.
    pub delivery_limit: u32,
    /// Delay of each retry tier; tier `n` is queue `<prefix>.retry.<n>`, whose
    /// messages expire after the delay and dead-letter back to the jobs queue.
    pub retry_delays: Vec<Duration>,
    /// The zone whose jobs this process consumes; `None`: the default zone.
    pub zone: Option<String>,
}

impl Topology {
    pub fn new(prefix: &str, delivery_limit: u32) -> Self {
        Self {
            prefix: prefix.to_string(),
            delivery_limit,
            retry_delays: Vec::new(),
            zone: None,
        }
    }

    /// The same topology, consuming the jobs of `zone`.
    pub fn in_zone(&self, zone: Option<&str>) -> Self {
        Self {
            zone: zone.map(str::to_string),
            ..self.clone()
        }
    }

    /// Where this topology's jobs queue and retry tiers are named from.
    fn jobs_prefix(&self) -> String {
        match &self.zone {
            Some(zone) => format!("{}.zone.{zone}", self.prefix),
            None => self.prefix.clone(),
        }
    }

    /// Routing key of an interactive job of `kind` for an instance in
    /// `zone`: neither lane's binding matches the other's keys.
    pub fn interactive_key(zone: Option<&str>, kind: &str) -> String {
        match zone {
            Some(zone) => format!("zone.{zone}.interactive.job.{kind}"),
            None => format!("interactive.job.{kind}"),
        }
    }

    /// Routing key of a job of `kind` for an instance in `zone`.
    pub fn job_routing_key(zone: Option<&str>, kind: &str) -> String {
        match zone {
            Some(zone) => format!("zone.{zone}.job.{kind}"),
            None => format!("job.{kind}"),
        }
    }

    pub fn with_retry_delays(mut self, delays: Vec<Duration>) -> Self {
        self.retry_delays = delays;
        self
    }

    /// The queue of retry tier `tier`.
    pub fn retry_queue(&self, tier: usize) -> String {
        format!("{}.retry.{tier}", self.jobs_prefix())
    }

    /// The topic exchange jobs and results are published to.
    pub fn exchange(&self) -> String {
        self.prefix.clone()
    }

    /// Where rejected and unreadable messages go.
    pub fn dead_letter_exchange(&self) -> String {
        format!("{}.dlx", self.prefix)
    }

    pub fn queue(&self, queue: Queue) -> String {
        match queue {
            Queue::Jobs => format!("{}.jobs", self.jobs_prefix()),
            Queue::Interactive => format!("{}.interactive", self.jobs_prefix()),
            Queue::Results => format!("{}.results", self.prefix),
            Queue::Dead => format!("{}.dead", self.prefix),
        }
    }

    /// Routing key a job leaves a retry tier with, back to the jobs queue.
    /// Jobs and results are published as `job.<kind>` and `result.<kind>`;
    /// this one stays what it was when capacity sync was the only kind,
    /// because it is an argument of the declared retry queues, and RabbitMQ
    /// refuses to redeclare a queue with other arguments.
    pub fn retried_routing_key(&self) -> String {
        Self::job_routing_key(self.zone.as_deref(), "capacity_sync")
    }

    /// Binding pattern of each queue on the main exchange.
    pub fn binding(&self, queue: Queue) -> String {
        match (queue, &self.zone) {
            (Queue::Jobs, Some(zone)) => format!("zone.{zone}.job.#"),
            (Queue::Jobs, None) => "job.#".to_string(),
            (Queue::Interactive, Some(zone)) => format!("zone.{zone}.interactive.#"),
            (Queue::Interactive, None) => "interactive.#".to_string(),
            (Queue::Results, _) => "result.#".to_string(),
            (Queue::Dead, _) => "#".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_carries_the_prefix() {
        let t = Topology::new("t1", 5);
        assert_eq!(t.queue(Queue::Jobs), "t1.jobs");
        assert_eq!(t.queue(Queue::Results), "t1.results");
        assert_eq!(t.queue(Queue::Dead), "t1.dead");
        assert_eq!(t.dead_letter_exchange(), "t1.dlx");
        assert!(t.retried_routing_key().starts_with("job."));
    }

    #[test]
    fn a_zone_has_its_own_jobs_queue_tiers_and_keys_and_shares_the_rest() {
        let t = Topology::new("t1", 5).in_zone(Some("eu-1"));
        assert_eq!(t.queue(Queue::Jobs), "t1.zone.eu-1.jobs");
        assert_eq!(t.retry_queue(0), "t1.zone.eu-1.retry.0");
        assert_eq!(t.binding(Queue::Jobs), "zone.eu-1.job.#");
        assert_eq!(t.retried_routing_key(), "zone.eu-1.job.capacity_sync");
        assert_eq!(
            (t.queue(Queue::Results), t.exchange()),
            ("t1.results".into(), "t1".into())
        );
        let key = Topology::job_routing_key(Some("eu-1"), "probe");
        assert_eq!(key, "zone.eu-1.job.probe");
        // The default zone's binding never takes a zone's job.
        assert!(!key.starts_with("job."));
    }

    #[test]
    fn the_interactive_lane_has_its_own_queue_and_keys_per_zone() {
        let t = Topology::new("t1", 5);
        assert_eq!(t.queue(Queue::Interactive), "t1.interactive");
        assert_eq!(t.binding(Queue::Interactive), "interactive.#");
        assert_eq!(
            Topology::interactive_key(None, "probe"),
            "interactive.job.probe"
        );
        let z = t.in_zone(Some("b"));
        assert_eq!(z.queue(Queue::Interactive), "t1.zone.b.interactive");
        assert_eq!(z.binding(Queue::Interactive), "zone.b.interactive.#");
        // A zone's batch binding `zone.b.job.#` never takes its interactive jobs.
        let key = Topology::interactive_key(Some("b"), "probe");
        assert!(!key.starts_with("zone.b.job."), "{key}");
    }
}
