//! Health: the table of check states the responder reads, and the active
//! checker that writes it.
//!
//! - [`HealthTable`] (here): one flag per health check, in the check's
//!   stable slot, written by the checker and read by the responder without
//!   locks.
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
pub use state::{Change, Seed, SlotChange, Transition, Verdict};
pub use targets::{Listener, Role, SharedPolicy, TargetPolicy};

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::snapshot::HealthId;

/// Slots per chunk of the [`HealthTable`].
const CHUNK: usize = 1024;
/// Chunks of the [`HealthTable`]: with [`CHUNK`], its capacity.
const CHUNKS: usize = 1024;
/// Most health checks that can exist at once (the table's slots).
pub const MAX_CHECKS: usize = CHUNK * CHUNKS;

/// Current health of every check, indexed by [`HealthId`] (a check's slot).
///
/// The table never moves: slots are allocated in chunks the first time one
/// is written, so adding a check never replaces the table, and a check
/// keeps its slot (and state) while other checks come and go. Written by
/// hand because the hot path needs a lock-free, allocation-free read of a
/// table that can still grow; one `OnceLock` per chunk is all it takes.
pub struct HealthTable {
    /// Written by the checker (and operator overrides), read by the responder.
    chunks: Box<[OnceLock<Box<[AtomicBool]>>]>,
}

impl std::fmt::Debug for HealthTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let chunks = self.chunks.iter().filter(|c| c.get().is_some()).count();
        f.debug_struct("HealthTable")
            .field("chunks", &chunks)
            .finish()
    }
}

impl Default for HealthTable {
    fn default() -> HealthTable {
        HealthTable {
            chunks: (0..CHUNKS).map(|_| OnceLock::new()).collect(),
        }
    }
}

impl HealthTable {
    /// A table whose first slots hold `initial`, the others healthy.
    pub fn new(initial: impl IntoIterator<Item = bool>) -> HealthTable {
        let table = HealthTable::default();
        for (id, healthy) in initial.into_iter().enumerate() {
            table.set(id as HealthId, healthy);
        }
        table
    }

    /// Whether check `id` passes; unused slots count as healthy.
    #[inline]
    pub fn is_healthy(&self, id: HealthId) -> bool {
        let i = id as usize;
        self.chunks
            .get(i / CHUNK)
            .and_then(OnceLock::get)
            .is_none_or(|c| c[i % CHUNK].load(Ordering::Relaxed))
    }

    /// Records a new state for check `id`; ids past [`MAX_CHECKS`] are
    /// ignored (the checker never hands them out).
    pub fn set(&self, id: HealthId, healthy: bool) {
        let i = id as usize;
        let Some(chunk) = self.chunks.get(i / CHUNK) else {
            return;
        };
        let chunk = chunk.get_or_init(|| (0..CHUNK).map(|_| AtomicBool::new(true)).collect());
        chunk[i % CHUNK].store(healthy, Ordering::Relaxed);
    }
}
