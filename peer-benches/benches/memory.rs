//! L1's resident memory against its byte budget: a cache with a budget of [`BUDGET`] bytes is
//! filled with ten times that in values of mixed sizes (64 B to 16 KiB, through
//! `Cache::get_or_load_local`, as an L1-only `#[cached]` function stores them), and the growth
//! of the process's resident set (`VmRSS`) is compared with the budget.
//!
//! The values are `Arc<String>`s, which L1 weighs by their heap bytes without being told (see
//! `layercache::weigh`). Besides the resident set, the program counts the bytes live on the heap
//! (a counting global allocator) and prints L1's entry count and the sum of its weights, so the
//! resident memory can be split into what the weights model and what the allocator adds.
//!
//! Prints `report: memory ...` for `benches/report.sh`. A plain program (no harness): run it
//! alone, so nothing else in the process allocates.
//!
//! `cargo bench -p peer-benches --bench memory`

use std::alloc::{GlobalAlloc, Layout, System};
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use layercache::{Cache, EntryOptions};

/// The L1 byte budget.
const BUDGET: u64 = 64 << 20;
/// Bytes of values stored: ten times the budget.
const FILL: u64 = 10 * BUDGET;
/// Value sizes, in turn: small, medium and large values mixed.
const SIZES: [usize; 6] = [64, 256, 1024, 4096, 16_384, 700];

/// [`SIZES`], or the comma-separated sizes in `MEMORY_SIZES` (to try other mixes by hand).
fn sizes() -> Vec<usize> {
    std::env::var("MEMORY_SIZES")
        .ok()
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .filter(|v: &Vec<usize>| !v.is_empty() && !v.contains(&0))
        .unwrap_or_else(|| SIZES.to_vec())
}

/// L1's entry bound: more than the fill's values (about 180,000), and a realistic size for
/// quick_cache's tables.
const ENTRY_CAPACITY: usize = 1_000_000;

/// The system allocator, counting the bytes asked for and not yet freed.
struct Counting;

static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);
static LIVE_ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to `System` with the caller's arguments; the counters only
// observe.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size(), Relaxed);
        LIVE_ALLOCATIONS.fetch_add(1, Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size(), Relaxed);
        LIVE_ALLOCATIONS.fetch_sub(1, Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(new_size, Relaxed);
        LIVE_BYTES.fetch_sub(layout.size(), Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The process's resident set, in bytes (from `/proc/self/status`).
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status");
    kib * 1024
}

fn main() {
    // `cargo bench` passes `--bench`; this program takes no options.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let cache = Cache::builder()
        .namespace("memory")
        // Room for more entries than the fill stores, so that only the byte budget bounds L1.
        .l1_capacity(ENTRY_CAPACITY)
        .l1_byte_budget(BUDGET)
        .build();
    let options = EntryOptions::new().ttl(Duration::from_secs(3600));
    let sizes = sizes();
    let before = rss_bytes();
    let heap_before = LIVE_BYTES.load(Relaxed);
    let allocations_before = LIVE_ALLOCATIONS.load(Relaxed);
    let mut stored = 0u64;
    let mut id = 0u64;
    runtime.block_on(async {
        while stored < FILL {
            let size = sizes[id as usize % sizes.len()];
            let key = format!("value:{id}");
            let value = cache
                .get_or_load_local(&key, &options, || async move {
                    Ok::<_, Infallible>(Arc::new("x".repeat(size)))
                })
                .await;
            match value {
                Ok(v) => std::hint::black_box(v),
                Err(never) => match never {},
            };
            stored += size as u64;
            id += 1;
        }
    });
    let after = rss_bytes();
    let growth = after.saturating_sub(before);
    let heap = LIVE_BYTES.load(Relaxed).saturating_sub(heap_before);
    let allocations = LIVE_ALLOCATIONS
        .load(Relaxed)
        .saturating_sub(allocations_before);
    let stats = cache.stats();
    let (entries, weight) = (cache.l1_len(), cache.l1_weight());
    println!(
        "report: memory budget={BUDGET} filled={stored} values={id} loads={} rss_growth={growth} \
         l1_entries={entries} l1_weight={weight} heap_growth={heap} live_allocations={allocations}",
        stats.loads
    );
    let mib = |bytes: u64| bytes as f64 / (1 << 20) as f64;
    println!(
        "L1 byte budget {} MiB, filled with {} MiB in {id} values of {:?} bytes: RSS grew {:.1} MiB \
         ({:.2}× the budget)",
        BUDGET >> 20,
        stored >> 20,
        sizes,
        mib(growth),
        growth as f64 / BUDGET as f64
    );
    println!(
        "L1 holds {entries} entries weighing {:.1} MiB; {:.1} MiB live on the heap in {allocations} \
         allocations ({:.0} bytes and {:.1} allocations per entry); RSS / weight {:.3}, \
         heap / weight {:.3}",
        mib(weight),
        mib(heap as u64),
        heap as f64 / entries.max(1) as f64,
        allocations as f64 / entries.max(1) as f64,
        growth as f64 / weight.max(1) as f64,
        heap as f64 / weight.max(1) as f64,
    );
    drop(cache);
}
