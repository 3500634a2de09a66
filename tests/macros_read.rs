//! `#[cached]` against the runtime: what is cached, what is not, and which key each call uses.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use layercache::{cached, Cache, MemoryL2};
use serde::{Deserialize, Serialize};

mod common;
use common::{cache, Calls};
use layercache_test_support::eventually;

/// A generous deadline for a short TTL to run out.
const WAIT: Duration = Duration::from_secs(10);

#[cached(key = "square:<n>", ttl = "1m", cache = cache)]
async fn square(cache: &Cache, calls: &Calls, n: u64) -> u64 {
    calls.hit();
    n * n
}

#[tokio::test]
async fn a_hit_does_not_run_the_body() {
    let (c, calls) = (cache(), Calls::default());
    assert_eq!(square(&c, &calls, 7).await, 49);
    assert_eq!(square(&c, &calls, 7).await, 49);
    assert_eq!(calls.get(), 1);
    assert_eq!(square(&c, &calls, 8).await, 64);
    assert_eq!(calls.get(), 2);
    assert!(c.peek::<u64>("square:7").await.is_some());
}

#[derive(Debug, Clone, PartialEq)]
struct NotFound;

#[cached(key = "flaky:<id>", cache = cache)]
async fn flaky(cache: &Cache, calls: &Calls, id: u32) -> Result<String, NotFound> {
    if calls.hit() == 1 {
        return Err(NotFound);
    }
    Ok(format!("item {id}"))
}

#[tokio::test]
async fn err_is_returned_and_not_cached() {
    let (c, calls) = (cache(), Calls::default());
    assert_eq!(flaky(&c, &calls, 1).await, Err(NotFound));
    assert_eq!(flaky(&c, &calls, 1).await.as_deref(), Ok("item 1"));
    assert_eq!(flaky(&c, &calls, 1).await.as_deref(), Ok("item 1"));
    assert_eq!(calls.get(), 2);
}

#[derive(Debug)]
struct Opaque;

/// `?` with a `From` conversion and an error that is not `Clone`.
#[cached(key = "parse:<text>", cache = cache)]
async fn parse(
    cache: &Cache,
    calls: &Calls,
    text: &str,
) -> Result<u32, Box<dyn std::error::Error + Send + Sync>> {
    calls.hit();
    if text.is_empty() {
        return Err(Box::new(std::fmt::Error));
    }
    let _ = Opaque;
    Ok(text.parse::<u32>()?)
}

#[tokio::test]
async fn question_mark_and_return_work_in_the_body() {
    let (c, calls) = (cache(), Calls::default());
    assert!(parse(&c, &calls, "x").await.is_err());
    assert!(parse(&c, &calls, "").await.is_err());
    assert_eq!(parse(&c, &calls, "12").await.ok(), Some(12));
    assert_eq!(parse(&c, &calls, "12").await.ok(), Some(12));
    assert_eq!(calls.get(), 3);
}

#[cached(key = "find:<id>", cache = cache)]
async fn find(cache: &Cache, calls: &Calls, id: u32) -> Option<u32> {
    calls.hit();
    (id % 2 == 0).then_some(id)
}

#[cached(key = "find-cached-none:<id>", cache = cache, cache_none = "1m")]
async fn find_caching_none(cache: &Cache, calls: &Calls, id: u32) -> Option<u32> {
    calls.hit();
    (id % 2 == 0).then_some(id)
}

#[tokio::test]
async fn none_is_not_cached_unless_asked() {
    let (c, calls) = (cache(), Calls::default());
    assert_eq!(find(&c, &calls, 2).await, Some(2));
    assert_eq!(find(&c, &calls, 2).await, Some(2));
    assert_eq!(calls.get(), 1);
    assert_eq!(find(&c, &calls, 3).await, None);
    assert_eq!(find(&c, &calls, 3).await, None);
    assert_eq!(calls.get(), 3, "None is loaded every time");

    let calls = Calls::default();
    assert_eq!(find_caching_none(&c, &calls, 3).await, None);
    assert_eq!(find_caching_none(&c, &calls, 3).await, None);
    assert_eq!(calls.get(), 1, "with cache_none, None is cached");
}

#[cached(key = "lookup:<id>", cache = cache, cache_none = "1m")]
async fn lookup(cache: &Cache, calls: &Calls, id: u32) -> Result<Option<u32>, NotFound> {
    calls.hit();
    Ok((id > 10).then_some(id))
}

#[tokio::test]
async fn result_of_option_caches_none_with_cache_none() {
    let (c, calls) = (cache(), Calls::default());
    assert_eq!(lookup(&c, &calls, 1).await, Ok(None));
    assert_eq!(lookup(&c, &calls, 1).await, Ok(None));
    assert_eq!(calls.get(), 1);
}

#[cached(key = "pair:<a>:<b>", cache = cache)]
async fn pair(cache: &Cache, a: &str, b: &str) -> String {
    format!("{a}|{b}")
}

