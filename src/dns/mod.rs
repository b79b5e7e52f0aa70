//! DNS on the wire: the query handler and the UDP and TCP listeners.
//!
//! Architecture invariant: nothing here touches the store or the API; the
//! listeners read only the published snapshot and health table.
pub mod cookie;
pub mod handler;
pub mod listen;
pub mod notified;
pub mod rrl;
pub mod signed;
pub mod tcp;
pub mod transfer;
pub mod udp;
pub mod update;
