//! What the benchmarks share: their flags, the two sides of a batch (the
//! bare loop through the adapters and `dbfleet run`), and children of the
//! benchmark's own executable measured under `/usr/bin/time`.
//!
//! Each benchmark uses part of it, hence the `dead_code` allowance.

#![allow(dead_code)]

pub mod args;
pub mod child;
pub mod phases;
