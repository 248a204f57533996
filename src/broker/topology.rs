//! Names of every exchange, queue and routing key, derived from one prefix.
//!
//! Both programs declare the same topology at start-up, so it lives here and
//! nowhere else. A per-fleet prefix lets several fleets, or many test runs,
//! share one broker.

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
}

impl Topology {
    pub fn new(prefix: &str, delivery_limit: u32) -> Self {
        Self {
            prefix: prefix.to_string(),
            delivery_limit,
            retry_delays: Vec::new(),
        }
    }

    pub fn with_retry_delays(mut self, delays: Vec<Duration>) -> Self {
        self.retry_delays = delays;
        self
    }

    /// The queue of retry tier `tier`.
    pub fn retry_queue(&self, tier: usize) -> String {
        format!("{}.retry.{tier}", self.prefix)
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
            Queue::Jobs => format!("{}.jobs", self.prefix),
            Queue::Results => format!("{}.results", self.prefix),
            Queue::Dead => format!("{}.dead", self.prefix),
        }
    }

    /// Routing key a job leaves a retry tier with, back to the jobs queue.
    /// Jobs and results are published as `job.<kind>` and `result.<kind>`;
    /// this one stays what it was when capacity sync was the only kind,
    /// because it is an argument of the declared retry queues, and RabbitMQ
    /// refuses to redeclare a queue with other arguments.
    pub fn retried_routing_key(&self) -> &'static str {
        "job.capacity_sync"
    }

    /// Binding pattern of each queue on the main exchange.
    pub fn binding(&self, queue: Queue) -> &'static str {
        match queue {
            Queue::Jobs => "job.#",
            Queue::Results => "result.#",
            Queue::Dead => "#",
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
}
