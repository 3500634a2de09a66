//! L1 hit: `Cache::load` (what `#[cached]` expands to) vs a hand-written `quick_cache` get of the
//! same key, on 1 and 2 threads. Also prints heap allocations per hit (counting allocator).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use futures_util::FutureExt;
use layercache::{Cache, EntryOptions, LoadPlan};

struct Counting;
static ALLOCS: AtomicU64 = AtomicU64::new(0);
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
}
#[global_allocator]
static GLOBAL: Counting = Counting;

#[derive(Clone, Debug)]
#[allow(dead_code)]
struct Product {
    id: u64,
    name: String,
    price_cents: u64,
}

const OPTS: EntryOptions = EntryOptions::new().ttl(Duration::from_secs(3600));
const KEYS: u64 = 1024;

fn layercache_hit(cache: &Cache, id: u64) -> Arc<Product> {
    let mut k = cache.key_builder();
    k.literal("product:").part(&id);
    let key = cache.finish_key(k);
    cache
        .load(key, &OPTS, LoadPlan::<Arc<Product>, ()>::local(), || async {
            unreachable!("bench keys are warm")
        })
        .now_or_never()
        .expect("an L1 hit completes without waiting")
        .expect("infallible")
}

fn raw_hit(qc: &quick_cache::sync::Cache<String, Arc<Product>>, id: u64) -> Arc<Product> {
    let key = format!("lc:product:{id}");
    qc.get(&key).expect("warm")
}

fn setup() -> (Cache, Arc<quick_cache::sync::Cache<String, Arc<Product>>>) {
    let cache = Cache::builder().l1_capacity(10_000).build();
    let qc = Arc::new(quick_cache::sync::Cache::new(10_000));
    for id in 0..KEYS {
        let p = Arc::new(Product { id, name: format!("product {id}"), price_cents: id * 100 });
        let mut k = cache.key_builder();
        k.literal("product:").part(&id);
        let key = cache.finish_key(k);
        let v = p.clone();
        cache
            .load(key, &OPTS, LoadPlan::<Arc<Product>, ()>::local(), || async move { Ok(v) })
            .now_or_never()
            .expect("ready")
            .expect("ok");
        qc.insert(format!("lc:product:{id}"), p);
    }
    (cache, qc)
}

fn on_threads(threads: usize, iters: u64, f: impl Fn(u64) + Sync) -> Duration {
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let f = &f;
            s.spawn(move || {
                for i in 0..iters {
                    f((i + t as u64 * 7) % KEYS);
                }
            });
        }
    });
    // Time per operation of one thread: the threads ran concurrently.
    start.elapsed()
}

fn l1_hit(c: &mut Criterion) {
    let (cache, qc) = setup();
    let before = ALLOCS.load(Relaxed);
    for i in 0..10_000 {
        std::hint::black_box(layercache_hit(&cache, i % KEYS));
    }
    let ours = (ALLOCS.load(Relaxed) - before) as f64 / 10_000.0;
    let before = ALLOCS.load(Relaxed);
    for i in 0..10_000 {
        std::hint::black_box(raw_hit(&qc, i % KEYS));
    }
    let raw = (ALLOCS.load(Relaxed) - before) as f64 / 10_000.0;
    println!("heap allocations per L1 hit: layercache {ours:.2}, raw quick_cache {raw:.2} (both build the key String)");

    let mut g = c.benchmark_group("l1_hit");
    for threads in [1usize, 2] {
        g.bench_function(format!("layercache/{threads}t"), |b| {
            b.iter_custom(|iters| {
                on_threads(threads, iters, |id| {
                    std::hint::black_box(layercache_hit(&cache, id));
                })
            })
        });
        g.bench_function(format!("quick_cache/{threads}t"), |b| {
            b.iter_custom(|iters| {
                on_threads(threads, iters, |id| {
                    std::hint::black_box(raw_hit(&qc, id));
                })
            })
        });
    }
    g.finish();
}

criterion_group!(benches, l1_hit);
criterion_main!(benches);
