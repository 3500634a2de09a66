//! L1 hit, side by side: layercache `#[cached]`, a hand-written `quick_cache` lookup, the `cached`
//! crate's `#[cached]` (one lock around the store) and its `#[concurrent_cached]` (sharded), on 1
//! and 2 threads. Every contender is an `async fn(u64) -> Arc<Product>` whose 1,024 keys are warm,
//! called in a loop inside a current-thread Tokio runtime per thread.
//!
//! Also counts heap allocations per hit with a counting global allocator (printed as
//! `report: alloc ...` lines that `benches/report.sh` collects).
//!
//! `cargo bench -p peer-benches --bench compare_l1` (add `-- --measurement-time 2` for a quick run).

use std::convert::Infallible;
use std::sync::{Arc, Barrier, OnceLock};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use layercache::__private::{CacheInternals, LoadPlan};
use layercache::{Cache, EntryOptions};

#[path = "../../benches/common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::allocations;

#[derive(Clone, Debug)]
#[allow(dead_code)]
struct Product {
    id: u64,
    name: String,
    price_cents: u64,
}

fn product(id: u64) -> Arc<Product> {
    Arc::new(Product {
        id,
        name: format!("product {id}"),
        price_cents: id * 100,
    })
}

const KEYS: u64 = 1_024;
const CAPACITY: usize = 10_000;

fn bench_cache() -> &'static Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE.get_or_init(|| {
        Cache::builder()
            .namespace("bench")
            .l1_capacity(CAPACITY)
            .build()
    })
}

#[layercache::cached(key = "product:<id>", ttl = "1h", cache = bench_cache())]
async fn layercache_product(id: u64) -> Arc<Product> {
    product(id)
}

/// What `#[cached]` expands to, written by hand without the per-call clone of the `Cache`
/// handle: shows what the macro's expansion costs on top of the runtime.
async fn layercache_load_by_hand(id: u64) -> Arc<Product> {
    const OPTIONS: EntryOptions = EntryOptions::new().ttl(Duration::from_secs(3600));
    let cache = bench_cache();
    let mut key = cache.key_builder();
    key.literal("product:").part(&id);
    let key = cache.finish_key(key);
    let loaded = cache
        .load(
            key,
            &OPTIONS,
            LoadPlan::<_, Infallible>::local(),
            || async move { Ok(product(id)) },
        )
        .await;
    match loaded {
        Ok(v) => v,
        Err(never) => match never {},
    }
}

fn quick() -> &'static quick_cache::sync::Cache<u64, Arc<Product>> {
    static QUICK: OnceLock<quick_cache::sync::Cache<u64, Arc<Product>>> = OnceLock::new();
    QUICK.get_or_init(|| quick_cache::sync::Cache::new(CAPACITY))
}

/// What a team writes by hand: look up, else load and insert (no TTL, no single-flight).
async fn quick_cache_product(id: u64) -> Arc<Product> {
    if let Some(hit) = quick().get(&id) {
        return hit;
    }
    let value = product(id);
    quick().insert(id, value.clone());
    value
}

#[cached::macros::cached(max_size = 10_000, ttl_secs = 3600)]
async fn cached_product(id: u64) -> Arc<Product> {
    product(id)
}

#[cached::macros::concurrent_cached(max_size = 10_000, ttl_secs = 3600)]
async fn cached_concurrent_product(id: u64) -> Arc<Product> {
    product(id)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// `iters` hits on each of `threads` threads at once; returns the slowest thread's time, i.e. the
/// time per hit of one thread while the others hit too.
fn run<F, Fut>(threads: usize, iters: u64, call: F) -> Duration
where
    F: Fn(u64) -> Fut + Copy + Send,
    Fut: std::future::Future<Output = Arc<Product>>,
{
    let barrier = Barrier::new(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads as u64)
            .map(|t| {
                let barrier = &barrier;
                s.spawn(move || {
                    let rt = runtime();
                    barrier.wait();
                    let started = Instant::now();
                    rt.block_on(async {
                        for i in 0..iters {
                            let id = (i.wrapping_mul(7) + t * 13) % KEYS;
                            std::hint::black_box(call(id).await);
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

/// Loads every key once, then returns the heap allocations per hit over 10,000 warm hits.
fn warm_and_count<F, Fut>(call: F) -> f64
where
    F: Fn(u64) -> Fut,
    Fut: std::future::Future<Output = Arc<Product>>,
{
    const N: u64 = 10_000;
    let rt = runtime();
    rt.block_on(async {
        for id in 0..KEYS {
            call(id).await;
        }
        let before = allocations();
        for i in 0..N {
            std::hint::black_box(call(i % KEYS).await);
        }
        (allocations() - before) as f64 / N as f64
    })
}

fn l1_hit(c: &mut Criterion) {
    println!(
        "report: alloc layercache {:.2}",
        warm_and_count(layercache_product)
    );
    println!(
        "report: alloc layercache_load_by_hand {:.2}",
        warm_and_count(layercache_load_by_hand)
    );
    println!(
        "report: alloc quick_cache_by_hand {:.2}",
        warm_and_count(quick_cache_product)
    );
    println!("report: alloc cached {:.2}", warm_and_count(cached_product));
    println!(
        "report: alloc cached_concurrent {:.2}",
        warm_and_count(cached_concurrent_product)
    );
    assert_eq!(
        bench_cache().stats().loads,
        KEYS,
        "layercache loaded each key once"
    );

    let mut group = c.benchmark_group("compare_l1_hit");
    for threads in [1usize, 2] {
        group.bench_function(format!("layercache/{threads}t"), |b| {
            b.iter_custom(|iters| run(threads, iters, layercache_product))
        });
        group.bench_function(format!("layercache_load_by_hand/{threads}t"), |b| {
            b.iter_custom(|iters| run(threads, iters, layercache_load_by_hand))
        });
        group.bench_function(format!("quick_cache_by_hand/{threads}t"), |b| {
            b.iter_custom(|iters| run(threads, iters, quick_cache_product))
        });
        group.bench_function(format!("cached/{threads}t"), |b| {
            b.iter_custom(|iters| run(threads, iters, cached_product))
        });
        group.bench_function(format!("cached_concurrent/{threads}t"), |b| {
            b.iter_custom(|iters| run(threads, iters, cached_concurrent_product))
        });
    }
    group.finish();
}

criterion_group!(benches, l1_hit);
criterion_main!(benches);
