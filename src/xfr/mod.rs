//! Outgoing zone transfers: who may take them and whom to notify. The
//! transfer itself is wire work and lives with the TCP listener
//! (`dns::transfer`).

pub mod acl;
pub mod notify;
pub mod serial;

pub use acl::{Rule, Settings, Transfers};
