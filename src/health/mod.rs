//! Health: the table of check states the responder reads, and the active
//! checker that writes it.
//!
//! - [`HealthTable`] (here): one flag per health check, written by the
//!   checker and read by the responder without locks.
//! - [`probe`]: one probe of one endpoint.
//! - [`state`]: the pure threshold/override/calculated state machine.
//! - [`checker`]: the scheduler that probes every check and publishes
//!   changes into the table.
//! - [`targets`]: where checks may aim, for declarations and probes alike.
//! - [`vote`]: the cluster's pure vote over every node's observation.
//!
//! Architecture invariant: the responder only ever reads this table; it
//! never waits for a check to run.

pub mod checker;
pub mod probe;
pub mod state;
pub mod targets;
pub mod vote;

pub use checker::{CheckStatus, Checker, OnChange};
pub use probe::{ProbeResult, Prober};
pub use state::{Seed, Transition, Verdict};
pub use targets::{Listener, Role, SharedPolicy, TargetPolicy};

use std::sync::atomic::{AtomicBool, Ordering};

use crate::snapshot::HealthId;

/// Current health of every check, indexed by [`HealthId`].
#[derive(Debug, Default)]
pub struct HealthTable {
    /// Written by the checker (and operator overrides), read by the responder.
    states: Box<[AtomicBool]>,
}

impl HealthTable {
    /// A table of `initial` states, one per check.
    pub fn new(initial: impl IntoIterator<Item = bool>) -> HealthTable {
        HealthTable {
            states: initial.into_iter().map(AtomicBool::new).collect(),
        }
    }

    /// Whether check `id` passes; unknown ids count as healthy.
    #[inline]
    pub fn is_healthy(&self, id: HealthId) -> bool {
        self.states
            .get(id as usize)
            .is_none_or(|s| s.load(Ordering::Relaxed))
    }

    /// Records a new state for check `id`.
    pub fn set(&self, id: HealthId, healthy: bool) {
        if let Some(s) = self.states.get(id as usize) {
            s.store(healthy, Ordering::Relaxed);
        }
    }

    /// Number of checks.
    pub fn len(&self) -> usize {
        self.states.len()
    }

    /// True when there are no checks.
    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }
}
