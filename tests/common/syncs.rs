//! A sync definition's run started as `dbfleet sync run` starts it.

use dbfleet::fleet::dispatcher::{self, BatchRequest, Selection};
use dbfleet::fleet::sync::{self, SyncRequest};
use dbfleet::store::Batch;

use super::World;

/// Start `definition`'s batch (one job per target instance), without
/// waiting for it.
pub async fn start_sync(world: &World, definition: &str) -> Batch {
    let stored = world.store.syncs().get(definition).await.unwrap();
    let request = SyncRequest {
        definition,
        ..SyncRequest::default()
    };
    let plan = sync::plan(stored.as_ref(), &request).unwrap();
    let request = BatchRequest {
        params: &plan.params,
        selection: Selection::Named(&plan.instances),
        deadline: world.settings.batch.deadline,
        requested_by: Some("test"),
        interactive: false,
    };
    dispatcher::start_batch(&world.store, world.broker.as_ref(), &request)
        .await
        .unwrap()
}
