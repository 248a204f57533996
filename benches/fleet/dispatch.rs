//! Dispatch: `N` jobs through dbfleet against raw lapin publishing the
//! same `N` messages (same bodies, properties, exchange, routing key and
//! queue) with the same confirm window, on one confirm-mode channel.
//!
//! Two dbfleet figures: the whole dispatch (`dispatcher::start_batch`:
//! select the instances, write the batch and its jobs in one transaction,
//! publish every job with a confirm), and its publishing alone (the same
//! messages through `Broker::publish`, the window the dispatcher uses).
//! Each of the three publishes into a fresh world's empty jobs queue; the
//! whole dispatch runs after a warm-up batch of one job (one message in
//! the queue), as in a control plane that has been up.

use std::time::Instant;

use dbfleet::broker::{Broker, Outgoing};
use dbfleet::domain::{BatchId, JobId};
use dbfleet::fleet::dispatcher::{self, BatchRequest, Selection};
use dbfleet::message::{InstanceDetails, InstanceRef, JobKind, JobMessage, JobParams, Target};
use futures_util::{stream, StreamExt};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::BasicProperties;

use crate::common::AMQP;
use crate::table::{Row, Series};
use crate::world::World;

/// The dispatcher's confirm window (`PUBLISH_WINDOW` in `fleet/dispatcher.rs`).
pub const WINDOW: usize = 64;

/// Seconds for each: (start_batch, Broker::publish alone, raw lapin), each
/// in a world of its own, so none publishes into a queue another used.
pub async fn dispatch(instances: usize) -> (f64, f64, f64) {
    let raw = {
        let world = World::create(instances).await;
        let messages = jobs(&world.store().await).await;
        let secs = raw_lapin(&world, &messages).await;
        world.teardown().await;
        secs
    };
    let whole = {
        let world = World::create(instances).await;
        let store = world.store().await;
        let request = BatchRequest {
            params: &dbfleet::message::JobParams::default_for(JobKind::CapacitySync),
            selection: Selection::AllActive,
            deadline: world.settings.batch.deadline,
            requested_by: Some("bench"),
            interactive: false,
        };
        warm_up(&store, world.broker.as_ref(), &request).await;
        let started = Instant::now();
        dispatcher::start_batch(&store, world.broker.as_ref(), &request)
            .await
            .unwrap();
        let secs = started.elapsed().as_secs_f64();
        drop(store);
        world.teardown().await;
        secs
    };
    let publishing = {
        let world = World::create(instances).await;
        let messages = jobs(&world.store().await).await;
        let started = Instant::now();
        publish(world.broker.as_ref(), &messages).await;
        let secs = started.elapsed().as_secs_f64();
        world.teardown().await;
        secs
    };
    (whole, publishing, raw)
}

/// A batch of one job first, as a control plane that has been up has done:
/// its connections are open and its statements prepared, which the raw
/// lapin baseline does not pay for either (its connection and channel are
/// opened before its clock starts).
async fn warm_up(store: &dbfleet::store::Store, broker: &dyn Broker, request: &BatchRequest<'_>) {
    let first = store.instances().list().await.unwrap().remove(0).name;
    let names = [first];
    let one = BatchRequest {
        selection: Selection::Named(&names),
        ..*request
    };
    dispatcher::start_batch(store, broker, &one).await.unwrap();
}

/// One job per instance, as the dispatcher builds them.
async fn jobs(store: &dbfleet::store::Store) -> Vec<Outgoing> {
    let deadline = chrono::Utc::now() + chrono::Duration::hours(6);
    let batch = BatchId::new();
    let instances = store.instances().list().await.unwrap();
    instances
        .iter()
        .map(|i| {
            let job = JobMessage {
                details: Some(InstanceDetails {
                    name: i.name.clone(),
                    engine: i.db_type,
                    host: i.host.clone(),
                    port: i.port,
                    database: i.database.clone(),
                    username: i.username.clone(),
                    auth: i.password.clone(),
                    tls: Some(i.tls.clone()),
                    cluster: None,
                }),
                ..JobMessage::new(
                    JobId::new(),
                    Some(batch),
                    Target::Instance(InstanceRef::Id(i.id)),
                    JobParams::default_for(JobKind::CapacitySync),
                    deadline,
                    Some("bench".into()),
                )
            };
            Outgoing::job(&job)
        })
        .collect()
}

async fn publish(broker: &dyn Broker, messages: &[Outgoing]) {
    stream::iter(messages.iter().cloned())
        .map(|m| async move { broker.publish(m).await.unwrap() })
        .buffer_unordered(WINDOW)
        .collect::<Vec<()>>()
        .await;
}

/// The same messages with lapin alone; seconds.
async fn raw_lapin(world: &World, messages: &[Outgoing]) -> f64 {
    let conn = lapin::Connection::connect(AMQP, Default::default())
        .await
        .unwrap();
    let channel = conn.create_channel().await.unwrap();
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let exchange = world.settings.broker.prefix.clone();
    let started = Instant::now();
    stream::iter(messages)
        .map(|m| {
            let (channel, exchange) = (&channel, &exchange);
            async move {
                let options = BasicPublishOptions {
                    mandatory: true,
                    ..BasicPublishOptions::default()
                };
                let confirm = channel
                    .basic_publish(exchange, &m.routing_key, options, &m.body, properties(m))
                    .await
                    .unwrap();
                assert!(confirm.await.unwrap().is_ack());
            }
        })
        .buffer_unordered(WINDOW)
        .collect::<Vec<()>>()
        .await;
    let secs = started.elapsed().as_secs_f64();
    let _ = conn.close(200, "bye").await;
    secs
}

fn properties(m: &Outgoing) -> BasicProperties {
    let mut headers = FieldTable::default();
    for (key, value) in &m.headers {
        headers.insert(
            key.as_str().into(),
            AMQPValue::LongString(value.as_str().into()),
        );
    }
    BasicProperties::default()
        .with_message_id(m.message_id.as_str().into())
        .with_user_id("guest".into())
        .with_correlation_id(m.correlation_id.as_str().into())
        .with_type(m.kind.as_str().into())
        .with_content_type("application/json".into())
        .with_delivery_mode(2)
        .with_timestamp(chrono::Utc::now().timestamp() as u64)
        .with_headers(headers)
}

/// One run of the dispatch section at size `n`: rates in jobs per second.
pub fn measure(rt: &tokio::runtime::Runtime, n: usize, series: &mut Series) {
    let (whole, publishing, raw) = rt.block_on(dispatch(n));
    eprintln!(
        "  N={n}: start_batch {whole:.3}s, Broker::publish {publishing:.3}s, raw lapin {raw:.3}s"
    );
    series.push("dispatch", n, n as f64 / whole);
    series.push("publish", n, n as f64 / publishing);
    series.push("raw", n, n as f64 / raw);
}

pub fn rows(series: &Series, n: usize) -> Vec<Row> {
    let raw = series.get("raw", n);
    let rate = |name: &'static str, figure: &str| {
        Row::new(figure, n, "jobs/s", series.get(name, n))
            .baseline("raw lapin", series.get(name, n), raw)
            .target("≥ 0.80×")
    };
    vec![
        Row::new(
            &format!("dispatch: raw lapin, window {WINDOW}"),
            n,
            "jobs/s",
            raw,
        ),
        rate("dispatch", "dispatch: `start_batch` (store + publish)"),
        rate("publish", "dispatch: its publishing alone"),
    ]
}
