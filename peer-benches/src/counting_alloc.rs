//! A global allocator that counts allocations, for the "allocations per hit" figures. A bench
//! binary that reports them installs it:
//!
//! ```ignore
//! #[global_allocator]
//! static GLOBAL: peer_benches::counting_alloc::Counting = peer_benches::counting_alloc::Counting;
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Forwards to the system allocator and counts every allocation.
pub struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Allocations so far, process-wide (0 unless the binary installed [`Counting`]).
pub fn allocations() -> u64 {
    ALLOCATIONS.load(Relaxed)
}
