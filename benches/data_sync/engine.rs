//! dbfleet's side: `run_table` as a data sync job calls it (fresh
//! sessions, mode full, batch 5,000), a verification pass, and the engine's
//! keyset read alone, which splits a copy's time into reading and writing.

use std::time::Duration;

use dbfleet::adapters::sync::{Role, Scan};
use dbfleet::domain::DbType;
use dbfleet::jobs::data_sync::table::{run_table, TableJob};
use dbfleet::message::data_sync::{RunStatus, TableRun};
use dbfleet::sync::{SyncMode, TableSpec};

use crate::world::{World, TABLE};

pub const BATCH: u32 = 5000;

fn spec() -> TableSpec {
    TableSpec {
        name: TABLE.to_string(),
        target: None,
        key: Vec::new(),
        cursor: Vec::new(),
    }
}

fn job<'a>(spec: &'a TableSpec, target: &str, verify_only: bool) -> TableJob<'a> {
    TableJob {
        definition: "bench",
        spec,
        target_label: format!("bench/{target}"),
        mode: SyncMode::Full,
        mirror: false,
        batch_size: BATCH,
        initial_days: 36_500,
        settle: Duration::ZERO,
        verify: false,
        verify_only,
        repair: false,
        max_rejected_rows: 0,
        rows_per_second: None,
        max_gap: None,
        lock_wait: Duration::ZERO,
        source_slots: None,
    }
}

/// One full sync into the target on `engine`; returns the rows applied.
pub async fn full(world: &World, engine: DbType) -> u64 {
    let run = run(world, engine, false).await;
    assert_eq!(run.status, RunStatus::Success, "{:?}", run.error);
    run.rows_applied
}

/// One verification pass of the PostgreSQL target; every chunk must match.
pub async fn verify(world: &World) -> u64 {
    let run = run(world, DbType::Postgresql, true).await;
    assert_eq!(run.status, RunStatus::Success, "{:?}", run.error);
    let v = run.verification.expect("a verification");
    assert!(v.chunks > 0 && v.matched == v.chunks, "{v:?}");
    v.chunks
}

async fn run(world: &World, engine: DbType, verify_only: bool) -> TableRun {
    let target_db = match engine {
        DbType::Postgresql => &world.pg_target,
        DbType::Mysql => &world.my_target,
    };
    let spec = spec();
    let job = job(&spec, target_db, verify_only);
    let mut source = world
        .session(DbType::Postgresql, &world.source, Role::Source)
        .await;
    let mut target = world.session(engine, target_db, Role::Target).await;
    let run = run_table(&mut source, &mut target, &job).await;
    source.close().await;
    target.close().await;
    run
}

/// The pages a full copy reads, read and dropped: the copy's read side.
/// Returns the rows read.
pub async fn scan(world: &World) -> u64 {
    let mut source = world
        .session(DbType::Postgresql, &world.source, Role::Source)
        .await;
    let shape = source
        .shape(TABLE)
        .await
        .unwrap()
        .expect("the source table");
    let key: Vec<_> = shape
        .columns
        .iter()
        .filter(|c| shape.key.contains(&c.name))
        .collect();
    let key_at = shape.position(&shape.key[0]).unwrap();
    let (mut after, mut read) = (None::<Vec<String>>, 0u64);
    loop {
        let scan = Scan {
            select: shape.columns.iter().collect(),
            order: key.clone(),
            after: after.as_deref(),
            limit: Some(BATCH),
            ..Scan::new(TABLE)
        };
        let rows = source.read(&scan).await.unwrap();
        read += rows.len() as u64;
        if rows.len() < BATCH as usize {
            break;
        }
        let last = rows.last().and_then(|r| r[key_at].clone());
        after = Some(vec![last.unwrap()]);
    }
    source.close().await;
    read
}
