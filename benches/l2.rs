//! L2 hit through the cache (L1 bypassed) vs a raw redis-rs multiplexed GET + decode of the same
//! 300-byte value, sequentially and from 64 concurrent tasks. Starts its own `redis-server` on a
//! free loopback port (never 6379) and kills it at the end.
//!
//! `cargo bench --bench l2` (add `-- --measurement-time 2` for a quick run).

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use layercache::__private::envelope::Envelope;
use layercache::{Cache, Codec, EntryOptions, RedisL2, L2};
use layercache_test_support::RedisServer;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
struct Product {
    id: u64,
    name: String,
    description: String,
    price_cents: u64,
    tags: Vec<String>,
}

fn product() -> Product {
    Product {
        id: 7,
        name: "Desk lamp, brushed steel".into(),
        description: "An adjustable desk lamp with a weighted base, warm-white LED, dimmer, \
                      and a two-metre braided cable. Ships flat-packed; no tools needed. \
                      Replacement bulbs are sold separately in packs of two and four."
            .into(),
        price_cents: 4_999,
        tags: vec!["lighting".into(), "office".into(), "home".into()],
    }
}

/// L1 off: every call goes to Redis.
const L2_ONLY: EntryOptions = EntryOptions::new().ttl(Duration::from_secs(3600)).l1(false);
const NAMESPACE: &str = "bench";
const KEY: &str = "product:7";
const TASKS: usize = 64;

struct Setup {
    cache: Cache,
    layer: RedisL2,
    raw: redis::aio::MultiplexedConnection,
    /// The Redis key the cache stored the value under.
    redis_key: String,
    full_key: String,
    /// One key per concurrent task, so the cache's single-flight does not merge their reads.
    task_keys: Vec<TaskKey>,
}

struct TaskKey {
    key: String,
    full_key: String,
    redis_key: String,
}

async fn setup(server: &RedisServer) -> Setup {
    // A generous timeout: on a loaded machine a 50 ms one can trip the breaker mid-bench.
    let layer = RedisL2::builder(server.url())
        .timeout(Duration::from_secs(1))
        .build()
        .await
        .expect("connect");
    let cache = Cache::builder()
        .namespace(NAMESPACE)
        .codec(Codec::Bincode)
        .l2(layer.clone())
        .build();
    cache.set(KEY, &product(), &L2_ONLY).await;
    let full_key = cache.key(KEY).into_string();
    let stored = layer.get(&full_key).await.expect("get").expect("stored");
    assert!(
        (280..=340).contains(&stored.len()),
        "a ~300-byte value, got {}",
        stored.len()
    );
    let loaded: Product = cache
        .get_or_load(KEY, &L2_ONLY, || async { Err::<Product, _>("warm") })
        .await
        .expect("an L2 hit");
    assert_eq!(loaded, product());

    let mut task_keys = Vec::new();
    for t in 0..TASKS {
        let key = format!("{KEY}:{t}");
        cache.set(&key, &product(), &L2_ONLY).await;
        task_keys.push(TaskKey {
            full_key: cache.key(&key).into_string(),
            redis_key: format!("{NAMESPACE}:@:{key}"),
            key,
        });
    }

    let client = redis::Client::open(server.url()).expect("url");
    let raw = client
        .get_multiplexed_async_connection()
        .await
        .expect("raw connection");
    Setup {
        cache,
        layer,
        raw,
        redis_key: format!("{NAMESPACE}:@:{KEY}"),
        full_key,
        task_keys,
    }
}

fn decode(bytes: &[u8]) -> Product {
    let envelope = Envelope::decode(bytes, 1 << 20).expect("envelope");
    Codec::Bincode.decode(&envelope.payload).expect("payload")
}

async fn cache_hit(cache: &Cache, key: &str) -> Product {
    cache
        .get_or_load(key, &L2_ONLY, || async {
            Err::<Product, _>("bench key is warm")
        })
        .await
        .expect("an L2 hit")
}

async fn layer_hit(layer: &RedisL2, full_key: &str) -> Product {
    decode(&layer.get(full_key).await.expect("get").expect("hit"))
}

