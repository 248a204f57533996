//! `data_sync`: keep the backups of a sync definition in step with its source.
pub mod table;
