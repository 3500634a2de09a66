//! Stampede: 10,000 concurrent callers on one cold key, whose loader takes 20 ms. How many times
//! does the loader run, and how long until every caller has its value?
//!
//! layercache (single-flight) vs the `cached` crate with `sync_writes = "by_key"` vs `cached`
//! without it (no protection, its default). Loader-call counts over 10 stampedes are printed as
//! `report: stampede ...` lines that `benches/report.sh` collects.
//!
//! `cargo bench -p peer-benches --bench stampede` (add `-- --measurement-time 2` for a quick run).

use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use layercache::Cache;
use peer_benches::two_worker_runtime;

const CALLERS: usize = 10_000;
const LOAD_TIME: Duration = Duration::from_millis(20);

#[derive(Clone, Debug)]
#[allow(dead_code)]
struct Product {
    id: u64,
    name: String,
}

/// The slow source of truth; counts its calls per contender.
async fn load(calls: &AtomicU64, id: u64) -> Arc<Product> {
    calls.fetch_add(1, SeqCst);
    tokio::time::sleep(LOAD_TIME).await;
    Arc::new(Product {
        id,
        name: format!("product {id}"),
    })
}

static LAYERCACHE_LOADS: AtomicU64 = AtomicU64::new(0);
static SYNC_WRITES_LOADS: AtomicU64 = AtomicU64::new(0);
static UNPROTECTED_LOADS: AtomicU64 = AtomicU64::new(0);

fn bench_cache() -> &'static Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE.get_or_init(|| Cache::builder().namespace("stampede").build())
}

#[layercache::cached(key = "product:<id>", ttl = "1h", cache = bench_cache())]
async fn layercache_product(id: u64) -> Arc<Product> {
    load(&LAYERCACHE_LOADS, id).await
}

#[cached::macros::cached(max_size = 100_000, ttl_secs = 3600, sync_writes = "by_key")]
async fn cached_sync_writes_product(id: u64) -> Arc<Product> {
    load(&SYNC_WRITES_LOADS, id).await
}

#[cached::macros::cached(max_size = 100_000, ttl_secs = 3600)]
async fn cached_unprotected_product(id: u64) -> Arc<Product> {
    load(&UNPROTECTED_LOADS, id).await
}

/// A key no contender has seen.
fn cold_key() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, SeqCst)
}

/// [`CALLERS`] tasks call `f(key)` at once; returns the time until the last one has its value.
async fn stampede<F, Fut>(f: F, key: u64) -> Duration
where
    F: Fn(u64) -> Fut,
    Fut: std::future::Future<Output = Arc<Product>> + Send + 'static,
{
    let started = Instant::now();
    let tasks: Vec<_> = (0..CALLERS).map(|_| tokio::spawn(f(key))).collect();
    for task in tasks {
        let product = task.await.expect("caller");
        assert_eq!(product.id, key);
    }
    started.elapsed()
}

/// Stampedes per contender outside criterion, counting loader calls in each.
const REPORT_ROUNDS: usize = 10;

/// [`REPORT_ROUNDS`] stampedes per contender, outside criterion: the fewest and most loader calls
/// one stampede caused, and the median time of one stampede.
fn report() {
    fn rounds<F, Fut>(name: &str, calls: &AtomicU64, f: F)
    where
        F: Fn(u64) -> Fut + Copy,
        Fut: std::future::Future<Output = Arc<Product>> + Send + 'static,
    {
        let mut loads = Vec::new();
        let mut times = Vec::new();
        for _ in 0..REPORT_ROUNDS {
            calls.store(0, SeqCst);
            times.push(two_worker_runtime().block_on(stampede(f, cold_key())));
            loads.push(calls.load(SeqCst));
        }
        times.sort();
        println!(
            "report: stampede {name} loads_min={} loads_max={} rounds={REPORT_ROUNDS} ms={:.1}",
            loads.iter().min().unwrap_or(&0),
            loads.iter().max().unwrap_or(&0),
            times[times.len() / 2].as_secs_f64() * 1e3
        );
    }
    rounds("layercache", &LAYERCACHE_LOADS, layercache_product);
    rounds(
        "cached_sync_writes",
        &SYNC_WRITES_LOADS,
        cached_sync_writes_product,
    );
    rounds(
        "cached_no_protection",
        &UNPROTECTED_LOADS,
        cached_unprotected_product,
    );
}

fn bench_stampede(c: &mut Criterion) {
    report();
    let rt = two_worker_runtime();
    let mut group = c.benchmark_group("stampede_10000_callers");
    group.sample_size(10);
    group.bench_function("layercache", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| rt.block_on(stampede(layercache_product, cold_key())))
                .sum()
        })
    });
    group.bench_function("cached_sync_writes", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| rt.block_on(stampede(cached_sync_writes_product, cold_key())))
                .sum()
        })
    });
    group.bench_function("cached_no_protection", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| rt.block_on(stampede(cached_unprotected_product, cold_key())))
                .sum()
        })
    });
    group.finish();
}

criterion_group!(benches, bench_stampede);
criterion_main!(benches);
