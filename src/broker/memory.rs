//! The in-process broker: the embedded default when `broker.url` is
//! `memory://` or unset, so `dbfleet run` works in one process without a
//! RabbitMQ.
//!
//! It keeps the contract the rest of the program relies on from RabbitMQ,
//! so the worker and the aggregator cannot tell the two apart:
//!
//! - **Confirmed publishing**: [`Broker::publish`] returns `Ok` once the
//!   message is enqueued; that is the confirm.
//! - **Competing consumers**: any number of consumers may consume one queue;
//!   each message is handed to exactly one of them at a time.
//! - **Prefetch**: a consumer's stream does not yield a new delivery while
//!   `prefetch` of its deliveries are unsettled (`0` means unlimited, as with
//!   AMQP `basic.qos`). It waits on a semaphore, not on a timer.
//! - **At-least-once**: a message leaves its queue for good only when it is
//!   acked or dead-lettered. A [`Delivery`] dropped without being settled (its
//!   task panicked or was aborted) goes back to the front of its queue, as a
//!   closed channel returns its deliveries. Dropping a consumer stream loses
//!   nothing: messages are taken off the queue only when the stream yields
//!   them, and deliveries it already yielded stay settleable.
//! - **Delivery limit and dead letters**: [`DeliveryMeta::attempt`] is 1 on the
//!   first delivery and counts up on each redelivery. Every return counts
//!   ([`Disposition::Retry`], [`Disposition::HandBack`], a dropped delivery),
//!   as `x-delivery-count` does on RabbitMQ 3.10 quorum queues. A message
//!   returned after its `delivery_limit`-th delivery is moved to the dead queue
//!   instead, with [`REASON_HEADER`] = `delivery limit reached (N)`; the limit
//!   applies to the jobs and results queues, not to the dead queue.
//!   [`Disposition::DeadLetter`] moves it there with its reason.
//!
//! Where a returned message goes: [`Disposition::Retry`] (a transient
//! failure) goes to the *back* of the queue, so a failing message does not
//! hot-loop ahead of the others and the retry gets a little distance from the
//! failure; [`Disposition::HandBack`] and a dropped delivery (work not done
//! through no fault of the message) go to the *front*, keeping their place.
//!
//! Limits: nothing is durable. Queued and unsettled messages live in this
//! process's memory and are lost when it exits or crashes; there is no
//! sharing between processes. Use RabbitMQ for a fleet of processes or when
//! jobs must survive a restart.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use futures_util::StreamExt;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use super::{
    Acker, Broker, Deliveries, Delivery, DeliveryMeta, Disposition, Error, Outgoing, Queue, Result,
    Topology, REASON_HEADER, RETRIES_HEADER,
};

const QUEUES: usize = 4;

fn slot(queue: Queue) -> usize {
    match queue {
        Queue::Jobs => 0,
        Queue::Results => 1,
        Queue::Dead => 2,
        Queue::Interactive => 3,
    }
}

/// A queued message.
#[derive(Debug, Clone)]
struct Message {
    message_id: String,
    correlation_id: String,
    /// The message type (the job's kind for jobs).
    kind: String,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
    /// Deliveries so far.
    delivered: u32,
}

impl Message {
    fn new(message_id: String, headers: BTreeMap<String, String>, body: Vec<u8>) -> Self {
        Self {
            message_id,
            correlation_id: String::new(),
            kind: String::new(),
            headers,
            body,
            delivered: 0,
        }
    }

    /// The meta a consumer sees on the next (or, once counted, current) delivery.
    fn meta(&self, attempt: u32) -> DeliveryMeta {
        DeliveryMeta {
            body: self.body.clone(),
            message_id: Some(self.message_id.clone()),
            correlation_id: Some(self.correlation_id.clone()).filter(|c| !c.is_empty()),
            kind: Some(self.kind.clone()).filter(|k| !k.is_empty()),
            user_id: None,
            headers: self.headers.clone(),
            attempt,
        }
    }
}

#[derive(Debug, Default)]
struct State {
    /// Ready messages, per queue.
    ready: [VecDeque<Message>; QUEUES],
    /// Delivered, not yet settled, per queue.
    unsettled: [usize; QUEUES],
    closed: bool,
}

#[derive(Debug)]
struct Shared {
    topology: Topology,
    state: Mutex<State>,
    /// One wake-up per message made ready, per queue.
    arrived: [Notify; QUEUES],
    closed: CancellationToken,
}

/// Where a returned message goes back in its queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Front,
    Back,
}

