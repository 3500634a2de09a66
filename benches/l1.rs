//! L1 hit: a `#[cached]` function and `Cache::get_or_load` vs a hand-written `quick_cache` get of
//! the same key, on 1 and 2 threads. Also prints heap allocations per hit (counting allocator).

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use futures_util::FutureExt;
use std::sync::OnceLock;

use layercache::{cached, Cache, EntryOptions};

#[path = "common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::allocations;

#[derive(Clone, Debug)]
#[allow(dead_code)]
struct Product {
    id: u64,
    name: String,
    price_cents: u64,
}

const OPTS: EntryOptions = EntryOptions::new().ttl(Duration::from_secs(3600));
const KEYS: u64 = 1024;

static CACHE: OnceLock<Cache> = OnceLock::new();

fn bench_cache() -> &'static Cache {
    CACHE.get_or_init(|| Cache::builder().l1_capacity(10_000).build())
}

/// What users write: the macro's hit path (key rendering, `get_fresh`, clone of the value).
#[cached(key = "product:<id>", ttl = "1h", cache = bench_cache())]
async fn get_product(id: u64) -> Arc<Product> {
    Arc::new(Product {
        id,
        name: format!("product {id}"),
        price_cents: id * 100,
    })
}

fn layercache_hit(id: u64) -> Arc<Product> {
    get_product(id)
        .now_or_never()
        .expect("an L1 hit completes without waiting")
}

/// The runtime API by hand: `get_or_load` with a literal key.
fn get_or_load_hit(cache: &Cache, key: &str) -> Arc<Product> {
    cache
        .get_or_load_local(key, &OPTS, || async { Err::<Arc<Product>, ()>(()) })
        .now_or_never()
        .expect("an L1 hit completes without waiting")
        .expect("warm")
}

fn raw_hit(qc: &quick_cache::sync::Cache<String, Arc<Product>>, id: u64) -> Arc<Product> {
    let key = format!("lc:product:{id}");
    qc.get(&key).expect("warm")
}

fn setup() -> Arc<quick_cache::sync::Cache<String, Arc<Product>>> {
    let qc = Arc::new(quick_cache::sync::Cache::new(10_000));
    for id in 0..KEYS {
        let p = get_product(id)
            .now_or_never()
            .expect("a load without waiting");
        qc.insert(format!("lc:product:{id}"), p);
    }
    qc
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
    let qc = setup();
    let cache = bench_cache();
    let keys: Vec<String> = (0..KEYS).map(|id| format!("product:{id}")).collect();
    let allocs = |f: &dyn Fn(u64)| {
        let before = allocations();
        for i in 0..10_000 {
            f(i % KEYS);
        }
        (allocations() - before) as f64 / 10_000.0
    };
    let ours = allocs(&|id| {
        std::hint::black_box(layercache_hit(id));
    });
    let raw = allocs(&|id| {
        std::hint::black_box(raw_hit(&qc, id));
    });
    println!(
        "heap allocations per L1 hit: #[cached] {ours:.2}, raw quick_cache {raw:.2} (both build the key String)"
    );

    let mut g = c.benchmark_group("l1_hit");
    for threads in [1usize, 2] {
        g.bench_function(format!("cached_macro/{threads}t"), |b| {
            b.iter_custom(|iters| {
                on_threads(threads, iters, |id| {
                    std::hint::black_box(layercache_hit(id));
                })
            })
        });
        g.bench_function(format!("get_or_load/{threads}t"), |b| {
            b.iter_custom(|iters| {
                on_threads(threads, iters, |id| {
                    std::hint::black_box(get_or_load_hit(cache, &keys[id as usize]));
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
