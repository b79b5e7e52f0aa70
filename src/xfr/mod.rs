//! Zone transfers. Outgoing: who may take them and whom to notify, and
//! the recent versions an IXFR is answered from (`journal`; the transfer
//! itself is wire work and lives with the TCP listener, `dns::transfer`).
//! Incoming: secondary zones (`secondary`), taken from their primaries
//! over the wire (`fetch`), their last copy kept on disk (`kept`).

pub mod acl;
pub mod fetch;
pub mod journal;
pub mod kept;
pub mod notify;
pub mod secondary;
pub mod serial;

pub use acl::{Rule, Settings, Transfers};
