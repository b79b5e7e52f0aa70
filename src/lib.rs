//! eightfold: an authoritative DNS server whose answers follow the health of
//! the endpoints behind them.
pub mod config;
pub mod diag;
pub mod model;
pub mod routing;
pub mod snapshot;
pub mod validate;
pub mod zonefile;
