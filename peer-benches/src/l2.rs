//! The contenders of an L2 hit and their set-up: a ~300-byte product read from Redis by
//!
//! - layercache with L1 off (every call reads Redis: envelope, generation and tag checks,
//!   bincode decode);
//! - raw redis-rs: a multiplexed `GET` of bincode bytes and a decode, nothing else;
//! - the `cached` crate's `#[concurrent_cached]` over its `AsyncRedisCache` (JSON);
//! - `hitbox` 0.2's `RedisBackend` (bincode), through its typed `CacheBackend::get`.
//!
//! [`memory_l2_cache`] is layercache over the in-memory L2, for instruction counts that no
//! network round trip blurs.

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use hitbox::predicate::{Predicate, PredicateResult};
use hitbox::{
    CacheContext, CachePolicy, CacheValue, CacheableResponse, EntityPolicyConfig,
    ResponseCachePolicy,
};
use hitbox_backend::CacheBackend;
use hitbox_redis::{ConnectionMode, RedisBackend};
use layercache::{Cache, Codec, EntryOptions, MemoryL2, RedisL2};
use serde::{Deserialize, Serialize};

/// The value every contender reads: ~300 bytes in bincode.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Product {
    /// Its id.
    pub id: u64,
    /// A short name.
    pub name: String,
    /// The bulk of the bytes.
    pub description: String,
    /// Price.
    pub price_cents: u64,
    /// A few tags.
    pub tags: Vec<String>,
}

/// Product `id`.
pub fn product(id: u64) -> Product {
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

/// Warm keys: one per task at the highest concurrency measured.
pub const KEYS: u64 = 64;
/// How long a value stays fresh: longer than any bench runs.
pub const TTL: Duration = Duration::from_secs(3600);
/// Every call goes to L2.
pub const L2_ONLY: EntryOptions = EntryOptions::new().ttl(TTL).l1(false);

/// The key layercache reads for product `id` (the cache adds its namespace).
pub fn layercache_key(id: u64) -> String {
    format!("product:{id}")
}

/// A layercache `Cache` over the in-memory L2, holding products `0..KEYS` in L2 only.
pub async fn memory_l2_cache() -> Cache {
    let cache = Cache::builder()
        .namespace("bench")
        .codec(Codec::Bincode)
        .l2(MemoryL2::new())
        .build();
    for id in 0..KEYS {
        cache.set(&layercache_key(id), &product(id), &L2_ONLY).await;
    }
    cache
}

/// layercache with L1 off: an L1 miss and an L2 hit on every call.
pub async fn layercache_l2_hit(cache: &Cache, key: &str) -> Product {
    cache
        .get_or_load(key, &L2_ONLY, || async {
            Err::<Product, _>("bench keys are warm: this would be a miss")
        })
        .await
        .expect("an L2 hit")
}

/// layercache over the `redis-server` at `url`, holding products `0..KEYS` in L2 only.
pub async fn redis_l2_cache(url: &str) -> Cache {
    // A generous timeout: on a loaded machine (or under callgrind) the default (50 ms) could
    // open the breaker mid-bench, and the bench would measure skipped reads.
    let layer = RedisL2::builder(url)
        .timeout(Duration::from_secs(1))
        .build()
        .await
        .expect("RedisL2 connects");
    let cache = Cache::builder()
        .namespace("bench")
        .codec(Codec::Bincode)
        .l2(layer)
        .build();
    for id in 0..KEYS {
        cache.set(&layercache_key(id), &product(id), &L2_ONLY).await;
    }
    cache
}

/// A raw redis-rs multiplexed connection to `url`, products `0..KEYS` stored in bincode under
/// [`raw_key`].
pub async fn raw_redis(url: &str) -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(url).expect("url");
    let mut raw = client
        .get_multiplexed_async_connection()
        .await
        .expect("raw connection");
    for id in 0..KEYS {
        let bytes = Codec::Bincode.encode(&product(id)).expect("encode");
        let () = redis::cmd("SET")
            .arg(raw_key(id))
            .arg(bytes)
            .query_async(&mut raw)
            .await
            .expect("raw SET");
    }
    raw
}

/// Set once in [`RedisContenders::connect`]; read by `cached`'s `create` block.
static REDIS_URL: OnceLock<String> = OnceLock::new();
static CONTENDERS: OnceLock<RedisContenders> = OnceLock::new();

/// Every contender's connection to one `redis-server`.
pub struct RedisContenders {
    layercache: Cache,
    raw: redis::aio::MultiplexedConnection,
    hitbox: RedisBackend,
}

/// The contenders [`RedisContenders::connect`] set up.
///
/// # Panics
/// Before [`RedisContenders::connect`].
pub fn contenders() -> &'static RedisContenders {
    CONTENDERS.get().expect("set up before the first call")
}

impl RedisContenders {
    /// Connects every contender to `url`, stores products `0..KEYS` through each of them, checks
    /// that each reads them back, and installs them for [`contenders`]. Once per process.
    pub async fn connect(url: &str) {
        let _ = REDIS_URL.set(url.to_owned());
        let layercache = redis_l2_cache(url).await;
        let raw = raw_redis(url).await;
        let hitbox = RedisBackend::builder()
            .connection(ConnectionMode::single(url))
            .build()
            .expect("hitbox backend");
        for id in 0..KEYS {
            let mut ctx = CacheContext::default().boxed();
            hitbox
                .set::<Product>(
                    &hitbox_key(id),
                    &CacheValue::new(product(id), None, None),
                    &mut ctx,
                )
                .await
                .expect("hitbox set");
        }
        let _ = CONTENDERS.set(RedisContenders {
            layercache,
            raw,
            hitbox,
        });
        for id in 0..KEYS {
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
}

// --- the four ways to read product `id` from Redis -------------------------------------------

/// layercache, L1 off.
pub async fn layercache_product(id: u64) -> Product {
    layercache_l2_hit(&contenders().layercache, &layercache_key(id)).await
}

/// The key raw redis-rs reads for product `id`.
pub fn raw_key(id: u64) -> String {
    format!("raw:product:{id}")
}

/// Raw redis-rs: multiplexed `GET` + bincode decode.
pub async fn raw_product(id: u64) -> Product {
    raw_get_decode(&contenders().raw, &raw_key(id)).await
}

/// Raw redis-rs on `conn`: a multiplexed `GET` of `key` and a bincode decode, nothing else.
pub async fn raw_get_decode(conn: &redis::aio::MultiplexedConnection, key: &str) -> Product {
    let mut conn = conn.clone();
    let bytes: Vec<u8> = redis::cmd("GET")
        .arg(key)
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

/// The `cached` crate's `#[concurrent_cached]` over `AsyncRedisCache`.
pub async fn cached_product(id: u64) -> Product {
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

/// hitbox 0.2's `RedisBackend`.
pub async fn hitbox_product(id: u64) -> Product {
    let mut ctx = CacheContext::default().boxed();
    contenders()
        .hitbox
        .get::<Product>(&hitbox_key(id), &mut ctx)
        .await
        .expect("hitbox get")
        .expect("a hitbox hit")
        .into_inner()
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
pub async fn commands_per_hit<F, Fut>(call: F) -> f64
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = Product>,
{
    const N: u64 = 100;
    let before = commands_run().await;
    for i in 0..N {
        call(i % KEYS).await;
    }
    // The second INFO counts the first one.
    (commands_run().await - before - 1) as f64 / N as f64
}
