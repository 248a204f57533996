//! The control store: instances and their credential references, inventory,
//! daily stats, batches of jobs, dead letters and instance leases.
//!
//! [`Store`] is a cheap handle on a pool (clone it freely) of PostgreSQL (the
//! fleet) or SQLite (embedded and tests). Each concept has its own small type
//! and file, reached from the store: [`Store::instances`],
//! [`Store::inventory`], [`Store::stats`], [`Store::capacity`], [`Store::batches`],
//! [`Store::dead_letters`], [`Store::leases`], [`Store::runs`],
//! [`Store::aggregates`], [`Store::alerts`]. Who may
//! change the schema, and what the others check, is in `schema.rs`.
//!
//! Every statement is written once and runs on both databases: the concept
//! files hold plain SQL and go through `db.rs`, the backend-neutral executor;
//! what the two dialects cannot share (value encodings, bulk rows, row
//! locks) is in `dialect/`. Only this module imports `sqlx` for the control
//! store; the rest of the program never sees SQL.

mod aggregates;
mod alerts;
mod batches;
mod cancel;
mod capacity;
mod changes;
mod connect;
mod credentials;
mod day_total;
mod db;
mod dead_letters;
mod dialect;
mod filing;
mod fold;
mod fold_rows;
mod growth;
mod idempotency;
mod import;
mod instances;
mod inventory;
mod leases;
mod one_trip;
mod outbox;
mod prune;
mod results;
mod retention;
mod retries;
mod role_leases;
mod runs;
mod schedules;
mod schema;
mod statement;
mod stats;
mod sync_runs;
mod syncs;
mod table_sizes;
mod tally;

use secrecy::ExposeSecret;

use crate::config::StoreSettings;
use db::Db;

pub use aggregates::{AggregateQuery, Aggregates, StoredAggregate};
pub use alerts::{AlertSend, AlertState, Alerts, NewTransition, StoredAlert};
pub use batches::{Batch, BatchStatus, Batches, JobRow, NewJob, Origin};
pub use cancel::Cancel;
pub use capacity::{Capacity, FleetDay, FleetFilter, LatestSize, SizeCursor};
pub use changes::BatchChanges;
pub use connect::validate_url;
pub use credentials::{Credential, Credentials, NewCredential, Put};
pub use dead_letters::{DeadLetter, DeadLetters};
pub use filing::Filing;
pub use fold::FinishedJob;
pub use growth::Growth;
pub use idempotency::{Claim, ClaimedBatch, IdempotencyKey, Keyed};
pub use import::{ImportOptions, ImportReport, ImportRow, Imported};
pub use instances::{Instance, Instances, NewInstance};
pub use inventory::Inventory;
pub use leases::Leases;
pub use outbox::{Outbox, Parked};
pub use results::Folded;
pub use retention::{Deleted, Maintained};
pub use retries::Retrying;
pub use role_leases::RoleLeases;
pub use runs::{HostSlot, Runs, Start, StartingJob};
pub use schedules::{ScheduleRun, ScheduleSlot, ScheduleState, Schedules};
pub use schema::{Migrated, Schema};
pub use stats::{InstanceTotal, StatRow, Stats, StoredStat, StoredUnmeasured, UnmeasuredRow};
pub use sync_runs::{RunFilter, SyncRun, SyncRuns};
pub use syncs::{Reconciled, StoredSync, Syncs};
pub use table_sizes::{FleetTable, StoredTable, TableRow, TableSizes, TableSnapshot};
pub use tally::Tally;

