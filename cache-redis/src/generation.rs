//! The namespace generation this instance knows, cached in memory so reads need no extra trip,
//! and the epoch that counts its changes (see [`record::token`](crate::record::token)).
//!
//! Generations are the time-based versions of [`versions`](crate::versions): created as "now"
//! by whichever instance first finds the record missing, and only ever adopted forward.

use std::sync::atomic::{AtomicU64, Ordering};

/// The last generation read from Redis, or unknown.
///
/// Stored as `generation + 1` so that 0 means "unknown": reads then fetch it before touching a
/// value, rather than guess and risk reading a generation that was cleared.
#[derive(Debug, Default)]
pub(crate) struct KnownGeneration {
    current: AtomicU64,
    /// The newest generation ever adopted, kept across [`forget`](Self::forget).
    newest: AtomicU64,
    /// How many times the newest generation moved forward.
    epoch: AtomicU64,
}

impl KnownGeneration {
    /// The generation, if known.
    pub(crate) fn get(&self) -> Option<u64> {
        match self.current.load(Ordering::Acquire) {
            0 => None,
            n => Some(n - 1),
        }
    }

    /// Adopts `generation` unless a newer one is already known: generations only move forward,
    /// so a slow read can never take the instance back to a cleared generation.
    pub(crate) fn adopt(&self, generation: u64) -> u64 {
        let before = self.newest.fetch_max(generation, Ordering::AcqRel);
        if generation > before {
            self.epoch.fetch_add(1, Ordering::AcqRel);
        }
        let generation = generation.max(before);
        let stored = generation.saturating_add(1);
        let previous = self.current.fetch_max(stored, Ordering::AcqRel);
        previous.max(stored) - 1
    }

    /// The newest generation ever adopted, even after [`forget`](Self::forget) (0 if none).
    pub(crate) fn floor(&self) -> u64 {
        self.newest.load(Ordering::Acquire)
    }

    /// How many times the generation moved forward: a load that read its key under one epoch
    /// must not store under another (its value may predate a clear).
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Marks the generation unknown after a refresh that should have happened failed.
    pub(crate) fn forget(&self) {
        self.current.store(0, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_unknown_and_only_moves_forward() {
        let g = KnownGeneration::default();
        assert_eq!(g.get(), None);
        assert_eq!(g.adopt(0), 0);
        assert_eq!(g.epoch(), 0);
        assert_eq!(g.get(), Some(0));
        assert_eq!(g.adopt(5), 5);
        assert_eq!(g.epoch(), 1);
        assert_eq!(g.adopt(3), 5);
        assert_eq!(g.adopt(5), 5);
        assert_eq!(g.epoch(), 1, "only a newer generation is a new epoch");
        assert_eq!(g.get(), Some(5));
        g.forget();
        assert_eq!(g.get(), None);
        assert_eq!(g.floor(), 5);
        assert_eq!(g.adopt(4), 5, "a stale read after forget cannot go back");
        assert_eq!(g.adopt(6), 6);
    }
}
