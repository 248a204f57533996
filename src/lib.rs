//! dbfleet keeps the inventory and the daily capacity history of a fleet of
//! database instances, run as a message-queue driven worker fleet.
//!
//! # Layout
//!
//! - [`alerts`]: rules over the store, their state, and notifications by
//!   webhook and e-mail.
//! - [`api`]: the JSON HTTP API that `dbfleet serve` answers.
//! - [`config`]: the YAML configuration, overridden from the environment.
//! - [`domain`], [`secret`]: validated ids and names; password references.
//! - [`endpoint`]: a server's URL as errors may show it, and why a
//!   connection failed.
//! - [`message`]: the versioned job envelope, one module per kind's params
//!   and output; the only wire format.
//! - [`jobs`]: what each kind of job does, behind one trait.
//! - [`store`]: the control store, one type per concept.
//! - [`broker`]: RabbitMQ and the in-process queue; the one consume loop.
//! - [`adapters`]: sessions on MySQL/MariaDB and PostgreSQL instances.
//! - [`filters`], [`inventory`]: which databases count; the inventory diff.
//! - [`fleet`]: the roles (worker, aggregator, dispatcher) and how the
//!   programs assemble them.
//! - [`reconcile`]: declared instances into the store.
//! - [`import`]: a file of instances (YAML or CSV) read and checked, to
//!   register at once.
//! - [`lifecycle`]: signals and the named tasks of a process.
//! - [`telemetry`]: logging set-up.
//! - [`tls`]: an instance's TLS mode in each engine's words, and its
//!   certificate file references.

pub mod adapters;
pub mod aggregate;
pub mod alerts;
pub mod api;
pub mod broker;
pub mod config;
pub mod domain;
pub mod endpoint;
pub mod filters;
pub mod fleet;
pub mod forecast;
pub mod import;
pub mod inventory;
pub mod jobs;
pub mod labels;
pub mod lifecycle;
pub mod message;
pub mod metrics;
pub mod reconcile;
pub mod retry;
pub mod schedule;
pub mod secret;
pub mod store;
pub mod sync;
pub mod telemetry;
pub mod tls;
pub mod traces;