impl Shared {
    /// Short critical sections only; never held across an `.await`. A
    /// poisoned lock is recovered: every update leaves the state consistent.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn enqueue(&self, queue: Queue, message: Message, place: Place) {
        {
            let mut state = self.lock();
            let ready = &mut state.ready[slot(queue)];
            match place {
                Place::Front => ready.push_front(message),
                Place::Back => ready.push_back(message),
            }
        }
        self.arrived[slot(queue)].notify_one();
    }

    fn dead_letter(&self, mut message: Message, reason: String) {
        message.headers.insert(REASON_HEADER.to_string(), reason);
        // A new message on the dead queue, as RabbitMQ's copy is.
        message.delivered = 0;
        self.enqueue(Queue::Dead, message, Place::Back);
    }

    /// Settle one unsettled delivery of `queue`.
    fn settle(self: &Arc<Self>, queue: Queue, message: Message, disposition: Disposition) {
        {
            let mut state = self.lock();
            let unsettled = &mut state.unsettled[slot(queue)];
            *unsettled = unsettled.saturating_sub(1);
        }
        match disposition {
            Disposition::Ack => {}
            Disposition::DeadLetter(reason) => self.dead_letter(message, reason),
            Disposition::Retry => self.give_back(queue, message, Place::Back),
            Disposition::HandBack => self.give_back(queue, message, Place::Front),
            Disposition::Delay { tier } => self.delay(queue, message, tier),
        }
    }

    /// Requeue after the tier's delay, as a new message (a RabbitMQ retry
    /// queue republishes it too). Not durable: a delayed message dies with
    /// the process, like everything else here.
    fn delay(self: &Arc<Self>, queue: Queue, mut message: Message, tier: usize) {
        let delays = &self.topology.retry_delays;
        let Some(delay) = delays.get(tier).or(delays.last()).copied() else {
            return self.give_back(queue, message, Place::Back);
        };
        message
            .headers
            .insert(RETRIES_HEADER.to_string(), (tier + 1).to_string());
        message.delivered = 0;
        let shared = Arc::clone(self);
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(delay) => shared.enqueue(queue, message, Place::Back),
                _ = shared.closed.cancelled() => {}
            }
        });
    }

    /// A returned delivery: it counts toward the delivery limit.
    fn give_back(&self, queue: Queue, message: Message, place: Place) {
        let limit = self.topology.delivery_limit;
        if queue != Queue::Dead && message.delivered >= limit {
            self.dead_letter(message, format!("delivery limit reached ({limit})"));
        } else {
            self.enqueue(queue, message, place);
        }
    }

    /// Take the next ready message of `queue`, waiting for one; `None` once
    /// the broker is closed. The message leaves the queue only in the poll
    /// that returns it, so dropping this future loses nothing.
    async fn next_message(&self, queue: Queue) -> Option<Message> {
        let arrived = &self.arrived[slot(queue)];
        loop {
            // Register before looking, so an arrival in between wakes us.
            let notified = arrived.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut state = self.lock();
                if state.closed {
                    return None;
                }
                if let Some(mut message) = state.ready[slot(queue)].pop_front() {
                    message.delivered = message.delivered.saturating_add(1);
                    state.unsettled[slot(queue)] += 1;
                    return Some(message);
                }
            }
            tokio::select! {
                _ = &mut notified => {}
                _ = self.closed.cancelled() => return None,
            }
        }
    }
}

/// The in-process broker; cheap to clone (clones share the queues).
#[derive(Debug, Clone)]
pub struct MemoryBroker {
    shared: Arc<Shared>,
}

impl MemoryBroker {
    /// Empty jobs, results and dead queues; the delivery limit is
    /// `topology.delivery_limit`.
    pub fn new(topology: Topology) -> Self {
        Self {
            shared: Arc::new(Shared {
                topology,
                state: Mutex::new(State::default()),
                arrived: [Notify::new(), Notify::new(), Notify::new(), Notify::new()],
                closed: CancellationToken::new(),
            }),
        }
    }

    pub fn topology(&self) -> &Topology {
        &self.shared.topology
    }

    /// Shut the broker down: every consumer stream ends (yields `None`),
    /// later `consume` calls get a stream that ends at once, and `publish`
    /// fails. Deliveries already handed out can still be settled, and what
    /// is queued stays inspectable.
    pub fn close(&self) {
        self.shared.lock().closed = true;
        self.shared.closed.cancel();
    }

    pub fn is_closed(&self) -> bool {
        self.shared.lock().closed
    }