/// A control-store failure. The sqlx error is kept (typed, for callers that
/// look into it) but is not a `source()`: sqlx's messages already repeat
/// their own cause, so ours says it once, in `connect.rs`'s words.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store could not be opened; `endpoint` is its redacted URL.
    #[error("cannot open the control store {endpoint}: {}", connect::cause(.cause))]
    Connect {
        endpoint: String,
        cause: sqlx::Error,
    },
    #[error("control store: {}", connect::cause(.0))]
    Database(sqlx::Error),
    #[error("control store migration: {}", connect::migrate_cause(.0))]
    Migrate(sqlx::migrate::MigrateError),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
    /// A write waited longer than SQLite waits for its lock for this
    /// process's turn to write to the embedded store.
    #[error(
        "control store: database is locked: waited {} for this process's turn to write",
        humantime::format_duration(*.0)
    )]
    WriterBusy(std::time::Duration),
    #[error("unsupported store URL scheme; expected postgres://… or sqlite:…")]
    UnsupportedUrl,
    #[error("the control store has no schema yet: run `dbfleet migrate`")]
    SchemaMissing,
    #[error(
        "the control store's schema is at version {at}, and this dbfleet needs version \
         {needs}: run `dbfleet migrate` (the schema's owner upgrades it)"
    )]
    SchemaBehind { at: i64, needs: i64 },
    #[error(
        "migration {version} of the control store failed part-way: fix what stopped it, \
         then run `dbfleet migrate` again"
    )]
    SchemaDirty { version: i64 },
}

impl Error {
    fn is_unique_violation(&self) -> bool {
        matches!(self, Error::Database(sqlx::Error::Database(e)) if e.is_unique_violation())
    }

    /// Whether the server refused a statement (a constraint, a trigger, a
    /// type error), as opposed to the store being out of reach.
    fn is_refused(&self) -> bool {
        matches!(self, Error::Database(sqlx::Error::Database(_)))
    }

    /// Whether PostgreSQL could not run the statement as written (SQLSTATE
    /// class 42: a syntax error, an unknown column, a missing privilege).
    fn is_malformed(&self) -> bool {
        matches!(self, Error::Database(sqlx::Error::Database(e))
            if e.code().is_some_and(|code| code.starts_with("42")))
    }

    fn is_foreign_key_violation(&self) -> bool {
        matches!(self, Error::Database(sqlx::Error::Database(e)) if e.is_foreign_key_violation())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The control store: a handle on one pool, cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    db: Db,
}

impl Store {
    /// Open the store named by the settings: `postgres://…` or
    /// `postgresql://…` for PostgreSQL, `sqlite:…` for SQLite (its file and
    /// directory are created when missing).
    pub async fn connect(settings: &StoreSettings) -> Result<Store> {
        let Some(url) = settings.url.as_ref() else {
            return Err(Error::UnsupportedUrl);
        };
        let db = Db::connect(url.expose_secret(), settings.max_connections).await?;
        Ok(Store { db })
    }

    pub fn instances(&self) -> Instances<'_> {
        Instances { db: &self.db }
    }

    /// Whether the store answers (a readiness probe's check).
    pub async fn ping(&self) -> Result<()> {
        self.db
            .fetch_one("SELECT 1 AS one", db::args![])
            .await
            .map(|_| ())
    }

    pub fn credentials(&self) -> Credentials<'_> {
        Credentials { db: &self.db }
    }

    pub fn inventory(&self) -> Inventory<'_> {
        Inventory { db: &self.db }
    }

    pub fn stats(&self) -> Stats<'_> {
        Stats { db: &self.db }
    }

    pub fn capacity(&self) -> Capacity<'_> {
        Capacity { db: &self.db }
    }

    pub fn batches(&self) -> Batches<'_> {
        Batches { db: &self.db }
    }

    pub fn dead_letters(&self) -> DeadLetters<'_> {
        DeadLetters { db: &self.db }
    }

    pub fn leases(&self) -> Leases<'_> {
        Leases { db: &self.db }
    }

    pub fn runs(&self) -> Runs<'_> {
        Runs { db: &self.db }
    }

    pub fn outbox(&self) -> Outbox<'_> {
        Outbox { db: &self.db }
    }

    pub fn schedules(&self) -> Schedules<'_> {
        Schedules { db: &self.db }
    }

    pub fn table_sizes(&self) -> TableSizes<'_> {
        TableSizes { db: &self.db }
    }

    pub fn aggregates(&self) -> Aggregates<'_> {
        Aggregates { db: &self.db }
    }

    pub fn role_leases(&self) -> RoleLeases<'_> {
        RoleLeases { db: &self.db }
    }

    pub fn syncs(&self) -> Syncs<'_> {
        Syncs { db: &self.db }
    }

    pub fn sync_runs(&self) -> SyncRuns<'_> {
        SyncRuns { db: &self.db }
    }

    pub fn alerts(&self) -> Alerts<'_> {
        Alerts { db: &self.db }
    }
}
