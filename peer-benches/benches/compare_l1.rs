//! L1 hit, side by side on the wall clock: layercache `#[cached]` and `Cache::get_or_load`, raw
//! quick_cache with a prebuilt key and with a `format!` key, and the `cached` crate's `#[cached]`
//! (one lock around the store) and `#[concurrent_cached]` (sharded). Every contender is an
//! `async fn(u64) -> Arc<String>` over 64 warm keys (`peer_benches::l1`), called in a loop inside
//! a current-thread Tokio runtime per thread: on 1 thread over all 64 keys, and on 2 threads that
//! both read one hot key.
//!
//! Also counts heap allocations per hit with a counting global allocator (printed as
//! `report: alloc ...` lines that `benches/report.sh` collects).
//!
//! `cargo bench -p peer-benches --bench compare_l1` (add `-- --measurement-time 2` for a quick run).

use std::future::Future;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use peer_benches::counting_alloc::{allocations, Counting};
use peer_benches::l1::{
    cached_cached, cached_concurrent, hit, layercache_cached, layercache_get_or_load, quick_format,
    quick_prebuilt, warm_all, PrebuiltKeys, KEYS,
};

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Which keys the threads read.
#[derive(Clone, Copy)]
enum Keys {
    /// Every thread walks all [`KEYS`].
    All,
    /// Every thread reads key 0.
    OneHot,
}

impl Keys {
    fn id(self, i: u64, thread: u64) -> u64 {
        match self {
            Keys::All => (i.wrapping_mul(7) + thread * 13) % KEYS,
            Keys::OneHot => 0,
        }
    }
}

/// `iters` hits on each of `threads` threads at once; returns the slowest thread's time, i.e. the
/// time per hit of one thread while the others hit too.
fn run<F, Fut>(threads: u64, keys: Keys, iters: u64, call: F) -> Duration
where
    F: Fn(u64) -> Fut + Copy + Send,
    Fut: Future<Output = Arc<String>>,
{
    let barrier = Barrier::new(threads as usize);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let barrier = &barrier;
                s.spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("runtime");
                    barrier.wait();
                    let started = Instant::now();
                    rt.block_on(async {
                        for i in 0..iters {
                            std::hint::black_box(call(keys.id(i, t)).await);
                        }
                    });
                    started.elapsed()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("bench thread"))
            .max()
            .unwrap_or_default()
    })
}

/// Heap allocations per hit over 10,000 warm hits on this thread.
fn allocations_per_hit<F, Fut>(call: F) -> f64
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = Arc<String>>,
{
    const N: u64 = 10_000;
    let before = allocations();
    for i in 0..N {
        std::hint::black_box(hit(call(i % KEYS)));
    }
    (allocations() - before) as f64 / N as f64
}

fn l1_hit(c: &mut Criterion) {
    let keys: &'static PrebuiltKeys = Box::leak(Box::new(PrebuiltKeys::new()));
    warm_all(keys);
    let get_or_load = |id: u64| layercache_get_or_load(id, &keys.get_or_load[id as usize]);
    let prebuilt = |id: u64| quick_prebuilt(id, &keys.quick[id as usize]);

    for (name, per_hit) in [
        ("layercache", allocations_per_hit(layercache_cached)),
        ("layercache_get_or_load", allocations_per_hit(get_or_load)),
        ("quick_cache_prebuilt_key", allocations_per_hit(prebuilt)),
        ("quick_cache_format_key", allocations_per_hit(quick_format)),
        ("cached", allocations_per_hit(cached_cached)),
        ("cached_concurrent", allocations_per_hit(cached_concurrent)),
    ] {
        println!("report: alloc {name} {per_hit:.2}");
    }

    let mut group = c.benchmark_group("compare_l1_hit");
    for (threads, keys, label) in [(1, Keys::All, "1t"), (2, Keys::OneHot, "2t_hot_key")] {
        let mut bench = |name: &str, f: &dyn Fn(u64) -> Duration| {
            group.bench_function(format!("{name}/{label}"), |b| b.iter_custom(f));
        };
        bench("layercache", &|n| run(threads, keys, n, layercache_cached));
        bench("layercache_get_or_load", &|n| {
            run(threads, keys, n, get_or_load)
        });
        bench("quick_cache_prebuilt_key", &|n| {
            run(threads, keys, n, prebuilt)
        });
        bench("quick_cache_format_key", &|n| {
            run(threads, keys, n, quick_format)
        });
        bench("cached", &|n| run(threads, keys, n, cached_cached));
        bench("cached_concurrent", &|n| {
            run(threads, keys, n, cached_concurrent)
        });
    }
    group.finish();
}

criterion_group!(benches, l1_hit);
criterion_main!(benches);