    /// Messages ready for delivery on `queue` (not counting unsettled ones).
    pub fn depth(&self, queue: Queue) -> usize {
        self.shared.lock().ready[slot(queue)].len()
    }

    /// Deliveries of `queue` handed out and not yet settled.
    pub fn unsettled(&self, queue: Queue) -> usize {
        self.shared.lock().unsettled[slot(queue)]
    }

    /// The ready messages of `queue`, in delivery order, as a consumer would
    /// see them next (`attempt` is the attempt of that next delivery).
    pub fn peek(&self, queue: Queue) -> Vec<DeliveryMeta> {
        self.shared.lock().ready[slot(queue)]
            .iter()
            .map(|m| m.meta(m.delivered.saturating_add(1)))
            .collect()
    }

    /// The dead letters waiting on the dead queue; each carries its reason
    /// in the [`REASON_HEADER`] header.
    pub fn dead_letters(&self) -> Vec<DeliveryMeta> {
        self.peek(Queue::Dead)
    }
}

#[async_trait]
impl Broker for MemoryBroker {
    async fn declare(&self) -> Result<()> {
        Ok(())
    }

    async fn depth(&self, queue: Queue) -> Result<u64> {
        let state = self.shared.lock();
        Ok(u64::try_from(state.ready[slot(queue)].len()).unwrap_or(u64::MAX))
    }

    fn names(&self) -> &Topology {
        &self.shared.topology
    }

    fn system(&self) -> &'static str {
        "in_process"
    }

    async fn publish(&self, message: Outgoing) -> Result<()> {
        if self.is_closed() {
            return Err(Error::Closed);
        }
        let Outgoing {
            queue,
            message_id,
            correlation_id,
            kind,
            headers,
            body,
            ..
        } = message;
        let mut queued = Message::new(message_id, headers, body);
        queued.correlation_id = correlation_id;
        queued.kind = kind;
        self.shared.enqueue(queue, queued, Place::Back);
        Ok(())
    }

    async fn consume(&self, queue: Queue, prefetch: u16) -> Result<Deliveries> {
        let permits = match prefetch {
            0 => Semaphore::MAX_PERMITS,
            n => usize::from(n),
        };
        let consumer = Consumer {
            shared: self.shared.clone(),
            queue,
            permits: Arc::new(Semaphore::new(permits)),
        };
        let stream = futures_util::stream::unfold(consumer, |consumer| async move {
            let delivery = consumer.next().await?;
            Some((Ok(delivery), consumer))
        });
        Ok(Deliveries::new(stream.fuse()))
    }
}

/// One consumer: its queue and its prefetch window.
struct Consumer {
    shared: Arc<Shared>,
    queue: Queue,
    permits: Arc<Semaphore>,
}

impl Consumer {
    /// Wait for room in the prefetch window, then for a message.
    async fn next(&self) -> Option<Delivery> {
        let permit = tokio::select! {
            biased;
            _ = self.shared.closed.cancelled() => return None,
            permit = self.permits.clone().acquire_owned() => permit.ok()?,
        };
        let message = self.shared.next_message(self.queue).await?;
        let meta = message.meta(message.delivered);
        let acker = MemoryAcker {
            shared: self.shared.clone(),
            queue: self.queue,
            message: Some(message),
            _permit: permit,
        };
        Some(Delivery::new(meta, Box::new(acker)))
    }
}

/// Settles one delivery; returns it to its queue if dropped unsettled.
struct MemoryAcker {
    shared: Arc<Shared>,
    queue: Queue,
    /// `None` once settled.
    message: Option<Message>,
    /// Held until settled: one slot of the consumer's prefetch window.
    /// Declared last so it is released after `Drop` has requeued.
    _permit: OwnedSemaphorePermit,
}

#[async_trait]
impl Acker for MemoryAcker {
    async fn settle(
        mut self: Box<Self>,
        disposition: Disposition,
        _delivery: &DeliveryMeta,
    ) -> Result<()> {
        if let Some(message) = self.message.take() {
            self.shared.settle(self.queue, message, disposition);
        }
        Ok(())
    }
}

