//! The L1 path: an in-process `quick_cache` of type-erased values with their own deadlines.
//!
//! quick_cache has no TTL, so each entry carries its fresh, stale and refresh deadlines and the
//! tag stamps it was loaded under; [`L1::get`] honours them on read.

use crate::log;
use std::any::Any;
use std::cell::Cell;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use quick_cache::{sync::Cache as QuickCache, Equivalent, Weighter};

use crate::clock::{tick, Tick};
use crate::envelope::TagStamp;
use crate::l1_budget::{entry_bytes, BudgetPlan};
use crate::l1_front;
use crate::shim::{AtomicBool, Ordering};
use crate::tag_versions::TagVersions;
use std::sync::atomic::AtomicU64;

/// One cached value and its deadlines. The value is the last field, so a typed entry coerces to
/// `L1Entry<dyn Any>` and the value lives in the same allocation (no extra pointer to chase).
pub(crate) struct L1Entry<V: ?Sized = dyn Any + Send + Sync> {
    pub(crate) fresh_until: Tick,
    pub(crate) stale_until: Tick,
    refresh_at: Option<Tick>,
    tags: Box<[TagStamp]>,
    weight: u64,
    /// Set by the one caller that starts a refresh-ahead reload of this entry.
    refreshing: AtomicBool,
    /// The key's text (set by [`L1::insert`]): the entry is its own quick_cache key.
    key: Box<str>,
    value: V,
}

/// When an entry stops being fresh, stops being usable at all, and is due for refresh-ahead.
pub(crate) struct Deadlines {
    pub(crate) fresh_until: Tick,
    pub(crate) stale_until: Tick,
    pub(crate) refresh_at: Option<Tick>,
}

impl<V> L1Entry<V> {
    pub(crate) fn new(value: V, deadlines: Deadlines, tags: Vec<TagStamp>, weight: u64) -> Self {
        let Deadlines {
            fresh_until,
            stale_until,
            refresh_at,
        } = deadlines;
        L1Entry {
            fresh_until,
            stale_until,
            refresh_at,
            tags: tags.into_boxed_slice(),
            weight,
            refreshing: AtomicBool::new(false),
            key: Box::from(""),
            value,
        }
    }
}

impl L1Entry {
    /// Whether this entry was stored under `key` (a key's text).
    #[inline(always)]
    pub(crate) fn has_key(&self, key: &[u8]) -> bool {
        same_bytes(key, self.key.as_bytes())
    }

    /// Claims the refresh-ahead reload of this entry: `Some` for exactly one caller until the
    /// claim is dropped without [`RefreshClaim::stored`].
    pub(crate) fn claim_refresh(self: &Arc<Self>) -> Option<RefreshClaim> {
        (!self.refreshing.swap(true, Ordering::AcqRel)).then(|| RefreshClaim {
            entry: self.clone(),
            stored: false,
        })
    }
}

/// One caller's right to reload an entry ahead of its expiry. Dropped without
/// [`stored`](RefreshClaim::stored) (the reload failed, its loader panicked, or its caller was
/// cancelled) it gives the right back, so a later hit tries again; a claim left set would stop
/// refresh-ahead for the entry until its TTL ends.
pub(crate) struct RefreshClaim {
    entry: Arc<L1Entry>,
    stored: bool,
}

impl RefreshClaim {
    /// The reload stored a new entry, which replaces this one: the claim stays set, so callers
    /// still holding the old entry do not start another reload.
    pub(crate) fn stored(mut self) {
        self.stored = true;
    }
}

impl Drop for RefreshClaim {
    fn drop(&mut self) {
        if !self.stored {
            self.entry.refreshing.store(false, Ordering::Release);
        }
    }
}

/// What a lookup found.
pub(crate) enum L1Read<V> {
    /// A fresh value; `refresh` is the entry when a refresh-ahead reload is due.
    Fresh {
        value: V,
        refresh: Option<Arc<L1Entry>>,
    },
    /// Past its freshness but inside the stale window: usable only for fail-safe.
    Stale(V),
    /// Nothing usable.
    Miss,
}

#[derive(Clone)]
struct EntryWeight;

impl Weighter<StoredKey, ()> for EntryWeight {
    fn weight(&self, key: &StoredKey, _: &()) -> u64 {
        key.0.weight
    }
}

