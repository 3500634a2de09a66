//! L1's front: per thread, the entries this thread hit last, so that a repeated hit reads no
//! shared lock.
//!
//! A hit through quick_cache takes its shard's read lock: two atomic writes to a word every
//! core reading that shard shares, which is what two threads on one hot key fight over. The
//! front is a small table per thread, of sets of two (allocated on the thread's first hit), that
//! holds the entries found by the thread's last hits. It never decides alone: an entry found
//! here counts only while its L1 has not changed since it was put here (the L1's `epoch`,
//! bumped after every insert, remove and clear), and the caller still checks its deadlines and
//! tags. A lookup here writes nothing shared.
//!
//! What it costs: each thread keeps up to [`SETS`] × [`WAYS`] (256) entries alive after L1
//! dropped them (an eviction, an invalidation, a `clear`, or the cache itself dropped) until a
//! later hit replaces them or the thread exits. With a byte budget, only entries of up to
//! [`MAX_WEIGHT`] bytes enter the front, so the memory it keeps beyond the budget stays small.

use std::cell::{Cell, RefCell};
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

use crate::l1::L1Entry;

/// Sets per thread ([`WAYS`] entries each: two keys that meet in one set both stay). A power of
/// two (the set is taken from the hash's top bits).
const SETS: usize = 128;
/// Entries per set.
const WAYS: usize = 2;
/// log2 of [`SETS`].
const SET_BITS: u32 = SETS.trailing_zeros();
/// With a byte budget, the heaviest entry (its weight: estimated bytes) the front keeps.
pub(crate) const MAX_WEIGHT: u64 = 4096;

/// One remembered entry: which L1 it came from, and that L1's epoch when it was found there.
struct Slot {
    owner: u64,
    epoch: u64,
    entry: Option<Arc<L1Entry>>,
}

impl Slot {
    const EMPTY: Slot = Slot {
        owner: 0,
        epoch: 0,
        entry: None,
    };

    /// The entry, when it is `key`'s in L1 `owner` at `epoch`.
    #[inline(always)]
    fn entry_for(&self, owner: u64, epoch: u64, key: &[u8]) -> Option<&L1Entry> {
        let entry = self.entry.as_deref()?;
        (self.owner == owner && self.epoch == epoch && entry.has_key(key)).then_some(entry)
    }

    /// Whether this slot holds an entry of L1 `owner` at `epoch` (one that still counts).
    #[inline(always)]
    fn current(&self, owner: u64, epoch: u64) -> bool {
        self.entry.is_some() && self.owner == owner && self.epoch == epoch
    }
}

/// A set: the most recently remembered entry first.
type Set = [Slot; WAYS];

/// A thread's front.
struct Front {
    sets: [Set; SETS],
    /// Entries that met a set whose two ways were both in use (see [`remember`]).
    conflicts: Cell<u32>,
}

/// Of the entries that find their set full (both ways holding current entries of other keys),
/// one in this many is let in. A key read again and again gets in after a few reads; keys read
/// evenly over a space larger than the front would otherwise replace each other on every hit,
/// paying for the front and never using it.
const ADMIT_ONE_IN: u32 = 8;

thread_local! {
    /// This thread's front, allocated on its first hit.
    static FRONT: RefCell<Option<Box<Front>>> = const { RefCell::new(None) };
}

/// Which set of a front `key` belongs to (hashed once per lookup, for [`read`] and
/// [`remember`]).
#[inline]
pub(crate) fn set_of(key: &[u8]) -> usize {
    // A fixed seed: the set only picks where to look (a collision costs a front miss, never a
    // wrong answer, since the key is compared), so it needs no per-process randomness.
    let mut hasher = foldhash::fast::FixedState::with_seed(0x5eed).build_hasher();
    hasher.write(key);
    (hasher.finish() >> (u64::BITS - SET_BITS)) as usize
}

/// Where a lookup looks in the front: `key` of L1 `owner` at `epoch`, in set `set`
/// ([`set_of`] the key).
pub(crate) struct Place<'a> {
    pub(crate) owner: u64,
    pub(crate) epoch: u64,
    pub(crate) key: &'a [u8],
    pub(crate) set: usize,
}

