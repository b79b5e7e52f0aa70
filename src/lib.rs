//! eightfold: an authoritative DNS server whose answers follow the health of
//! the endpoints behind them.
pub mod api;
pub mod app;
pub mod cluster;
pub mod config;
pub mod demo;
pub mod diag;
pub mod dns;
pub mod geo;
pub mod health;
pub mod input;
pub mod interfaces;
pub mod lint;
pub mod metrics;
pub mod model;
pub mod nameservers;
pub mod publish;
pub mod rlimit;
pub mod routing;
pub mod service;
pub mod snapshot;
pub mod store;
pub mod tsig;
pub mod update;
pub mod validate;
pub mod xfr;
pub mod zonefile;
