//! Invalidations that could not reach L2 (delete, tag bump, clear or publish failed), kept to be
//! replayed when L2 is back. While any are pending, L2 is not read: an old value there must never
//! be served after a writer's invalidation returned.

use std::collections::{BTreeSet, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;

/// Pending work, deduplicated: one entry per key or tag (the newest wins, as replaying is
/// idempotent), and a whole-namespace clear that replaces everything once the bound is hit.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Pending {
    pub(crate) keys: HashSet<String>,
    pub(crate) tags: BTreeSet<String>,
    pub(crate) clear: bool,
}

impl Pending {
    pub(crate) fn len(&self) -> usize {
        self.keys.len() + self.tags.len() + usize::from(self.clear)
    }

    fn merge(&mut self, other: Pending, limit: usize) {
        if other.clear || self.clear {
            // A clear covers every key; tags still need their versions bumped so L1s elsewhere
            // (which only learn through the backplane) drop their copies.
            self.clear = true;
            self.keys.clear();
        } else {
            self.keys.extend(other.keys);
        }
        self.tags.extend(other.tags);
        if self.len() > limit {
            self.clear = true;
            self.keys.clear();
            self.tags.clear();
        }
    }
}

/// The journal of pending invalidations.
#[derive(Debug)]
pub(crate) struct PendingInvalidations {
    pending: Mutex<Pending>,
    non_empty: AtomicBool,
    limit: usize,
}

impl PendingInvalidations {
    pub(crate) fn new(limit: usize) -> Self {
        PendingInvalidations {
            pending: Mutex::new(Pending::default()),
            non_empty: AtomicBool::new(false),
            limit: limit.max(1),
        }
    }

    /// Cheap check for the read path.
    pub(crate) fn any(&self) -> bool {
        self.non_empty.load(Ordering::Acquire)
    }

    pub(crate) fn add(&self, item: Pending) -> usize {
        let mut p = self.pending.lock();
        p.merge(item, self.limit);
        self.non_empty.store(p.len() > 0, Ordering::Release);
        p.len()
    }

    /// Takes everything pending (to replay); what fails goes back with [`add`](Self::add).
    pub(crate) fn take(&self) -> Pending {
        let mut p = self.pending.lock();
        let out = std::mem::take(&mut *p);
        self.non_empty.store(false, Ordering::Release);
        out
    }

    pub(crate) fn len(&self) -> usize {
        self.pending.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> Pending {
        Pending {
            keys: [k.to_string()].into(),
            ..Default::default()
        }
    }

    #[test]
    fn deduplicates_and_escalates_to_clear_past_the_bound() {
        let j = PendingInvalidations::new(3);
        j.add(key("a"));
        j.add(key("a"));
        assert_eq!(j.len(), 1);
        j.add(key("b"));
        j.add(key("c"));
        assert_eq!(j.len(), 3);
        j.add(key("d"));
        let p = j.take();
        assert!(p.clear && p.keys.is_empty());
        assert!(!j.any());
    }
}