#[tokio::test]
async fn arguments_whose_text_would_collide_get_different_keys() {
    let c = cache();
    assert_eq!(pair(&c, "1:2", "3").await, "1:2|3");
    assert_eq!(pair(&c, "1", "2:3").await, "1|2:3");
    assert_eq!(pair(&c, "1:2", "3").await, "1:2|3");
}

static DEFAULT_KEY_CALLS: AtomicUsize = AtomicUsize::new(0);

/// The default key: module path, function name and every parameter but the cache.
#[cached(cache = cache)]
async fn default_key(cache: &Cache, a: &str, b: Option<u8>) -> String {
    DEFAULT_KEY_CALLS.fetch_add(1, Ordering::SeqCst);
    format!("{a}{b:?}")
}

#[tokio::test]
async fn the_default_key_uses_every_parameter() {
    let c = cache();
    assert_eq!(default_key(&c, "x", None).await, "xNone");
    assert_eq!(default_key(&c, "x", Some(1)).await, "xSome(1)");
    assert_eq!(default_key(&c, "x:", None).await, "x:None");
    assert_eq!(default_key(&c, "x", None).await, "xNone");
    assert_eq!(DEFAULT_KEY_CALLS.load(Ordering::SeqCst), 3);
    let key = format!("{}::default_key:x:%!", module_path!());
    assert_eq!(c.peek::<String>(&key).await.as_deref(), Some("xNone"));
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Product {
    id: u64,
    name: String,
}

struct Query {
    id: u64,
}

#[cached(key = "product:<q.id>", ttl = "5m", l2, tags = ["catalog"], cache = cache)]
async fn product(cache: &Cache, calls: &Calls, q: &Query) -> Result<Product, NotFound> {
    calls.hit();
    Ok(Product {
        id: q.id,
        name: format!("p{}", q.id),
    })
}

#[tokio::test]
async fn l2_values_reach_the_shared_layer_and_tags_invalidate_them() {
    let l2 = MemoryL2::new();
    let a = Cache::builder().namespace("shop").l2(l2.clone()).build();
    let b = Cache::builder().namespace("shop").l2(l2).build();
    let calls = Calls::default();
    let p = product(&a, &calls, &Query { id: 7 }).await;
    assert_eq!(p.as_ref().map(|p| p.id), Ok(7));
    // Another instance finds it in L2 without running the body.
    assert_eq!(product(&b, &calls, &Query { id: 7 }).await, p);
    assert_eq!(calls.get(), 1);
    assert_eq!(b.peek::<Product>("product:7").await, p.ok());

    b.invalidate_tag("catalog").await;
    assert!(product(&b, &calls, &Query { id: 7 }).await.is_ok());
    assert_eq!(calls.get(), 2);
}

#[cached(key = "list:<n>", cache = cache, unless = |v| v.is_empty())]
async fn list(cache: &Cache, calls: &Calls, n: usize) -> Vec<u8> {
    calls.hit();
    vec![1; n]
}

#[tokio::test]
async fn unless_skips_storing_a_value() {
    let (c, calls) = (cache(), Calls::default());
    assert!(list(&c, &calls, 0).await.is_empty());
    assert!(list(&c, &calls, 0).await.is_empty());
    assert_eq!(calls.get(), 2);
    assert_eq!(list(&c, &calls, 2).await.len(), 2);
    assert_eq!(list(&c, &calls, 2).await.len(), 2);
    assert_eq!(calls.get(), 3);
}

#[cached(key = "cond:<n>", cache = cache, condition = n < 100)]
async fn conditional(cache: &Cache, calls: &Calls, n: u32) -> u32 {
    calls.hit();
    n + 1
}

#[tokio::test]
async fn condition_false_bypasses_the_cache() {
    let (c, calls) = (cache(), Calls::default());
    assert_eq!(conditional(&c, &calls, 1).await, 2);
    assert_eq!(conditional(&c, &calls, 1).await, 2);
    assert_eq!(calls.get(), 1);
    assert_eq!(conditional(&c, &calls, 500).await, 501);
    assert_eq!(conditional(&c, &calls, 500).await, 501);
    assert_eq!(calls.get(), 3);
    assert!(c.peek::<u32>("cond:500").await.is_none());
}

struct Catalog {
    cache: Cache,
    shop: &'static str,
    calls: Calls,
}

impl Catalog {
    #[cached(key = "item:<self.shop>:<id>", cache = self.cache)]
    async fn item(&self, id: u32) -> String {
        self.calls.hit();
        format!("{}#{id}", self.shop)
    }

    /// Default key of a method: `Self`'s type name, the method name and the parameters.
    #[cached(cache = self.cache)]
    async fn default_item(&self, id: u32) -> String {
        self.calls.hit();
        format!("{}#{id}", self.shop)
    }
}

#[tokio::test]
async fn methods_use_the_cache_named_by_cache_self() {
    let catalog = Catalog {
        cache: cache(),
        shop: "north",
        calls: Calls::default(),
    };
    assert_eq!(catalog.item(1).await, "north#1");
    assert_eq!(catalog.item(1).await, "north#1");
    assert_eq!(catalog.calls.get(), 1);
    assert_eq!(
        catalog
            .cache
            .peek::<String>("item:north:1")
            .await
            .as_deref(),
        Some("north#1")
    );
    // Stored only in `self.cache`: the global cache (where a call naming no cache goes) has
    // nothing under that key.
    assert!(layercache::global()
        .peek::<String>("item:north:1")
        .await
        .is_none());

    assert_eq!(catalog.default_item(1).await, "north#1");
    assert_eq!(catalog.default_item(1).await, "north#1");
    assert_eq!(catalog.calls.get(), 2);
}

/// A generic parameter that the value does not depend on.
trait Source: Sync {
    fn name(&self) -> String;
}

struct Db;

impl Source for Db {
    fn name(&self) -> String {
        "db".into()
    }
}

#[cached(key = "generic:<id>", cache = cache)]
async fn from_source<S: Source>(cache: &Cache, source: &S, id: u32) -> String {
    format!("{}:{id}", source.name())
}

#[cached(key = "impl-trait:<id>", cache = cache)]
async fn from_impl_source(cache: &Cache, source: &impl Source, id: u32) -> String {
    format!("{}:{id}", source.name())
}

#[tokio::test]
async fn generic_and_impl_trait_parameters_work() {
    let c = cache();
    assert_eq!(from_source(&c, &Db, 1).await, "db:1");
    assert_eq!(from_impl_source(&c, &Db, 2).await, "db:2");
    assert_eq!(c.peek::<String>("generic:1").await.as_deref(), Some("db:1"));
}

static GLOBAL_CALLS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "global-default:<n>", jitter = "1s", ttl = "10m")]
async fn uses_global(n: u32) -> u32 {
    GLOBAL_CALLS.fetch_add(1, Ordering::SeqCst);
    n
}