/// What quick_cache holds: the entry itself, as the key (the value is `()`), equal and hashed by
/// the key's text. A lookup ([`Probe`]) takes the entry out of the shard it matched in; a
/// thread's repeated hits then find it in that thread's front (`l1_front.rs`) without taking the
/// shard's lock or touching the entry's reference count, cache lines two cores reading one hot
/// key would otherwise both write.
struct StoredKey(Arc<L1Entry>);

impl PartialEq for StoredKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.key == other.0.key
    }
}

impl Eq for StoredKey {}

impl Hash for StoredKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write(self.0.key.as_bytes());
    }
}

/// A key looked up by its text's bytes, borrowed (from a `CacheKey` or a key rendered on the
/// stack); hashed as [`StoredKey`] is.
struct KeyBytes<'a>(&'a [u8]);

impl Hash for KeyBytes<'_> {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write(self.0);
    }
}

impl Equivalent<StoredKey> for KeyBytes<'_> {
    #[inline]
    fn equivalent(&self, key: &StoredKey) -> bool {
        self.0 == key.0.key.as_bytes()
    }
}

/// One entry exactly: its key, and only while it still holds this entry (a newer value may have
/// replaced it).
struct ThisEntry<'a>(&'a [u8], &'a Arc<L1Entry>);

impl Hash for ThisEntry<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write(self.0);
    }
}

impl Equivalent<StoredKey> for ThisEntry<'_> {
    fn equivalent(&self, key: &StoredKey) -> bool {
        self.0 == key.0.key.as_bytes() && Arc::ptr_eq(&key.0, self.1)
    }
}

/// `a == b`, without a call to `bcmp` for keys of up to 16 bytes: two overlapping fixed-size
/// compares.
#[inline(always)]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    match n {
        0 => true,
        1..=3 => a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1],
        4..=7 => a[..4] == b[..4] && a[n - 4..] == b[n - 4..],
        8..=16 => a[..8] == b[..8] && a[n - 8..] == b[n - 8..],
        _ => a == b,
    }
}

/// The hit path's lookup in quick_cache: compared with the stored key under the shard's read
/// lock; on a match it leaves the entry in `found` (the checks and the value's clone happen
/// after the lock is released).
struct Probe<'a> {
    key: &'a [u8],
    found: Cell<Option<Arc<L1Entry>>>,
}

impl Hash for Probe<'_> {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write(self.key);
    }
}

impl Equivalent<StoredKey> for Probe<'_> {
    #[inline(always)]
    fn equivalent(&self, key: &StoredKey) -> bool {
        if !key.0.has_key(self.key) {
            return false;
        }
        self.found.set(Some(key.0.clone()));
        true
    }
}

/// The value of `entry` when it is a plain fresh hit at `now`: of type `V`, fresh, not due for
/// refresh-ahead, and none of its tags invalidated.
#[inline(always)]
fn fresh_value<V: Clone + 'static>(entry: &L1Entry, now: Tick, tags: &TagVersions) -> Option<V> {
    let fresh = now < entry.fresh_until
        && entry.refresh_at.is_none_or(|at| now < at)
        && tags.still_valid(&entry.tags);
    if !fresh {
        return None;
    }
    entry.value.downcast_ref::<V>().cloned()
}

/// Distinct for every L1 ever built in this process: the front tells their entries apart by it
/// (an address could be reused by a later L1).
static NEXT_L1_ID: AtomicU64 = AtomicU64::new(1);

/// The in-process layer.
pub(crate) struct L1 {
    entries: QuickCache<StoredKey, (), EntryWeight>,
    /// This L1 among all (see [`NEXT_L1_ID`]).
    id: u64,
    /// Bumped after every change to `entries`: an entry a thread's front remembered at another
    /// epoch may have been replaced or removed since (see `l1_front.rs`).
    epoch: AtomicU64,
    /// With a byte budget, entries weigh their estimated bytes; otherwise 1 each.
    weigh_bytes: bool,
    /// Lookups so far, for the read path's unit tests (how many lookups a call makes).
    #[cfg(test)]
    pub(crate) lookups: std::sync::atomic::AtomicU64,
    /// Lookups that went to quick_cache (not answered by the thread's front), for unit tests.
    #[cfg(test)]
    pub(crate) probes: std::sync::atomic::AtomicU64,
}

