//! L2 hit, side by side, against a `redis-server` this bench starts on a free loopback port:
//!
//! - layercache with L1 disabled (`EntryOptions::new().l1(false)`, the path `#[cached(l2)]` takes
//!   on an L1 miss): envelope, generation and tag checks, bincode decode;
//! - raw redis-rs: a multiplexed `GET` of bincode bytes and a decode, nothing else;
//! - the `cached` crate's `#[concurrent_cached]` over its `AsyncRedisCache`;
//! - `hitbox` 0.2's `RedisBackend` (bincode), through its typed `CacheBackend::get`.
//!
//! Each from one task (latency of one call) and from 32 tasks at once, one key per task (so no
//! contender can merge the reads of one key).
//!
//! `cargo bench -p peer-benches --bench compare_l2` (add `-- --measurement-time 2` for a quick run).

use std::future::Future;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use hitbox::predicate::{Predicate, PredicateResult};
use hitbox::{
    CacheContext, CachePolicy, CacheValue, CacheableResponse, EntityPolicyConfig,
    ResponseCachePolicy,
};
use hitbox_backend::CacheBackend;
use hitbox_redis::{ConnectionMode, RedisBackend};
use layercache::{Cache, Codec, EntryOptions, RedisL2};
use layercache_test_support::RedisServer;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Product {
    id: u64,
    name: String,
    description: String,
    price_cents: u64,
    tags: Vec<String>,
}

fn product(id: u64) -> Product {
    Product {
        id,
        name: "Desk lamp, brushed steel".into(),
        description: "An adjustable desk lamp with a weighted base, warm-white LED, dimmer, \
                      and a two-metre braided cable. Ships flat-packed; no tools needed. \
                      Replacement bulbs are sold separately in packs of two and four."
            .into(),
        price_cents: 4_999,
        tags: vec!["lighting".into(), "office".into(), "home".into()],
    }
}

const TASKS: u64 = 32;
const TTL: Duration = Duration::from_secs(3600);
/// Every call goes to Redis.
const L2_ONLY: EntryOptions = EntryOptions::new().ttl(TTL).l1(false);

/// Set once in [`setup`]; read by the contenders (and by `cached`'s `create` block).
static REDIS_URL: OnceLock<String> = OnceLock::new();
static CONTENDERS: OnceLock<Contenders> = OnceLock::new();

struct Contenders {
    layercache: Cache,
    raw: redis::aio::MultiplexedConnection,
    hitbox: RedisBackend,
}

fn contenders() -> &'static Contenders {
    CONTENDERS.get().expect("set up before the first call")
}

// --- the four ways to read product `id` from Redis -------------------------------------------

async fn layercache_product(id: u64) -> Product {
    let cache = &contenders().layercache;
    let key = format!("product:{id}");
    cache
        .get_or_load(&key, &L2_ONLY, || async {
            Err::<Product, _>("bench keys are warm: this would be a miss")
        })
        .await
        .expect("an L2 hit")
}

async fn raw_product(id: u64) -> Product {
    let mut conn = contenders().raw.clone();
    let bytes: Vec<u8> = redis::cmd("GET")
        .arg(format!("raw:product:{id}"))
        .query_async(&mut conn)
        .await
        .expect("raw GET");
    Codec::Bincode.decode(&bytes).expect("decode")
}

#[cached::macros::concurrent_cached(
    map_error = r##"|e| format!("{e:?}")"##,
    ty = "cached::AsyncRedisCache<u64, Product>",
    create = r##"{
        cached::AsyncRedisCache::builder("bench:cached")
            .ttl(TTL)
            .connection_string(REDIS_URL.get().expect("redis url"))
            .build()
            .await
            .expect("cached's AsyncRedisCache connects")
    }"##
)]
async fn cached_redis_product(id: u64) -> Result<Product, String> {
    Ok(product(id))
}

async fn cached_product(id: u64) -> Product {
    cached_redis_product(id).await.expect("cached")
}

/// hitbox stores "responses"; a product is its own cached form.
impl CacheableResponse for Product {
    type Cached = Product;
    type Subject = Product;
    type IntoCachedFuture = std::future::Ready<CachePolicy<Product, Product>>;
    type FromCachedFuture = std::future::Ready<Product>;

    async fn cache_policy<P>(
        self,
        predicates: P,
        _: &EntityPolicyConfig,
    ) -> ResponseCachePolicy<Self>
    where
        P: Predicate<Subject = Self::Subject> + Send + Sync,
    {
        match predicates.check(self).await {
            PredicateResult::Cacheable(p) => CachePolicy::Cacheable(CacheValue::new(p, None, None)),
            PredicateResult::NonCacheable(p) => CachePolicy::NonCacheable(p),
        }
    }

    fn into_cached(self) -> Self::IntoCachedFuture {
        std::future::ready(CachePolicy::Cacheable(self))
    }

    fn from_cached(cached: Product) -> Self::FromCachedFuture {
        std::future::ready(cached)
    }
}

fn hitbox_key(id: u64) -> hitbox::CacheKey {
    hitbox::CacheKey::from_str("product", &id.to_string())
}

