//! The contenders of an L1 hit, all of one shape: `async fn(u64) -> Arc<String>` over
//! [`KEYS`] warm keys, each with its own store so that none warms another's.
//!
//! A hit completes without waiting, so [`hit`] polls it once, with no runtime: the instruction
//! counts then hold the hit and nothing of a scheduler.

use std::convert::Infallible;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::FutureExt;
use layercache::{Cache, EntryOptions};

/// Warm keys per contender (the shape: 64).
pub const KEYS: u64 = 64;
/// Entries each store may hold: far more than [`KEYS`], so nothing is evicted.
pub const CAPACITY: usize = 10_000;
/// layercache's namespace; the raw quick_cache contenders build the same full key by hand.
pub const NAMESPACE: &str = "bench";
/// How long a value stays fresh: longer than any bench runs.
pub const TTL: Duration = Duration::from_secs(3600);

/// The value of key `id`: a short string behind an `Arc`, so a hit clones a pointer.
pub fn value(id: u64) -> Arc<String> {
    Arc::new(format!("value {id}"))
}

/// Polls a hit once and returns its value.
///
/// # Panics
/// When the call had to wait, i.e. it was not an L1 hit (or a load that completes at once).
pub fn hit<F: Future>(call: F) -> F::Output {
    call.now_or_never()
        .expect("an L1 hit completes without waiting")
}

/// layercache's cache for the L1 contenders: L1 only, no L2.
pub fn layercache() -> &'static Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE.get_or_init(|| {
        Cache::builder()
            .namespace(NAMESPACE)
            .l1_capacity(CAPACITY)
            .default_ttl(TTL)
            .build()
    })
}

/// layercache `#[cached]`: what users write.
#[layercache::cached(key = "v:<id>", ttl = "1h", cache = layercache())]
pub async fn layercache_cached(id: u64) -> Arc<String> {
    value(id)
}

/// The options of [`layercache_get_or_load`].
const GET_OR_LOAD_OPTIONS: EntryOptions = EntryOptions::new().ttl(TTL);

/// The key [`layercache_get_or_load`] reads for `id` (without the namespace, which the cache
/// adds). Distinct from [`layercache_cached`]'s keys, so the two contenders warm separately.
pub fn get_or_load_key(id: u64) -> String {
    format!("g:{id}")
}

/// layercache `Cache::get_or_load` with a key the caller built beforehand.
pub async fn layercache_get_or_load(id: u64, key: &str) -> Arc<String> {
    let loaded = layercache()
        .get_or_load(key, &GET_OR_LOAD_OPTIONS, || async move {
            Ok::<_, Infallible>(value(id))
        })
        .await;
    match loaded {
        Ok(v) => v,
        Err(never) => match never {},
    }
}

/// The `cached` crate's `#[cached]`: one lock around its store.
#[cached::macros::cached(max_size = 10_000, ttl_secs = 3600)]
pub async fn cached_cached(id: u64) -> Arc<String> {
    value(id)
}

/// The `cached` crate's `#[concurrent_cached]`: a sharded store.
#[cached::macros::concurrent_cached(max_size = 10_000, ttl_secs = 3600)]
pub async fn cached_concurrent(id: u64) -> Arc<String> {
    value(id)
}

/// The quick_cache store of the raw contenders, keyed by the full key layercache would use.
pub fn quick() -> &'static quick_cache::sync::Cache<String, Arc<String>> {
    static QUICK: OnceLock<quick_cache::sync::Cache<String, Arc<String>>> = OnceLock::new();
    QUICK.get_or_init(|| quick_cache::sync::Cache::new(CAPACITY))
}

/// The full key of `id` in [`quick`]: namespace and template, as layercache renders it.
pub fn quick_key(id: u64) -> String {
    format!("{NAMESPACE}:v:{id}")
}

/// Raw quick_cache with a key built beforehand: the floor of any L1 hit (look up, else load and
/// insert; no TTL, no single-flight, no counters).
pub async fn quick_prebuilt(id: u64, key: &str) -> Arc<String> {
    if let Some(v) = quick().get(key) {
        return v;
    }
    let v = value(id);
    quick().insert(key.to_owned(), v.clone());
    v
}

/// Raw quick_cache with the key rendered by `format!` on every call.
pub async fn quick_format(id: u64) -> Arc<String> {
    let key = quick_key(id);
    quick_prebuilt(id, &key).await
}

/// The keys callers of [`layercache_get_or_load`] and [`quick_prebuilt`] build once.
pub struct PrebuiltKeys {
    /// [`get_or_load_key`] of every id.
    pub get_or_load: Vec<String>,
    /// [`quick_key`] of every id.
    pub quick: Vec<String>,
}

impl PrebuiltKeys {
    /// The keys of ids `0..KEYS`.
    pub fn new() -> Self {
        PrebuiltKeys {
            get_or_load: (0..KEYS).map(get_or_load_key).collect(),
            quick: (0..KEYS).map(quick_key).collect(),
        }
    }
}

impl Default for PrebuiltKeys {
    fn default() -> Self {
        Self::new()
    }
}

/// Loads every key of every contender once (and a second time, to settle anything lazily
/// initialised on the first hit), then checks that each hit returns its key's value.
pub fn warm_all(keys: &PrebuiltKeys) {
    for _ in 0..2 {
        for id in 0..KEYS {
            let i = id as usize;
            let want = value(id);
            assert_eq!(hit(layercache_cached(id)), want);
            assert_eq!(hit(layercache_get_or_load(id, &keys.get_or_load[i])), want);
            assert_eq!(hit(cached_cached(id)), want);
            assert_eq!(hit(cached_concurrent(id)), want);
            assert_eq!(hit(quick_prebuilt(id, &keys.quick[i])), want);
            assert_eq!(hit(quick_format(id)), want);
        }
    }
    assert_eq!(
        layercache().stats().loads,
        2 * KEYS,
        "layercache loaded each key of its two contenders once"
    );
}