impl Drop for MemoryAcker {
    fn drop(&mut self) {
        if let Some(message) = self.message.take() {
            self.shared
                .settle(self.queue, message, Disposition::HandBack);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::collections::HashSet;
    use std::time::Duration;

    use futures_util::StreamExt;
    use tokio::time::timeout;

    use super::*;

    const LIMIT: u32 = 3;
    /// Only for asserting that something does *not* happen.
    const QUIET: Duration = Duration::from_millis(100);
    /// A bound on things that must happen, so a bug fails instead of hanging.
    const SOON: Duration = Duration::from_secs(5);

    fn broker() -> MemoryBroker {
        MemoryBroker::new(Topology::new("test", LIMIT))
    }

    fn job(id: &str) -> Outgoing {
        let mut headers = BTreeMap::new();
        headers.insert("x-test".to_string(), format!("h-{id}"));
        Outgoing {
            queue: Queue::Jobs,
            message_id: id.to_string(),
            correlation_id: "batch".to_string(),
            kind: "capacity_sync".to_string(),
            routing_key: "job.capacity_sync".to_string(),
            body: format!("body-{id}").into_bytes(),
            headers,
        }
    }

    async fn publish_jobs(broker: &MemoryBroker, ids: impl IntoIterator<Item = String>) {
        for id in ids {
            broker.publish(job(&id)).await.unwrap();
        }
    }

    async fn next(deliveries: &mut Deliveries) -> Delivery {
        timeout(SOON, deliveries.next())
            .await
            .expect("a delivery should arrive")
            .expect("the stream should not end")
            .expect("the delivery should not be an error")
    }

    async fn nothing_arrives(deliveries: &mut Deliveries) {
        if let Ok(item) = timeout(QUIET, deliveries.next()).await {
            panic!(
                "expected no delivery, got {:?}",
                item.map(|d| d.map(|d| d.meta))
            );
        }
    }

    fn id(delivery: &Delivery) -> String {
        delivery.meta.message_id.clone().unwrap()
    }

    #[tokio::test]
    async fn prefetch_bounds_unsettled_deliveries() {
        let broker = broker();
        publish_jobs(&broker, (0..5).map(|i| i.to_string())).await;
        let mut deliveries = broker.consume(Queue::Jobs, 2).await.unwrap();

        let first = next(&mut deliveries).await;
        let second = next(&mut deliveries).await;
        assert_eq!((id(&first), id(&second)), ("0".into(), "1".into()));
        nothing_arrives(&mut deliveries).await;
        assert_eq!(broker.unsettled(Queue::Jobs), 2);
        assert_eq!(broker.depth(Queue::Jobs), 3);

        first.settle(Disposition::Ack).await.unwrap();
        let third = next(&mut deliveries).await;
        assert_eq!(id(&third), "2");
        nothing_arrives(&mut deliveries).await;
        assert_eq!(broker.depth(Queue::Jobs), 2);
    }

    #[tokio::test]
    async fn a_waiting_consumer_is_woken_by_a_publish() {
        let broker = broker();
        let mut deliveries = broker.consume(Queue::Jobs, 1).await.unwrap();
        let waiting = tokio::spawn(async move { next(&mut deliveries).await.meta });
        tokio::task::yield_now().await;
        broker.publish(job("late")).await.unwrap();
        let meta = timeout(SOON, waiting).await.unwrap().unwrap();
        assert_eq!(meta.message_id.as_deref(), Some("late"));
        assert_eq!(meta.attempt, 1);
        assert_eq!(meta.body, b"body-late");
        assert_eq!(
            meta.headers.get("x-test").map(String::as_str),
            Some("h-late")
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn competing_consumers_get_each_message_exactly_once() {
        let broker = broker();
        let n = 100;
        publish_jobs(&broker, (0..n).map(|i| i.to_string())).await;

        let acked = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let done = CancellationToken::new();
        let mut consumers = Vec::new();
        for _ in 0..2 {
            let mut deliveries = broker.consume(Queue::Jobs, 3).await.unwrap();
            let (acked, done) = (acked.clone(), done.clone());
            consumers.push(tokio::spawn(async move {
                let mut seen = Vec::new();
                loop {
                    let delivery = tokio::select! {
                        _ = done.cancelled() => break,
                        next = timeout(SOON, deliveries.next()) => next.unwrap().unwrap().unwrap(),
                    };
                    assert_eq!(delivery.meta.attempt, 1);
                    seen.push(id(&delivery));
                    tokio::task::yield_now().await;
                    delivery.settle(Disposition::Ack).await.unwrap();
                    if acked.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1 == n {
                        done.cancel();
                    }
                }
                seen
            }));
        }
        let mut all = Vec::new();
        let mut per_consumer = Vec::new();
        for consumer in consumers {
            let seen = consumer.await.unwrap();
            per_consumer.push(seen.len());
            all.extend(seen);
        }
        let distinct: HashSet<_> = all.iter().cloned().collect();
        assert_eq!(
            all.len(),
            n,
            "no duplicates, none missing: {per_consumer:?}"
        );
        assert_eq!(distinct, (0..n).map(|i| i.to_string()).collect());
        assert_eq!(broker.depth(Queue::Jobs), 0);
        assert_eq!(broker.unsettled(Queue::Jobs), 0);
    }

    #[tokio::test]
    async fn retry_counts_attempts_then_dead_letters_at_the_limit() {
        let broker = broker();
        broker.publish(job("flaky")).await.unwrap();
        let mut deliveries = broker.consume(Queue::Jobs, 1).await.unwrap();
        for attempt in 1..=LIMIT {
            let delivery = next(&mut deliveries).await;
            assert_eq!(delivery.meta.attempt, attempt);
            assert_eq!(id(&delivery), "flaky");
            delivery.settle(Disposition::Retry).await.unwrap();
        }
        nothing_arrives(&mut deliveries).await;
        assert_eq!(broker.depth(Queue::Jobs), 0);

        let dead = broker.dead_letters();
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].message_id.as_deref(), Some("flaky"));
        assert_eq!(dead[0].body, b"body-flaky");
        assert_eq!(
            dead[0].headers.get(REASON_HEADER).map(String::as_str),
            Some("delivery limit reached (3)")
        );
        assert_eq!(
            dead[0].headers.get("x-test").map(String::as_str),
            Some("h-flaky")
        );

        // And it is consumable from the dead queue as a fresh message.
        let mut dead_deliveries = broker.consume(Queue::Dead, 1).await.unwrap();
        let delivery = next(&mut dead_deliveries).await;
        assert_eq!(delivery.meta.attempt, 1);
        assert_eq!(id(&delivery), "flaky");
    }

    #[tokio::test]
    async fn retry_goes_to_the_back_of_the_queue() {
        let broker = broker();
        publish_jobs(&broker, ["a".to_string(), "b".to_string()]).await;
        let mut deliveries = broker.consume(Queue::Jobs, 1).await.unwrap();
        let a = next(&mut deliveries).await;
        a.settle(Disposition::Retry).await.unwrap();
        let b = next(&mut deliveries).await;
        assert_eq!((id(&b), b.meta.attempt), ("b".into(), 1));
        b.settle(Disposition::Ack).await.unwrap();
        let a = next(&mut deliveries).await;
        assert_eq!((id(&a), a.meta.attempt), ("a".into(), 2));
    }

    #[tokio::test]
    async fn dead_letter_moves_the_message_with_its_reason() {
        let broker = broker();
        publish_jobs(&broker, ["bad".to_string(), "good".to_string()]).await;
        let mut deliveries = broker.consume(Queue::Jobs, 1).await.unwrap();
        let bad = next(&mut deliveries).await;
        bad.settle(Disposition::DeadLetter("bad json".into()))
            .await
            .unwrap();
        let good = next(&mut deliveries).await;
        assert_eq!(id(&good), "good");

        assert_eq!(broker.depth(Queue::Dead), 1);
        let dead = broker.dead_letters();
        assert_eq!(dead[0].message_id.as_deref(), Some("bad"));
        assert_eq!(
            dead[0].headers.get(REASON_HEADER).map(String::as_str),
            Some("bad json")
        );
        assert_eq!(dead[0].body, b"body-bad");
    }

    #[tokio::test]
    async fn hand_back_requeues_at_the_front_and_counts() {
        let broker = broker();
        publish_jobs(&broker, ["a".to_string(), "b".to_string()]).await;
        let mut deliveries = broker.consume(Queue::Jobs, 1).await.unwrap();
        let a = next(&mut deliveries).await;
        a.settle(Disposition::HandBack).await.unwrap();
        let a = next(&mut deliveries).await;
        assert_eq!((id(&a), a.meta.attempt), ("a".into(), 2));
        a.settle(Disposition::Ack).await.unwrap();
        assert!(broker.dead_letters().is_empty());
    }

    #[tokio::test]
    async fn a_delivery_dropped_unsettled_is_redelivered() {
        let broker = broker();
        publish_jobs(&broker, ["a".to_string(), "b".to_string()]).await;
        let mut deliveries = broker.consume(Queue::Jobs, 1).await.unwrap();
        let a = next(&mut deliveries).await;
        // As when the task holding it panics.
        let task = tokio::spawn(async move {
            let _a = a;
            panic!("the job panicked");
        });
        assert!(task.await.is_err());
        let again = next(&mut deliveries).await;
        assert_eq!(id(&again), "a");
        assert_eq!(again.meta.attempt, 2);
        assert_eq!(again.meta.body, b"body-a");
        assert_eq!(
            again.meta.headers.get("x-test").map(String::as_str),
            Some("h-a")
        );
    }

    #[tokio::test]
    async fn dropping_deliveries_unsettled_hits_the_delivery_limit_too() {
        let broker = broker();
        broker.publish(job("poison")).await.unwrap();
        let mut deliveries = broker.consume(Queue::Jobs, 1).await.unwrap();
        for attempt in 1..=LIMIT {
            let delivery = next(&mut deliveries).await;
            assert_eq!(delivery.meta.attempt, attempt);
            drop(delivery);
        }
        nothing_arrives(&mut deliveries).await;
        assert_eq!(broker.dead_letters().len(), 1);
    }

    #[tokio::test]
    async fn dropping_a_consumer_stream_loses_nothing() {
        let broker = broker();
        let n = 6;
        publish_jobs(&broker, (0..n).map(|i| i.to_string())).await;
        let mut deliveries = broker.consume(Queue::Jobs, 2).await.unwrap();
        let held = [next(&mut deliveries).await, next(&mut deliveries).await];
        // A third `next` waiting on the prefetch window when the stream goes.
        nothing_arrives(&mut deliveries).await;
        drop(deliveries);
        assert_eq!(broker.depth(Queue::Jobs), n - 2);
        assert_eq!(broker.unsettled(Queue::Jobs), 2);

        // Deliveries outlive their stream: one is still settled, one dropped.
        let [acked, dropped] = held;
        acked.settle(Disposition::Ack).await.unwrap();
        drop(dropped);
        assert_eq!(broker.depth(Queue::Jobs), n - 1);
        assert_eq!(broker.unsettled(Queue::Jobs), 0);

        let mut deliveries = broker.consume(Queue::Jobs, 10).await.unwrap();
        let mut seen = Vec::new();
        for _ in 0..n - 1 {
            let delivery = next(&mut deliveries).await;
            seen.push((id(&delivery), delivery.meta.attempt));
            delivery.settle(Disposition::Ack).await.unwrap();
        }
        nothing_arrives(&mut deliveries).await;
        let expected: Vec<_> = std::iter::once(("1".to_string(), 2))
            .chain((2..n).map(|i| (i.to_string(), 1)))
            .collect();
        assert_eq!(seen, expected);
    }

    #[tokio::test]
    async fn close_ends_every_stream() {
        let broker = broker();
        broker.publish(job("a")).await.unwrap();
        let mut busy = broker.consume(Queue::Jobs, 1).await.unwrap();
        let held = next(&mut busy).await;
        // One waiting for a message, one waiting on its prefetch window.
        let mut idle = broker.consume(Queue::Results, 1).await.unwrap();
        let idle = tokio::spawn(async move { idle.next().await.is_none() });
        let full = tokio::spawn(async move { busy.next().await.is_none() });
        tokio::task::yield_now().await;

        broker.close();
        assert!(timeout(SOON, idle).await.unwrap().unwrap());
        assert!(timeout(SOON, full).await.unwrap().unwrap());

        let mut late = broker.consume(Queue::Jobs, 1).await.unwrap();
        assert!(timeout(SOON, late.next()).await.unwrap().is_none());
        assert!(timeout(SOON, late.next()).await.unwrap().is_none());
        assert!(broker.publish(job("b")).await.is_err());

        // What was handed out can still be settled, and is kept.
        held.settle(Disposition::HandBack).await.unwrap();
        assert_eq!(broker.depth(Queue::Jobs), 1);
    }

    #[tokio::test]
    async fn publish_routes_by_queue_and_declare_is_a_no_op() {
        let broker = broker();
        broker.declare().await.unwrap();
        let mut result = job("r");
        result.queue = Queue::Results;
        broker.publish(result).await.unwrap();
        broker.publish(job("j")).await.unwrap();
        assert_eq!(broker.depth(Queue::Jobs), 1);
        assert_eq!(broker.depth(Queue::Results), 1);
        assert_eq!(broker.depth(Queue::Dead), 0);
        let as_trait: Arc<dyn Broker> = Arc::new(broker.clone());
        let mut results = as_trait.consume(Queue::Results, 1).await.unwrap();
        assert_eq!(id(&next(&mut results).await), "r");
    }
}