impl L1 {
    pub(crate) fn new(capacity: usize, byte_budget: Option<u64>) -> Self {
        let capacity = capacity.max(1);
        let (items, weight_capacity, weigh_bytes) = match byte_budget {
            Some(bytes) => {
                let plan = BudgetPlan::new(capacity, bytes);
                (plan.estimated_items, plan.weight_capacity, true)
            }
            None => (capacity, capacity as u64, false),
        };
        L1 {
            entries: QuickCache::with_weighter(items, weight_capacity, EntryWeight),
            id: NEXT_L1_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            epoch: AtomicU64::new(0),
            weigh_bytes,
            #[cfg(test)]
            lookups: Default::default(),
            #[cfg(test)]
            probes: Default::default(),
        }
    }

    /// The weight of an entry: 1, or with a byte budget its bytes (see [`entry_bytes`]).
    /// `heap_bytes` (what the value owns on the heap) is only asked for with a budget.
    pub(crate) fn weigh<V>(
        &self,
        key: &str,
        heap_bytes: impl FnOnce() -> usize,
        tags: &[TagStamp],
    ) -> u64 {
        if !self.weigh_bytes {
            return 1;
        }
        entry_bytes::<V>(key, heap_bytes(), tags)
    }

    /// Looks `key` (a key's text) up, honouring deadlines and tag versions. A value of another
    /// type is a miss.
    pub(crate) fn get<V: Clone + 'static>(&self, key: &[u8], tags: &TagVersions) -> L1Read<V> {
        match self.get_fresh(key, tags) {
            Ok(value) => L1Read::Fresh {
                value,
                refresh: None,
            },
            Err(None) => L1Read::Miss,
            Err(Some(entry)) => self.read_entry(key, entry, tags),
        }
    }

    /// The hit path of a lookup: the value when it is fresh, of type `V`, and not due for
    /// refresh-ahead; otherwise the entry found (for [`read_entry`](Self::read_entry)), if any.
    #[inline]
    pub(crate) fn get_fresh<V: Clone + 'static>(
        &self,
        key: &[u8],
        tags: &TagVersions,
    ) -> Result<V, Option<Arc<L1Entry>>> {
        #[cfg(test)]
        self.lookups
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Read before the lookup: a change after this read bumps the epoch, so an entry
        // remembered under it is never used once the change is visible.
        let epoch = self.epoch.load(std::sync::atomic::Ordering::Acquire);
        let now = tick();
        let place = l1_front::Place {
            owner: self.id,
            epoch,
            key,
            set: l1_front::set_of(key),
        };
        if let Some(value) = l1_front::read(&place, |e| fresh_value(e, now, tags)) {
            return Ok(value);
        }
        let probe = Probe {
            key,
            found: Cell::new(None),
        };
        #[cfg(test)]
        self.probes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.entries.get(&probe);
        let Some(entry) = probe.found.into_inner() else {
            return Err(None);
        };
        match fresh_value(&entry, now, tags) {
            Some(value) => {
                if self.may_remember(&entry) {
                    l1_front::remember(&place, &entry);
                }
                Ok(value)
            }
            None => Err(Some(entry)),
        }
    }

    /// Whether a thread's front may keep `entry`: with a byte budget, only light entries.
    #[inline]
    fn may_remember(&self, entry: &L1Entry) -> bool {
        !self.weigh_bytes || entry.weight <= l1_front::MAX_WEIGHT
    }

    /// After a change to `entries` (a remove that found nothing is none: any entry of that key a
    /// front holds is already out of date): entries the fronts remembered before it are not used
    /// again.
    #[inline]
    fn changed(&self) {
        self.epoch
            .fetch_add(1, std::sync::atomic::Ordering::Release);
    }

    /// What `entry`, found under `key` but not a plain fresh hit, gives: a fresh value due for
    /// refresh-ahead, a stale one, or a miss (an expired or tag-invalidated entry is dropped).
    #[cold]
    pub(crate) fn read_entry<V: Clone + 'static>(
        &self,
        key: &[u8],
        entry: Arc<L1Entry>,
        tags: &TagVersions,
    ) -> L1Read<V> {
        let now = tick();
        if now >= entry.stale_until || !tags.still_valid(&entry.tags) {
            self.remove_if_same(key, &entry);
            return L1Read::Miss;
        }
        let Some(value) = entry.value.downcast_ref::<V>() else {
            let key = String::from_utf8_lossy(key);
            tracing::debug!(target: log::CALL, key = &*key, "L1 value has another type; treated as a miss");
            return L1Read::Miss;
        };
        if now < entry.fresh_until {
            let refresh_due = entry.refresh_at.is_some_and(|at| now >= at);
            L1Read::Fresh {
                value: value.clone(),
                refresh: refresh_due.then(|| entry.clone()),
            }
        } else {
            L1Read::Stale(value.clone())
        }
    }

    pub(crate) fn insert<V: Send + Sync + 'static>(
        &self,
        key: &str,
        entry: L1Entry<V>,
    ) -> Arc<L1Entry> {
        let mut entry = entry;
        entry.key = key.into();
        let entry: Arc<L1Entry> = Arc::new(entry);
        self.entries.insert(StoredKey(entry.clone()), ());
        self.changed();
        entry
    }

    /// Removes `key` only if it still holds `entry`.
    pub(crate) fn remove_entry(&self, key: &str, entry: &Arc<L1Entry>) {
        self.remove_if_same(key.as_bytes(), entry);
    }

    pub(crate) fn remove(&self, key: &str) {
        if self.entries.remove(&KeyBytes(key.as_bytes())).is_some() {
            self.changed();
        }
    }

    /// Removes `key` only if it still holds `entry` (a newer value may have replaced it).
    fn remove_if_same(&self, key: &[u8], entry: &Arc<L1Entry>) {
        if self.entries.remove(&ThisEntry(key, entry)).is_some() {
            self.changed();
        }
    }

    pub(crate) fn clear(&self) {
        self.entries.clear();
        self.changed();
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The sum of the entries' weights: bytes with a budget, else the number of entries.
    pub(crate) fn weight(&self) -> u64 {
        self.entries.weight()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::tick_after;
    use std::time::Duration;

    fn entry<V: Send + Sync + 'static>(v: V, fresh: Duration, stale: Duration) -> L1Entry<V> {
        let now = tick();
        L1Entry::new(
            v,
            Deadlines {
                fresh_until: tick_after(now, fresh),
                stale_until: tick_after(now, fresh + stale),
                refresh_at: None,
            },
            vec![],
            1,
        )
    }

    #[test]
    fn short_and_long_keys_compare_byte_for_byte() {
        let text: Vec<u8> = (b'a'..=b'z').chain(b'a'..=b'z').collect();
        for n in 0..40 {
            let a = &text[..n];
            let copy = a.to_vec();
            assert!(same_bytes(a, &copy), "{n} bytes");
            for i in 0..n {
                let mut b = a.to_vec();
                b[i] = b'#';
                assert!(!same_bytes(a, &b), "{n} bytes, differing at {i}");
            }
            assert!(!same_bytes(a, &text[..n + 1]));
        }
    }

    #[test]
    fn fresh_stale_and_expired() {
        let l1 = L1::new(10, None);
        let tags = TagVersions::default();
        l1.insert("a", entry(1u32, Duration::from_secs(60), Duration::ZERO));
        l1.insert("b", entry(2u32, Duration::ZERO, Duration::from_secs(60)));
        l1.insert("c", entry(3u32, Duration::ZERO, Duration::ZERO));
        assert!(matches!(
            l1.get::<u32>(b"a", &tags),
            L1Read::Fresh {
                value: 1,
                refresh: None
            }
        ));
        assert!(matches!(l1.get::<u32>(b"b", &tags), L1Read::Stale(2)));
        assert!(matches!(l1.get::<u32>(b"c", &tags), L1Read::Miss));
        assert_eq!(l1.len(), 2, "the expired entry is dropped on read");
        // Strictly past a deadline (not only at it): the hit path's own checks agree.
        l1.insert(
            "d",
            entry(4u32, Duration::from_secs(10), Duration::from_secs(60)),
        );
        crate::clock::test_clock::advance(Duration::from_secs(20));
        assert!(matches!(l1.get::<u32>(b"d", &tags), L1Read::Stale(4)));
        assert!(matches!(l1.get::<u32>(b"b", &tags), L1Read::Stale(2)));
        assert!(matches!(
            l1.get::<u32>(b"a", &tags),
            L1Read::Fresh { value: 1, .. }
        ));
    }

    #[test]
    fn wrong_type_is_a_miss_not_a_panic() {
        let l1 = L1::new(10, None);
        l1.insert("a", entry(1u32, Duration::from_secs(60), Duration::ZERO));
        assert!(matches!(
            l1.get::<String>(b"a", &TagVersions::default()),
            L1Read::Miss
        ));
    }

    #[test]
    fn invalidated_tag_makes_a_miss() {
        let l1 = L1::new(10, None);
        let tags = TagVersions::default();
        let now = tick();
        let stamp = TagStamp {
            tag: "t".into(),
            version: tags.current("t"),
        };
        l1.insert(
            "a",
            L1Entry::new(
                1u32,
                Deadlines {
                    fresh_until: tick_after(now, Duration::from_secs(60)),
                    stale_until: tick_after(now, Duration::from_secs(60)),
                    refresh_at: None,
                },
                vec![stamp],
                1,
            ),
        );
        assert!(matches!(l1.get::<u32>(b"a", &tags), L1Read::Fresh { .. }));
        tags.bump_local("t");
        assert!(matches!(l1.get::<u32>(b"a", &tags), L1Read::Miss));
    }

    #[test]
    fn remove_entry_removes_only_the_entry_it_was_given() {
        let l1 = L1::new(10, None);
        let tags = TagVersions::default();
        let first = l1.insert("a", entry(1u32, Duration::from_secs(60), Duration::ZERO));
        l1.remove_entry("a", &first);
        assert!(
            matches!(l1.get::<u32>(b"a", &tags), L1Read::Miss),
            "a fill that lost the race with an invalidation is taken out again"
        );
        let old = l1.insert("a", entry(2u32, Duration::from_secs(60), Duration::ZERO));
        l1.insert("a", entry(3u32, Duration::from_secs(60), Duration::ZERO));
        l1.remove_entry("a", &old);
        assert!(
            matches!(l1.get::<u32>(b"a", &tags), L1Read::Fresh { value: 3, .. }),
            "a newer value that replaced the entry stays"
        );
    }

    #[test]
    fn a_fresh_hit_carries_the_entry_once_its_refresh_is_due() {
        let l1 = L1::new(10, None);
        let tags = TagVersions::default();
        let now = tick();
        let fresh = tick_after(now, Duration::from_secs(60));
        for (key, refresh_in) in [("due", Duration::ZERO), ("later", Duration::from_secs(30))] {
            let deadlines = Deadlines {
                fresh_until: fresh,
                stale_until: fresh,
                refresh_at: Some(tick_after(now, refresh_in)),
            };
            let e = L1Entry::new(1u32, deadlines, vec![], 1);
            l1.insert(key, e);
        }
        assert!(matches!(
            l1.get::<u32>(b"due", &tags),
            L1Read::Fresh {
                value: 1,
                refresh: Some(_)
            }
        ));
        assert!(matches!(
            l1.get::<u32>(b"later", &tags),
            L1Read::Fresh {
                value: 1,
                refresh: None
            }
        ));
        // Strictly past the refresh time, still fresh: due.
        crate::clock::test_clock::advance(Duration::from_secs(40));
        assert!(matches!(
            l1.get::<u32>(b"later", &tags),
            L1Read::Fresh {
                value: 1,
                refresh: Some(_)
            }
        ));
    }

    #[test]
    fn a_key_inserted_again_replaces_its_entry() {
        let l1 = L1::new(10, None);
        let tags = TagVersions::default();
        for v in [1u32, 2, 3] {
            l1.insert("a", entry(v, Duration::from_secs(60), Duration::ZERO));
        }
        l1.insert("b", entry(4u32, Duration::from_secs(60), Duration::ZERO));
        assert_eq!(l1.len(), 2, "one entry per key");
        assert!(matches!(
            l1.get::<u32>(b"a", &tags),
            L1Read::Fresh { value: 3, .. }
        ));
        l1.remove("a");
        assert!(
            matches!(l1.get::<u32>(b"a", &tags), L1Read::Miss),
            "no older copy left"
        );
    }

    #[test]
    fn remove_takes_out_its_own_key_only() {
        // Enough keys that lookups meet other keys with the same hash-table tag: `remove` must
        // compare the text, not take the first candidate.
        let l1 = L1::new(4096, None);
        let tags = TagVersions::default();
        let keys: Vec<String> = (0..1000).map(|i| format!("key:{i}")).collect();
        for k in &keys {
            l1.insert(k, entry(1u32, Duration::from_secs(60), Duration::ZERO));
        }
        assert_eq!(l1.len(), keys.len());
        for k in keys.iter().step_by(2) {
            l1.remove(k);
        }
        for (i, k) in keys.iter().enumerate() {
            let kept = matches!(l1.get::<u32>(k.as_bytes(), &tags), L1Read::Fresh { .. });
            assert_eq!(kept, i % 2 == 1, "{k}");
        }
    }

    #[test]
    fn remove_and_clear_drop_entries() {
        let l1 = L1::new(10, None);
        let tags = TagVersions::default();
        for key in ["a", "b", "c"] {
            l1.insert(key, entry(1u32, Duration::from_secs(60), Duration::ZERO));
        }
        assert_eq!(l1.weight(), 3, "without a budget each entry weighs 1");
        l1.remove("a");
        assert!(matches!(l1.get::<u32>(b"a", &tags), L1Read::Miss));
        assert_eq!(l1.len(), 2);
        assert_eq!(l1.weight(), 2);
        l1.clear();
        assert_eq!(l1.len(), 0);
        assert_eq!(l1.weight(), 0);
        assert!(matches!(l1.get::<u32>(b"b", &tags), L1Read::Miss));
    }

    #[test]
    fn a_released_refresh_can_be_claimed_again() {
        let e: Arc<L1Entry> = Arc::new(entry(1u32, Duration::from_secs(60), Duration::ZERO));
        let claim = e.claim_refresh();
        assert!(claim.is_some(), "the first hit claims the refresh");
        assert!(
            e.claim_refresh().is_none(),
            "a second hit does not while it runs"
        );
        drop(claim);
        assert!(
            e.claim_refresh().is_some(),
            "after a failed, panicked or cancelled refresh, a later hit retries"
        );
    }

    #[test]
    fn a_stored_refresh_keeps_the_old_entry_claimed() {
        let e: Arc<L1Entry> = Arc::new(entry(1u32, Duration::from_secs(60), Duration::ZERO));
        e.claim_refresh().expect("first claim").stored();
        assert!(
            e.claim_refresh().is_none(),
            "the replaced entry is not reloaded again by callers still holding it"
        );
    }

    #[test]
    fn weight_is_one_without_a_byte_budget() {
        let l1 = L1::new(10, None);
        let tag = TagStamp {
            tag: "catalog".into(),
            version: 1,
        };
        let asked = std::cell::Cell::new(false);
        let heap = || {
            asked.set(true);
            1000
        };
        assert_eq!(l1.weigh::<[u8; 64]>("key", heap, &[tag]), 1);
        assert!(!asked.get(), "the value is not weighed without a budget");
    }

    #[test]
    fn byte_weight_counts_key_value_heap_and_tags() {
        let l1 = L1::new(10, Some(1 << 20));
        let stamp = |tag: &str| TagStamp {
            tag: tag.into(),
            version: 9,
        };
        let base = l1.weigh::<u8>("k", || 0, &[]);
        assert!(base > 64, "a fixed overhead per entry: {base}");
        assert_eq!(l1.weigh::<u8>("kkkk", || 0, &[]), base + 3, "key bytes");
        assert_eq!(
            l1.weigh::<[u8; 41]>("k", || 0, &[]),
            base + 40,
            "value size"
        );
        assert_eq!(
            l1.weigh::<[u8; 41]>("kkkk", || 0, &[]),
            base + 3 + 40,
            "key and value bytes add up"
        );
        assert_eq!(l1.weigh::<u8>("k", || 500, &[]), base + 500, "heap bytes");
        let one_tag = l1.weigh::<u8>("k", || 0, &[stamp("ab")]);
        assert!(one_tag > base + 2, "a tag costs its text and more");
        let two_tags = l1.weigh::<u8>("k", || 0, &[stamp("ab"), stamp("abcde")]);
        assert!(
            two_tags > one_tag + 5,
            "each tag adds its own cost: {base} {one_tag} {two_tags}"
        );
    }

    #[test]
    fn byte_budget_evicts_by_weight() {
        let l1 = L1::new(1000, Some(10_000));
        let w = l1.weigh::<[u8; 0]>("k", || 1000, &[]);
        assert!(w > 1000);
        for i in 0..100 {
            let now = tick();
            let e = L1Entry::new(
                i,
                Deadlines {
                    fresh_until: tick_after(now, Duration::from_secs(60)),
                    stale_until: tick_after(now, Duration::from_secs(60)),
                    refresh_at: None,
                },
                vec![],
                w,
            );
            l1.insert(&format!("k{i}"), e);
        }
        assert!(l1.len() < 12, "len {}", l1.len());
        assert_eq!(l1.weight(), l1.len() as u64 * w, "the bytes held");
        assert!(l1.weight() <= 10_000, "within the budget");
    }
}