async fn hitbox_product(id: u64) -> Product {
    let mut ctx = CacheContext::default().boxed();
    contenders()
        .hitbox
        .get::<Product>(&hitbox_key(id), &mut ctx)
        .await
        .expect("hitbox get")
        .expect("a hitbox hit")
        .into_inner()
}

// --- set-up and measurement -------------------------------------------------------------------

/// Connects every contender and stores products `0..TASKS` through each of them.
async fn setup(url: &str) {
    // A generous timeout: on a loaded machine the default (50 ms) could open the breaker
    // mid-bench, and the bench would measure skipped reads.
    let layer = RedisL2::builder(url)
        .timeout(Duration::from_secs(1))
        .build()
        .await
        .expect("RedisL2 connects");
    let layercache = Cache::builder()
        .namespace("bench")
        .codec(Codec::Bincode)
        .l2(layer)
        .build();
    let client = redis::Client::open(url).expect("url");
    let mut raw = client
        .get_multiplexed_async_connection()
        .await
        .expect("raw connection");
    let hitbox = RedisBackend::builder()
        .connection(ConnectionMode::single(url))
        .build()
        .expect("hitbox backend");
    for id in 0..TASKS {
        let p = product(id);
        layercache.set(&format!("product:{id}"), &p, &L2_ONLY).await;
        let bytes = Codec::Bincode.encode(&p).expect("encode");
        let () = redis::cmd("SET")
            .arg(format!("raw:product:{id}"))
            .arg(bytes)
            .query_async(&mut raw)
            .await
            .expect("raw SET");
        let mut ctx = CacheContext::default().boxed();
        hitbox
            .set::<Product>(&hitbox_key(id), &CacheValue::new(p, None, None), &mut ctx)
            .await
            .expect("hitbox set");
    }
    let _ = CONTENDERS.set(Contenders {
        layercache,
        raw,
        hitbox,
    });
    for id in 0..TASKS {
        let want = product(id);
        assert_eq!(layercache_product(id).await, want);
        assert_eq!(raw_product(id).await, want);
        assert_eq!(
            cached_product(id).await,
            want,
            "first call loads and stores"
        );
        assert_eq!(cached_product(id).await, want);
        assert_eq!(hitbox_product(id).await, want);
    }
    let stats = contenders().layercache.stats();
    assert_eq!(stats.loads, 0, "layercache read every value from Redis");
    assert_eq!(stats.l1_hits, 0, "L1 is off");
}

/// Commands the server has run so far (from `INFO commandstats`).
async fn commands_run() -> u64 {
    let mut conn = contenders().raw.clone();
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut conn)
        .await
        .expect("INFO");
    info.lines()
        .filter_map(|l| {
            l.split_once("calls=")?
                .1
                .split(',')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

/// Redis commands one hit of `call` sends, averaged over 100 hits.
async fn commands_per_hit<F, Fut>(call: F) -> f64
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = Product>,
{
    const N: u64 = 100;
    let before = commands_run().await;
    for i in 0..N {
        call(i % TASKS).await;
    }
    // The second INFO counts the first one.
    (commands_run().await - before - 1) as f64 / N as f64
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime")
    })
}

/// `iters` calls split over `tasks` tasks, each on its own key; returns the wall time.
async fn spread<F, Fut>(tasks: u64, iters: u64, call: F) -> Duration
where
    F: Fn(u64) -> Fut + Copy + Send + 'static,
    Fut: Future<Output = Product> + Send,
{
    let per_task = iters.div_ceil(tasks);
    let started = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|id| {
            tokio::spawn(async move {
                for _ in 0..per_task {
                    std::hint::black_box(call(id).await);
                }
            })
        })
        .collect();
    for h in handles {
        h.await.expect("task");
    }
    started.elapsed()
}

fn bench<F, Fut>(c: &mut Criterion, group: &str, name: &str, tasks: u64, call: F)
where
    F: Fn(u64) -> Fut + Copy + Send + 'static,
    Fut: Future<Output = Product> + Send,
{
    let mut g = c.benchmark_group(group);
    g.bench_function(name, |b| {
        b.iter_custom(|iters| runtime().block_on(spread(tasks, iters, call)))
    });
    g.finish();
}

fn l2_hit(c: &mut Criterion) {
    let server = RedisServer::start();
    let _ = REDIS_URL.set(server.url());
    runtime().block_on(async {
        setup(&server.url()).await;
        for (name, per_hit) in [
            (
                "layercache_l1_off",
                commands_per_hit(layercache_product).await,
            ),
            ("raw_redis_get_decode", commands_per_hit(raw_product).await),
            ("cached_async_redis", commands_per_hit(cached_product).await),
            ("hitbox_redis", commands_per_hit(hitbox_product).await),
        ] {
            println!("report: commands_per_hit {name} {per_hit:.2}");
        }
    });
    for (group, tasks) in [
        ("compare_l2_hit_1_task", 1),
        ("compare_l2_hit_32_tasks", TASKS),
    ] {
        bench(c, group, "layercache_l1_off", tasks, layercache_product);
        bench(c, group, "raw_redis_get_decode", tasks, raw_product);
        bench(c, group, "cached_async_redis", tasks, cached_product);
        bench(c, group, "hitbox_redis", tasks, hitbox_product);
    }
    drop(server);
}

criterion_group!(benches, l2_hit);
criterion_main!(benches);
