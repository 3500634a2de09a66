//! What one L1 entry costs in memory, for a cache with a byte budget: the bytes an entry weighs.
//!
//! An entry's weight is everything it keeps allocated, so that the sum of the weights (which
//! quick_cache keeps under the budget) tracks the process's resident memory:
//! - its `Arc<L1Entry<V>>` allocation (the counts, deadlines, tag slice pointer, weight, value);
//! - its key `String`'s buffer and its slot in quick_cache (slab entry and hash-table index);
//! - its tags (one boxed slice of `TagStamp`s, each tag's text);
//! - the value's heap bytes ([`crate::weigh`]);
//! - the allocator's bookkeeping for each of those allocations;
//! - [`CALIBRATION`], measured (see its documentation).
//!
//! quick_cache also keeps the hashes of recently evicted keys ("ghosts", which let a key that
//! comes back be admitted as hot), up to half its estimated item count, each in a slot of its
//! own. Those slots belong to no entry, so [`BudgetPlan`] bounds their number from the budget
//! and sets their memory aside from it.

use std::mem::size_of;
use std::sync::Arc;

use crate::envelope::TagStamp;
use crate::l1::L1Entry;

/// What the allocator uses per allocation beyond the bytes asked for, on average: glibc's
/// malloc keeps an 8-byte header and rounds chunks up to 16 bytes (so 8 to 23 bytes more).
const PER_ALLOCATION: usize = 16;

/// One entry's slot in quick_cache: a slab entry (the key `String`, the `Arc` pointer, its
/// clock state and two list links) and its index in the hash table (a 4-byte token and a
/// control byte, in a table kept at most 7/8 full that doubles as it grows).
const SLOT: usize = size_of::<String>() + size_of::<Arc<L1Entry>>() + 16 + 16;

/// The per-entry cost not modelled above, calibrated with `cargo bench -p peer-benches --bench
/// memory` (glibc malloc, x86_64): after filling a 64 MiB budget ten times over, resident memory
/// exceeded the sum of the weights plus the ghosts' reserve by 27 bytes per entry for the mixed
/// sizes (64 B to 16 KiB strings in `Arc`s), 8.5 for 64-byte values, and by 200 (1%) for 16 KiB
/// values, where the excess grows with the value, not with the count. 16 bytes, the allocator's
/// cost of the one buffer most values own (a `String`'s, a `Vec`'s, an `Arc`'s), is the fixed
/// part; with it the fill's resident memory lands within 2% of the budget for every mix tried.
const CALIBRATION: usize = PER_ALLOCATION;

/// The entry size a budget is planned for: quick_cache's estimated item count is the budget
/// divided by this (at most the entry capacity), and its ghosts are at most half that many.
const PLANNED_ENTRY_BYTES: u64 = 1024;

/// How a byte budget is handed to quick_cache.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct BudgetPlan {
    /// quick_cache's estimated item count, which bounds its ghosts to half as many.
    pub(crate) estimated_items: usize,
    /// The budget less the ghosts' slots: what the entries' weights may add up to.
    pub(crate) weight_capacity: u64,
}

impl BudgetPlan {
    pub(crate) fn new(entry_capacity: usize, budget: u64) -> Self {
        let items = (budget / PLANNED_ENTRY_BYTES).clamp(1, entry_capacity.max(1) as u64);
        // quick_cache's default ghost allocation: half the estimated items.
        let ghosts = items / 2;
        let reserved = ghosts.saturating_mul(SLOT as u64);
        BudgetPlan {
            estimated_items: items as usize,
            weight_capacity: budget.saturating_sub(reserved).max(budget / 2).max(1),
        }
    }
}

/// The weight of an entry holding a `V` that owns `heap_bytes` on the heap.
pub(crate) fn entry_bytes<V>(key: &str, heap_bytes: usize, tags: &[TagStamp]) -> u64 {
    // The `Arc`'s two counts and the entry, in one allocation.
    let entry = 2 * size_of::<usize>() + size_of::<L1Entry<V>>();
    let (tag_bytes, tag_allocations) = if tags.is_empty() {
        (0, 0)
    } else {
        let text: usize = tags.iter().map(|t| t.tag.len()).sum();
        (size_of_val(tags) + text, 1 + tags.len())
    };
    // The entry, the key's buffer and the tags; the value's own are in CALIBRATION.
    let allocations = 2 + tag_allocations;
    let bytes = entry
        + key.len()
        + SLOT
        + tag_bytes
        + heap_bytes
        + allocations * PER_ALLOCATION
        + CALIBRATION;
    bytes as u64
}
