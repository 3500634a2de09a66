//! Invalidations that could not reach L2 (delete, tag bump, clear or publish failed), kept to be
//! replayed when L2 is back. While any are pending, L2 is not read: an old value there must never
//! be served after a writer's invalidation returned.
//!
//! An item leaves the journal only when its replay is confirmed, and only if it was not added
//! again meanwhile (each addition gets a new sequence number), so a replay cut short by a
//! cancelled caller loses nothing, and a newer invalidation of a key is never confirmed by an
//! older delete.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;

/// One pending invalidation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum PendingItem {
    Key(String),
    Tag(String),
    Clear,
}

#[derive(Debug, Default)]
struct Journal {
    /// Each item's sequence number, and whether an attempt to apply it has failed.
    items: HashMap<PendingItem, (u64, bool)>,
    next_seq: u64,
}

/// The journal of pending invalidations: one entry per key, tag or clear (the newest wins),
/// collapsing into one clear of the namespace once over its bound.
#[derive(Debug)]
pub(crate) struct PendingInvalidations {
    journal: Mutex<Journal>,
    non_empty: AtomicBool,
    limit: usize,
}

impl PendingInvalidations {
    pub(crate) fn new(limit: usize) -> Self {
        PendingInvalidations {
            journal: Mutex::new(Journal::default()),
            non_empty: AtomicBool::new(false),
            limit: limit.max(1),
        }
    }

    /// Cheap check for the read path.
    pub(crate) fn any(&self) -> bool {
        self.non_empty.load(Ordering::Acquire)
    }

    /// Adds `item`; returns how many are pending.
    pub(crate) fn add(&self, item: PendingItem) -> usize {
        let mut j = self.journal.lock();
        j.next_seq += 1;
        let seq = j.next_seq;
        let failed = j.items.get(&item).is_some_and(|(_, f)| *f);
        j.items.insert(item, (seq, failed));
        if j.items.len() > self.limit {
            // A clear covers every key and tag: bounded memory, nothing old survives.
            j.items.clear();
            j.items.insert(PendingItem::Clear, (seq, true));
        }
        self.non_empty.store(true, Ordering::Release);
        j.items.len()
    }

    /// What to replay, clear first: each item with the sequence number to confirm it with and
    /// whether an earlier attempt failed.
    pub(crate) fn snapshot(&self) -> Vec<(PendingItem, u64, bool)> {
        let j = self.journal.lock();
        let mut items: Vec<(PendingItem, u64, bool)> = j
            .items
            .iter()
            .map(|(i, (s, f))| (i.clone(), *s, *f))
            .collect();
        items.sort_by_key(|(i, s, _)| (!matches!(i, PendingItem::Clear), *s));
        items
    }

    /// The sequence number `item` is pending under and whether an attempt failed, if pending.
    pub(crate) fn entry(&self, item: &PendingItem) -> Option<(u64, bool)> {
        self.journal.lock().items.get(item).copied()
    }

    /// Records that applying `item` failed (so its later success counts as a replay).
    pub(crate) fn mark_failed(&self, item: &PendingItem, seq: u64) {
        if let Some((s, failed)) = self.journal.lock().items.get_mut(item) {
            if *s == seq {
                *failed = true;
            }
        }
    }

    /// Marks `item` replayed, unless it was added again after `seq`.
    pub(crate) fn confirm(&self, item: &PendingItem, seq: u64) {
        let mut j = self.journal.lock();
        if j.items.get(item).is_some_and(|(s, _)| *s == seq) {
            j.items.remove(item);
        }
        self.non_empty.store(!j.items.is_empty(), Ordering::Release);
    }

    pub(crate) fn len(&self) -> usize {
        self.journal.lock().items.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> PendingItem {
        PendingItem::Key(k.to_string())
    }

    #[test]
    fn deduplicates_and_escalates_to_clear_past_the_bound() {
        let j = PendingInvalidations::new(3);
        j.add(key("a"));
        j.add(key("a"));
        assert_eq!(j.len(), 1);
        j.add(key("b"));
        j.add(PendingItem::Tag("t".into()));
        assert_eq!(j.len(), 3);
        j.add(key("d"));
        let items = j.snapshot();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].0, PendingItem::Clear);
    }

    #[test]
    fn only_confirmed_items_leave_and_a_newer_addition_survives_an_older_confirmation() {
        let j = PendingInvalidations::new(10);
        j.add(key("a"));
        j.add(key("b"));
        let snap = j.snapshot();
        j.add(key("a")); // added again while the replay runs
        for (item, seq, _) in &snap {
            j.confirm(item, *seq);
        }
        assert!(j.any());
        let left = j.snapshot();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].0, key("a"));
        j.confirm(&left[0].0, left[0].1);
        assert!(!j.any());
    }

    #[test]
    fn entry_gives_the_latest_sequence_number_and_the_failed_flag() {
        let j = PendingInvalidations::new(10);
        assert_eq!(j.entry(&key("a")), None, "not pending");
        j.add(key("b"));
        j.add(key("a"));
        let (seq, failed) = j.entry(&key("a")).expect("pending");
        assert!(!failed, "no attempt has failed yet");
        assert_eq!(
            j.snapshot()[1],
            (key("a"), seq, false),
            "what the replay confirms with"
        );
        assert!(seq > j.entry(&key("b")).expect("pending").0, "added later");
        j.add(key("a"));
        assert!(
            j.entry(&key("a")).expect("pending").0 > seq,
            "a new addition, a new number"
        );
    }

    #[test]
    fn a_failure_is_marked_only_on_the_addition_it_belongs_to() {
        let j = PendingInvalidations::new(10);
        j.add(key("a"));
        let (old, _) = j.entry(&key("a")).expect("pending");
        j.add(key("a"));
        let (new, _) = j.entry(&key("a")).expect("pending");
        j.mark_failed(&key("a"), old);
        assert_eq!(
            j.entry(&key("a")),
            Some((new, false)),
            "an attempt on the older addition says nothing about the newer one"
        );
        j.mark_failed(&key("a"), new);
        assert_eq!(j.entry(&key("a")), Some((new, true)));
        j.add(key("a"));
        assert!(
            j.entry(&key("a")).expect("pending").1,
            "added again after a failure: its success will count as a replay"
        );
        j.mark_failed(&key("never-added"), 1);
        assert_eq!(j.entry(&key("never-added")), None);
    }

    #[test]
    fn clear_is_replayed_first() {
        let j = PendingInvalidations::new(10);
        j.add(key("a"));
        j.add(PendingItem::Clear);
        assert_eq!(j.snapshot()[0].0, PendingItem::Clear);
    }
}
