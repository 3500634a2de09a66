//! L1's resident memory against its byte budget: a cache with a budget of [`BUDGET`] bytes is
//! filled with ten times that in values of mixed sizes (64 B to 16 KiB, through
//! `Cache::get_or_load_local`, as an L1-only `#[cached]` function stores them), and the growth
//! of the process's resident set (`VmRSS`) is compared with the budget.
//!
//! Prints `report: memory ...` for `benches/report.sh`. A plain program (no harness): run it
//! alone, so nothing else in the process allocates.
//!
//! `cargo bench -p peer-benches --bench memory`

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use layercache::{Cache, EntryOptions};

/// The L1 byte budget.
const BUDGET: u64 = 64 << 20;
/// Bytes of values stored: ten times the budget.
const FILL: u64 = 10 * BUDGET;
/// Value sizes, in turn: small, medium and large values mixed.
const SIZES: [usize; 6] = [64, 256, 1024, 4096, 16_384, 700];

/// L1's entry bound: more than the fill's values (about 180,000), and a realistic size for
/// quick_cache's tables.
const ENTRY_CAPACITY: usize = 1_000_000;

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
    let before = rss_bytes();
    let mut stored = 0u64;
    let mut id = 0u64;
    runtime.block_on(async {
        while stored < FILL {
            let size = SIZES[id as usize % SIZES.len()];
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
    let stats = cache.stats();
    println!(
        "report: memory budget={BUDGET} filled={stored} values={id} loads={} rss_growth={growth}",
        stats.loads
    );
    println!(
        "L1 byte budget {} MiB, filled with {} MiB in {id} values of {:?} bytes: RSS grew {:.1} MiB \
         ({:.2}× the budget)",
        BUDGET >> 20,
        stored >> 20,
        SIZES,
        growth as f64 / (1 << 20) as f64,
        growth as f64 / BUDGET as f64
    );
    drop(cache);
}