#[tokio::test]
async fn the_global_cache_is_the_default() {
    assert_eq!(uses_global(5).await, 5);
    assert_eq!(uses_global(5).await, 5);
    assert_eq!(GLOBAL_CALLS.load(Ordering::SeqCst), 1);
    assert_eq!(
        layercache::global().peek::<u32>("global-default:5").await,
        Some(5)
    );
}

#[cached(key = "short:<n>", ttl = "200ms", cache = cache)]
async fn short_lived(cache: &Cache, calls: &Calls, n: u32) -> u32 {
    calls.hit();
    n
}

#[tokio::test]
async fn ttl_expires_values() {
    let (c, calls) = (cache(), Calls::default());
    let stored = std::time::Instant::now();
    short_lived(&c, &calls, 1).await;
    short_lived(&c, &calls, 1).await;
    // Only a hit well inside the TTL proves anything (a stalled machine may take longer; the
    // L1 clock is coarse, a few milliseconds).
    if stored.elapsed() < Duration::from_millis(150) {
        assert_eq!(calls.get(), 1, "a call inside the TTL is a hit");
    }
    eventually(WAIT, "the value expired and was reloaded", || async {
        short_lived(&c, &calls, 1).await;
        calls.get() >= 2
    })
    .await;
    assert!(
        stored.elapsed() >= Duration::from_millis(150),
        "reloaded long before its TTL ran out"
    );
}

#[cached(key = "slow:<n>", cache = cache)]
async fn slow(cache: &Cache, calls: &Calls, n: u32) -> u32 {
    calls.hit();
    tokio::time::sleep(Duration::from_millis(50)).await;
    n
}

#[tokio::test]
async fn concurrent_misses_run_the_body_once() {
    let (c, calls) = (cache(), Calls::default());
    let all = futures_util::future::join_all((0..20).map(|_| slow(&c, &calls, 1))).await;
    assert!(all.iter().all(|v| *v == 1));
    assert_eq!(calls.get(), 1);
}

#[cached(key = "fail-safe:<n>", ttl = "50ms", stale = "1h", cache = cache)]
async fn fail_safe(cache: &Cache, calls: &Calls, n: u32) -> Result<u32, NotFound> {
    if calls.hit() == 1 {
        Ok(n)
    } else {
        Err(NotFound)
    }
}

#[tokio::test]
async fn stale_serves_the_last_value_when_the_body_fails() {
    let (c, calls) = (cache(), Calls::default());
    assert_eq!(fail_safe(&c, &calls, 4).await, Ok(4));
    // Hits until the TTL runs out; then the body runs, fails, and the stale value is served.
    eventually(WAIT, "the body ran again after the TTL", || async {
        assert_eq!(fail_safe(&c, &calls, 4).await, Ok(4), "stale value served");
        calls.get() >= 2
    })
    .await;
    assert_eq!(c.stats().stale_served, 1);
}
