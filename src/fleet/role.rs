//! A role that one control plane holds at a time among `dbfleet serve`
//! replicas (the scheduler's), through the store's role lease: renewed on
//! each turn of the loop that needs it, given up when that loop stops, and
//! taken by another replica once its holder has not renewed it for
//! [`ROLE_TTL`].

use chrono::Utc;

use crate::store::Store;

/// How long a role outlives its holder's last renewal: a replica that dies
/// hands the role to another within this, well inside a schedule's grace.
const ROLE_TTL: chrono::Duration = chrono::Duration::seconds(15);

/// One control plane's claim on a role.
pub(super) struct Role {
    store: Store,
    role: &'static str,
    holder: String,
    held: bool,
}

impl Role {
    pub(super) fn new(store: Store, role: &'static str, holder: String) -> Self {
        Self {
            store,
            role,
            holder,
            held: false,
        }
    }

    /// Take or renew the role; whether this control plane holds it now. A
    /// change is logged; a store that does not answer means not holding.
    pub(super) async fn renew(&mut self) -> bool {
        let now = Utc::now();
        let leases = self.store.role_leases();
        let holds = match leases
            .hold(self.role, &self.holder, (now + ROLE_TTL, now))
            .await
        {
            Ok(holds) => holds,
            Err(e) => {
                tracing::warn!(role = self.role, error = %e, "cannot renew the role");
                false
            }
        };
        if holds != self.held {
            tracing::info!(role = self.role, holder = %self.holder, holds, "the role changed hands");
        }
        self.held = holds;
        holds
    }

    /// Give the role up, if held, so another replica takes it at once.
    pub(super) async fn release(self) {
        if !self.held {
            return;
        }
        if let Err(e) = self
            .store
            .role_leases()
            .release(self.role, &self.holder)
            .await
        {
            tracing::warn!(role = self.role, error = %e, "role not released; it expires on its own");
        }
    }
}
