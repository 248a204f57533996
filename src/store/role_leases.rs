//! Roles that one control plane holds at a time (the scheduler), so that
//! several `dbfleet serve` replicas on one store never do that work side by
//! side.
//!
//! Contract: a role is taken, renewed and handed over in one upsert, as an
//! instance lease is (`leases.rs`): concurrent takers serialize on the row,
//! the holder renews its own, and anyone takes one that has expired. A
//! holder that dies keeps the role only until `expires_at`.

use chrono::{DateTime, Utc};

use super::db::{args, Db};
use super::Result;

/// The role leases of a store ([`super::Store::role_leases`]).
pub struct RoleLeases<'a> {
    pub(super) db: &'a Db,
}

impl RoleLeases<'_> {
    /// Take or renew `role` for `holder` until `until`, unless another
    /// holder's lease is still unexpired at `now`; whether `holder` holds it.
    pub async fn hold(
        &self,
        role: &str,
        holder: &str,
        (until, now): (DateTime<Utc>, DateTime<Utc>),
    ) -> Result<bool> {
        let held = self
            .db
            .write_returning(
                "INSERT INTO role_leases AS r (role, holder, expires_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (role) DO UPDATE SET holder = excluded.holder, \
                     expires_at = excluded.expires_at \
                 WHERE r.holder = excluded.holder OR r.expires_at < $4 \
                 RETURNING holder",
                args![role, holder, until, now],
            )
            .await?;
        Ok(!held.is_empty())
    }

    /// Give `role` up, if `holder` holds it, so another takes it at once.
    pub async fn release(&self, role: &str, holder: &str) -> Result<()> {
        self.db
            .execute(
                "DELETE FROM role_leases WHERE role = $1 AND holder = $2",
                args![role, holder],
            )
            .await?;
        Ok(())
    }
}
