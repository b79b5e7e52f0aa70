//! Outgoing zone transfers (RFC 5936 AXFR; IXFR answered with the whole
//! zone, as RFC 1995 §4 allows a server that keeps no history) and who may
//! take them.

pub mod acl;

pub use acl::{Rule, Settings, Transfers};