async fn raw_hit(raw: &mut redis::aio::MultiplexedConnection, redis_key: &str) -> Product {
    let bytes: Vec<u8> = redis::cmd("GET")
        .arg(redis_key)
        .query_async(raw)
        .await
        .expect("raw GET");
    // The layer stores `V<version>:<generation>:` before the envelope.
    let start = bytes
        .iter()
        .enumerate()
        .filter(|(_, &b)| b == b':')
        .nth(1)
        .map_or(0, |(p, _)| p + 1);
    decode(&bytes[start..])
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn sequential(c: &mut Criterion) {
    let server = RedisServer::start();
    let rt = rt_handle();
    let s = rt.block_on(setup(&server));
    let mut group = c.benchmark_group("l2_hit_sequential");
    group.throughput(Throughput::Elements(1));
    group.bench_function("cache_get_or_load_l1_off", |b| {
        b.to_async(rt).iter(|| cache_hit(&s.cache, KEY))
    });
    group.bench_function("redis_layer_get_decode", |b| {
        b.to_async(rt).iter(|| layer_hit(&s.layer, &s.full_key))
    });
    group.bench_function("raw_multiplexed_get_decode", |b| {
        b.to_async(rt).iter(|| {
            let mut raw = s.raw.clone();
            let key = s.redis_key.clone();
            async move { raw_hit(&mut raw, &key).await }
        })
    });
    group.finish();
}

/// Runs `iters` gets split over [`TASKS`] tasks and returns the wall time.
async fn spread<F, Fut>(iters: u64, op: F) -> Duration
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Product> + Send,
{
    let op = Arc::new(op);
    let per_task = iters.div_ceil(TASKS as u64);
    let started = Instant::now();
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let op = Arc::clone(&op);
            tokio::spawn(async move {
                for _ in 0..per_task {
                    std::hint::black_box(op(t).await);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    started.elapsed()
}

fn concurrent(c: &mut Criterion) {
    let server = RedisServer::start();
    let s = Arc::new(rt_handle().block_on(setup(&server)));
    let mut group = c.benchmark_group("l2_hit_64_tasks");
    group.throughput(Throughput::Elements(1));
    let id = |name: &str| BenchmarkId::new(name, TASKS);
    {
        let s = Arc::clone(&s);
        group.bench_function(id("cache_get_or_load_l1_off"), move |b| {
            let s = Arc::clone(&s);
            b.to_async(rt_handle()).iter_custom(move |iters| {
                let s = Arc::clone(&s);
                async move {
                    spread(iters, move |t| {
                        let s = Arc::clone(&s);
                        async move { cache_hit(&s.cache, &s.task_keys[t].key).await }
                    })
                    .await
                }
            })
        });
    }
    {
        let s = Arc::clone(&s);
        group.bench_function(id("redis_layer_get_decode"), move |b| {
            let s = Arc::clone(&s);
            b.to_async(rt_handle()).iter_custom(move |iters| {
                let s = Arc::clone(&s);
                async move {
                    spread(iters, move |t| {
                        let s = Arc::clone(&s);
                        async move { layer_hit(&s.layer, &s.task_keys[t].full_key).await }
                    })
                    .await
                }
            })
        });
    }
    {
        let s = Arc::clone(&s);
        group.bench_function(id("raw_multiplexed_get_decode"), move |b| {
            let s = Arc::clone(&s);
            b.to_async(rt_handle()).iter_custom(move |iters| {
                let s = Arc::clone(&s);
                async move {
                    spread(iters, move |t| {
                        let mut raw = s.raw.clone();
                        let s = Arc::clone(&s);
                        async move { raw_hit(&mut raw, &s.task_keys[t].redis_key).await }
                    })
                    .await
                }
            })
        });
    }
    group.finish();
}

/// The runtime of every benchmark: the connections are made on it, as an application would.
fn rt_handle() -> &'static tokio::runtime::Runtime {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(runtime)
}

/// Criterion measures one variant after the other; on a shared machine the load drifts between
/// them. This runs the variants in alternating short bursts and prints medians and ratios.
/// Set `L2_BENCH_NO_SUMMARY=1` to skip it (e.g. under a profiler).
fn interleaved_summary(_c: &mut Criterion) {
    if std::env::var_os("L2_BENCH_NO_SUMMARY").is_some() {
        return;
    }
    const ROUNDS: usize = 15;
    const SEQ_OPS: u64 = 2_000;
    const PAR_OPS: u64 = 64_000;
    let server = RedisServer::start();
    let rt = rt_handle();
    let s = Arc::new(rt.block_on(setup(&server)));
    let names = ["cache", "layer", "raw"];
    let mut seq: [Vec<f64>; 3] = Default::default();
    let mut par: [Vec<f64>; 3] = Default::default();
    rt.block_on(async {
        for _ in 0..ROUNDS {
            for (v, out) in seq.iter_mut().enumerate() {
                let started = Instant::now();
                for _ in 0..SEQ_OPS {
                    std::hint::black_box(match v {
                        0 => cache_hit(&s.cache, KEY).await,
                        1 => layer_hit(&s.layer, &s.full_key).await,
                        _ => raw_hit(&mut s.raw.clone(), &s.redis_key).await,
                    });
                }
                out.push(started.elapsed().as_secs_f64() * 1e6 / SEQ_OPS as f64);
            }
            for (v, out) in par.iter_mut().enumerate() {
                let s2 = Arc::clone(&s);
                let took = spread(PAR_OPS, move |t| {
                    let s = Arc::clone(&s2);
                    async move {
                        let k = &s.task_keys[t];
                        match v {
                            0 => cache_hit(&s.cache, &k.key).await,
                            1 => layer_hit(&s.layer, &k.full_key).await,
                            _ => raw_hit(&mut s.raw.clone(), &k.redis_key).await,
                        }
                    }
                })
                .await;
                out.push(PAR_OPS as f64 / took.as_secs_f64());
            }
        }
    });
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    let seq: Vec<f64> = seq.iter_mut().map(median).collect();
    let par: Vec<f64> = par.iter_mut().map(median).collect();
    println!("\ninterleaved medians over {ROUNDS} rounds (300-byte value, L1 off):");
    for (i, name) in names.iter().enumerate() {
        println!(
            "  {name:<6} sequential {:>7.1} µs/op ({:.2}x raw)   64 tasks {:>9.0} ops/s ({:.2}x raw)",
            seq[i],
            seq[i] / seq[2],
            par[i],
            par[i] / par[2],
        );
    }
}

criterion_group!(benches, sequential, concurrent, interleaved_summary);
criterion_main!(benches);
