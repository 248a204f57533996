//! dbfleet keeps the inventory and the daily capacity history of a fleet of
//! database instances, run as a message-queue driven worker fleet.
//!
//! # Layout
//!
//! - [`config`]: the YAML configuration, overridden from the environment.
//! - [`domain`]: validated ids and names.
//! - [`message`]: the versioned job and result messages, the only wire format.
//! - [`store`]: the control store (instances, inventory, stats, batches).
//! - [`broker`]: RabbitMQ topology, publishing with confirms, consuming.
//! - [`adapters`]: sessions on MySQL/MariaDB and PostgreSQL instances.
//! - [`filters`]: which databases are excluded from inventory and sizing.
//! - [`inventory`]: the inventory diff (created, refreshed, reactivated, deactivated).
//! - [`coordinator`]: one capacity sync of one instance.
//! - [`worker`]: consume jobs, run the coordinator, publish results.
//! - [`dispatcher`]: start batches: one job per active instance.
//! - [`aggregator`]: fold results into batch status; sweep lost jobs.
//! - [`telemetry`]: logging set-up.

pub mod adapters;
pub mod aggregator;
pub mod broker;
pub mod config;
pub mod coordinator;
pub mod dispatcher;
pub mod dlq;
pub mod domain;
pub mod filters;
pub mod fleet;
pub mod inventory;
pub mod message;
pub mod reconcile;
pub mod run;
pub mod secret;
pub mod store;
pub mod telemetry;
pub mod worker;