/// The entry this thread remembered for `key` of L1 `owner` at `epoch`, given to `read`; `None`
/// when there is none (or the front is busy: `read` itself, a value's `clone`, called back into
/// a cache on this thread).
#[inline]
pub(crate) fn read<R>(at: &Place<'_>, read: impl FnOnce(&L1Entry) -> Option<R>) -> Option<R> {
    let &Place {
        owner,
        epoch,
        key,
        set,
    } = at;
    FRONT
        .try_with(|front| {
            let front = front.try_borrow().ok()?;
            let [first, second] = &front.as_ref()?.sets[set % SETS];
            let entry = first
                .entry_for(owner, epoch, key)
                .or_else(|| second.entry_for(owner, epoch, key))?;
            read(entry)
        })
        .ok()
        .flatten()
}

/// Remembers `entry`, found under `key` in L1 `owner` at `epoch` after [`read`] found nothing
/// usable, for this thread's next hits, first in its set. It takes the place of a way that is
/// free or out of date (the second if both are; the key's own entry there, if any, is out of
/// date: a current one would have answered, or been found not fresh, and then nothing is
/// remembered); when both ways hold current entries of other keys, of the second way, one time
/// in [`ADMIT_ONE_IN`]. The entry that was first moves second. Nothing when the front is busy.
pub(crate) fn remember(at: &Place<'_>, entry: &Arc<L1Entry>) {
    let replaced = FRONT.try_with(|front| {
        let mut front = front.try_borrow_mut().ok()?;
        let front = front.get_or_insert_with(|| {
            Box::new(Front {
                sets: [const { [Slot::EMPTY, Slot::EMPTY] }; SETS],
                conflicts: Cell::new(0),
            })
        });
        let set = &mut front.sets[at.set % SETS];
        let way = if !set[1].current(at.owner, at.epoch) {
            1
        } else if !set[0].current(at.owner, at.epoch) {
            0
        } else {
            let conflicts = front.conflicts.get().wrapping_add(1);
            front.conflicts.set(conflicts);
            if conflicts % ADMIT_ONE_IN != 1 {
                return None;
            }
            1
        };
        let slot = &mut set[way];
        slot.owner = at.owner;
        slot.epoch = at.epoch;
        let replaced = slot.entry.replace(entry.clone());
        set.swap(0, way);
        replaced
    });
    // Dropped here, outside the borrow: the last reference to an entry drops its value, whose
    // `Drop` may call into a cache on this thread.
    drop(replaced);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{test_clock, tick, tick_after};
    use crate::envelope::TagStamp;
    use crate::l1::{Deadlines, L1Read, L1};
    use crate::tag_versions::TagVersions;
    use std::sync::atomic::Ordering::Relaxed;
    use std::time::Duration;

    const MINUTE: Duration = Duration::from_secs(60);

    fn entry<V>(value: V, fresh: Duration, tags: Vec<TagStamp>) -> L1Entry<V> {
        let now = tick();
        let deadlines = Deadlines {
            fresh_until: tick_after(now, fresh),
            stale_until: tick_after(now, fresh + MINUTE),
            refresh_at: None,
        };
        L1Entry::new(value, deadlines, tags, 1)
    }

    /// The value a hit on `key` gives, and whether it went to quick_cache for it.
    fn hit(l1: &L1, key: &str, tags: &TagVersions) -> (Option<u32>, bool) {
        let probes = l1.probes.load(Relaxed);
        let value = match l1.get::<u32>(key.as_bytes(), tags) {
            L1Read::Fresh { value, .. } => Some(value),
            _ => None,
        };
        (value, l1.probes.load(Relaxed) > probes)
    }

    #[test]
    fn a_repeated_hit_is_answered_by_the_front() {
        let (l1, tags) = (L1::new(10, None), TagVersions::default());
        l1.insert("a", entry(1u32, MINUTE, vec![]));
        assert_eq!(
            hit(&l1, "a", &tags),
            (Some(1), true),
            "the first hit asks quick_cache"
        );
        assert_eq!(
            hit(&l1, "a", &tags),
            (Some(1), false),
            "the next comes from the front"
        );
        assert_eq!(hit(&l1, "a", &tags), (Some(1), false));
    }

    #[test]
    fn every_change_to_l1_is_seen_through_the_front() {
        let (l1, tags) = (L1::new(10, None), TagVersions::default());
        l1.insert("a", entry(1u32, MINUTE, vec![]));
        l1.insert("b", entry(9u32, MINUTE, vec![]));
        hit(&l1, "a", &tags);
        l1.insert("a", entry(2u32, MINUTE, vec![]));
        assert_eq!(
            hit(&l1, "a", &tags),
            (Some(2), true),
            "a new value replaces the old"
        );
        l1.remove("a");
        assert_eq!(hit(&l1, "a", &tags).0, None, "a removed key is a miss");
        let third = l1.insert("a", entry(3u32, MINUTE, vec![]));
        hit(&l1, "a", &tags);
        l1.remove_entry("a", &third);
        assert_eq!(hit(&l1, "a", &tags).0, None, "a removed entry is a miss");
        hit(&l1, "b", &tags);
        l1.clear();
        assert_eq!(hit(&l1, "b", &tags).0, None, "a cleared L1 is empty");
        l1.insert("b", entry(4u32, MINUTE, vec![]));
        hit(&l1, "b", &tags);
        l1.insert("c", entry(5u32, MINUTE, vec![]));
        assert_eq!(
            hit(&l1, "b", &tags),
            (Some(4), true),
            "any change sends the next hit to quick_cache, which still has the key"
        );
    }

    #[test]
    fn removing_a_key_l1_does_not_hold_leaves_the_fronts_as_they_are() {
        let (l1, tags) = (L1::new(10, None), TagVersions::default());
        l1.insert("a", entry(1u32, MINUTE, vec![]));
        hit(&l1, "a", &tags);
        l1.remove("absent");
        assert_eq!(
            hit(&l1, "a", &tags),
            (Some(1), false),
            "nothing changed in L1"
        );
        l1.remove("a");
        assert_eq!(hit(&l1, "a", &tags).0, None);
    }

    #[test]
    fn the_front_honours_deadlines_tags_and_types() {
        let (l1, tags) = (L1::new(10, None), TagVersions::default());
        let stamp = TagStamp {
            tag: "t".into(),
            version: tags.current("t"),
        };
        l1.insert("tagged", entry(1u32, MINUTE, vec![stamp]));
        l1.insert("short", entry(2u32, Duration::from_secs(5), vec![]));
        for key in ["tagged", "short", "tagged", "short"] {
            hit(&l1, key, &tags);
        }
        assert!(
            matches!(l1.get::<String>(b"short", &tags), L1Read::Miss),
            "a value of another type is no hit"
        );
        tags.bump_local("t");
        assert_eq!(
            hit(&l1, "tagged", &tags).0,
            None,
            "an invalidated tag is a miss"
        );
        hit(&l1, "short", &tags);
        test_clock::advance(Duration::from_secs(10));
        assert!(
            matches!(l1.get::<u32>(b"short", &tags), L1Read::Stale(2)),
            "past its TTL the value is stale, front or not"
        );
    }

    #[test]
    fn a_due_refresh_is_seen_through_the_front() {
        let (l1, tags) = (L1::new(10, None), TagVersions::default());
        let now = tick();
        let deadlines = Deadlines {
            fresh_until: tick_after(now, MINUTE),
            stale_until: tick_after(now, MINUTE),
            refresh_at: Some(tick_after(now, Duration::from_secs(30))),
        };
        l1.insert("a", L1Entry::new(1u32, deadlines, vec![], 1));
        hit(&l1, "a", &tags);
        hit(&l1, "a", &tags);
        test_clock::advance(Duration::from_secs(31));
        assert!(matches!(
            l1.get::<u32>(b"a", &tags),
            L1Read::Fresh {
                value: 1,
                refresh: Some(_)
            }
        ));
    }

    #[test]
    fn two_l1s_never_answer_for_each_other() {
        let tags = TagVersions::default();
        let (one, two) = (L1::new(10, None), L1::new(10, None));
        one.insert("a", entry(1u32, MINUTE, vec![]));
        two.insert("a", entry(2u32, MINUTE, vec![]));
        for _ in 0..3 {
            assert_eq!(hit(&one, "a", &tags).0, Some(1));
            assert_eq!(hit(&two, "a", &tags).0, Some(2));
        }
        drop(one);
        let three = L1::new(10, None);
        assert_eq!(hit(&three, "a", &tags).0, None, "a new L1 starts empty");
    }

    #[test]
    fn a_change_on_another_thread_is_seen_by_this_threads_front() {
        let l1 = Arc::new(L1::new(10, None));
        l1.insert("a", entry(1u32, MINUTE, vec![]));
        let (ask, asked) = std::sync::mpsc::channel::<()>();
        let (tell, told) = std::sync::mpsc::channel::<Option<u32>>();
        let reader = {
            let l1 = l1.clone();
            std::thread::spawn(move || {
                let tags = TagVersions::default();
                while asked.recv().is_ok() {
                    hit(&l1, "a", &tags);
                    let _ = tell.send(hit(&l1, "a", &tags).0);
                }
            })
        };
        let read = || {
            ask.send(()).expect("reader runs");
            told.recv().expect("reader answers")
        };
        assert_eq!(read(), Some(1));
        l1.insert("a", entry(2u32, MINUTE, vec![]));
        assert_eq!(read(), Some(2));
        l1.remove("a");
        assert_eq!(read(), None);
        drop(ask);
        reader.join().expect("reader ends");
    }

    #[test]
    fn with_a_byte_budget_only_light_entries_enter_the_front() {
        let tags = TagVersions::default();
        let l1 = L1::new(100, Some(1 << 20));
        let now = tick();
        let deadlines = || Deadlines {
            fresh_until: tick_after(now, MINUTE),
            stale_until: tick_after(now, MINUTE),
            refresh_at: None,
        };
        l1.insert("light", L1Entry::new(1u32, deadlines(), vec![], MAX_WEIGHT));
        l1.insert(
            "heavy",
            L1Entry::new(2u32, deadlines(), vec![], MAX_WEIGHT + 1),
        );
        for key in ["light", "heavy"] {
            hit(&l1, key, &tags);
        }
        assert_eq!(hit(&l1, "light", &tags), (Some(1), false));
        assert_eq!(hit(&l1, "heavy", &tags), (Some(2), true));
    }

    /// A value whose `clone` and `drop` read the same L1 on the same thread: the front is busy
    /// then, and answers nothing rather than panic.
    #[derive(Default)]
    struct Reentrant(Option<Arc<L1>>);

    impl Clone for Reentrant {
        fn clone(&self) -> Self {
            if let Some(l1) = &self.0 {
                let _ = l1.get::<u32>(b"other", &TagVersions::default());
            }
            Reentrant(None)
        }
    }

    impl Drop for Reentrant {
        fn drop(&mut self) {
            if let Some(l1) = self.0.take() {
                let _ = l1.get::<u32>(b"other", &TagVersions::default());
            }
        }
    }

    #[test]
    fn values_that_call_back_into_l1_do_not_panic() {
        let tags = TagVersions::default();
        let l1 = Arc::new(L1::new(10, None));
        l1.insert("other", entry(7u32, MINUTE, vec![]));
        l1.insert("r", entry(Reentrant(Some(l1.clone())), MINUTE, vec![]));
        for _ in 0..3 {
            assert!(matches!(
                l1.get::<Reentrant>(b"r", &tags),
                L1Read::Fresh { .. }
            ));
        }
        // The front's slot for "r" is replaced while the entry's last other holder is gone.
        l1.remove("r");
        assert_eq!(hit(&l1, "other", &tags).0, Some(7));
        // Two keys of the same set push the entry of "r" out of this thread's front: the last
        // reference, so its value's `drop` runs, and reads the L1 again.
        let mut same_set = (0..100_000)
            .map(|i| format!("k{i}"))
            .filter(|k| set_of(k.as_bytes()) == set_of(b"r"));
        for value in [8u32, 9] {
            let key = same_set.next().expect("keys meet in a set");
            l1.insert(&key, entry(value, MINUTE, vec![]));
            assert_eq!(hit(&l1, &key, &tags).0, Some(value));
            assert_eq!(hit(&l1, &key, &tags), (Some(value), false));
        }
    }

    #[test]
    fn a_new_entry_takes_the_place_of_one_that_does_not_count_before_one_that_does() {
        let tags = TagVersions::default();
        let (one, two) = (L1::new(10, None), L1::new(10, None));
        let mut same_set = (0..100_000)
            .map(|i| format!("k{i}"))
            .filter(|k| set_of(k.as_bytes()) == set_of(b"k0"));
        let [x, y, z] = [(); 3].map(|_| same_set.next().expect("keys meet in a set"));
        one.insert(&x, entry(0u32, MINUTE, vec![]));
        two.insert(&y, entry(1u32, MINUTE, vec![]));
        two.insert(&z, entry(2u32, MINUTE, vec![]));
        hit(&two, &y, &tags);
        hit(&one, &x, &tags);
        // The set holds x (first; of the other L1, so it does not count for `two`) and y.
        hit(&two, &z, &tags);
        assert_eq!(hit(&two, &y, &tags), (Some(1), false), "y stays");
        assert_eq!(
            hit(&two, &z, &tags),
            (Some(2), false),
            "z took the place of x"
        );
        assert_eq!(hit(&one, &x, &tags), (Some(0), true));
    }

    #[test]
    fn sets_spread_keys_that_differ_anywhere() {
        let keys: Vec<String> = (0..64)
            .map(|i| format!("user:{}{i}:profile:settings", "0".repeat(8)))
            .collect();
        let mut used: Vec<usize> = keys.iter().map(|k| set_of(k.as_bytes())).collect();
        used.sort_unstable();
        used.dedup();
        assert!(
            used.len() > 30,
            "64 keys differing in the middle take {} sets of {SETS}",
            used.len()
        );
        assert!(keys.iter().all(|k| set_of(k.as_bytes()) < SETS));
    }

    #[test]
    fn two_keys_of_one_set_both_stay_and_a_third_gets_in_one_time_in_eight() {
        let (l1, tags) = (L1::new(100, None), TagVersions::default());
        let mut same_set = (0..100_000)
            .map(|i| format!("k{i}"))
            .filter(|k| set_of(k.as_bytes()) == set_of(b"k0"));
        let [a, b, c] = [(); 3].map(|_| same_set.next().expect("keys meet in a set"));
        for (i, key) in [&a, &b, &c].into_iter().enumerate() {
            l1.insert(key, entry(i as u32, MINUTE, vec![]));
        }
        hit(&l1, &a, &tags);
        hit(&l1, &b, &tags);
        for _ in 0..2 {
            assert_eq!(hit(&l1, &a, &tags), (Some(0), false), "the second way");
            assert_eq!(hit(&l1, &b, &tags), (Some(1), false), "the first way");
        }
        // The set is full of current entries: the first conflict lets c in, in place of the
        // second way (a); b moves second.
        hit(&l1, &c, &tags);
        assert_eq!(hit(&l1, &c, &tags), (Some(2), false));
        assert_eq!(hit(&l1, &b, &tags), (Some(1), false), "b moved second");
        // a conflicts again: let in on the 1st, 9th, 17th, ... conflict.
        let reads_to_get_in = (1..=ADMIT_ONE_IN + 1)
            .find(|_| !hit(&l1, &a, &tags).1)
            .expect("a gets in within eight conflicts");
        assert_eq!(
            reads_to_get_in,
            ADMIT_ONE_IN + 1,
            "a was let in on its eighth conflict"
        );
        assert_eq!(hit(&l1, &c, &tags), (Some(2), false), "c moved second");
        assert_eq!(hit(&l1, &b, &tags), (Some(1), true), "b was dropped");
        // A change to L1 makes every way out of date: the next entry gets in at once.
        l1.insert("elsewhere", entry(9u32, MINUTE, vec![]));
        hit(&l1, &b, &tags);
        assert_eq!(hit(&l1, &b, &tags), (Some(1), false));
    }
}
