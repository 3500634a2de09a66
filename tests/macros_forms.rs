//! The second-round forms of the macros: `#[cached_impl]` on trait and inherent impls, durations
//! from code, `ttl_from`, `impl Trait` parameters with several bounds, and `key!`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use layercache::{cached, cached_impl, key, Cache, KeyPart};
use layercache_test_support::eventually;

mod common;
use common::{cache, Calls};

const WITHIN: Duration = Duration::from_secs(10);

trait ProductRepo {
    async fn get(&self, id: u64) -> Result<String, std::io::Error>;
    async fn rename(&self, id: u64, name: &str) -> Result<(), std::io::Error>;
}

struct MemRepo {
    cache: Cache,
    calls: Calls,
}

#[cached_impl(cache = self.cache, ttl = "10m")]
impl ProductRepo for MemRepo {
    #[cached(key = "product:<id>")]
    async fn get(&self, id: u64) -> Result<String, std::io::Error> {
        self.calls.hit();
        Ok(format!("product {id}"))
    }

    #[invalidates(self.get(id))]
    async fn rename(&self, id: u64, name: &str) -> Result<(), std::io::Error> {
        let _ = name;
        Ok(())
    }
}

#[tokio::test]
async fn cached_impl_caches_and_invalidates_methods_of_a_trait_impl_in_the_default_cache() {
    let repo = MemRepo {
        cache: cache(),
        calls: Calls::default(),
    };
    assert_eq!(repo.get(7).await.ok().as_deref(), Some("product 7"));
    assert_eq!(repo.get(7).await.ok().as_deref(), Some("product 7"));
    assert_eq!(repo.calls.get(), 1);
    // `cache = self.cache` came from the block.
    assert_eq!(
        repo.cache.peek::<String>("product:7").await.as_deref(),
        Some("product 7")
    );
    assert!(repo.rename(7, "lamp").await.is_ok());
    assert!(repo.cache.peek::<String>("product:7").await.is_none());
    assert!(repo.get(7).await.is_ok());
    assert_eq!(repo.calls.get(), 2);
}

struct Catalog;

static CATEGORY_LOADS: AtomicU64 = AtomicU64::new(0);

#[cached_impl(ttl = "10m")]
impl Catalog {
    /// An associated function without `self`: its helpers are reached through `Self::`.
    #[cached(key = "category:<id>")]
    async fn category(id: u64) -> String {
        CATEGORY_LOADS.fetch_add(1, Ordering::SeqCst);
        format!("category {id}")
    }
}

#[tokio::test]
async fn cached_impl_supports_associated_functions_without_self() {
    assert_eq!(Catalog::category(3).await, "category 3");
    assert_eq!(Catalog::category(3).await, "category 3");
    assert_eq!(CATEGORY_LOADS.load(Ordering::SeqCst), 1);
}

struct Shortlived {
    cache: Cache,
    calls: Calls,
}

#[cached_impl(cache = self.cache, ttl = "10m")]
impl Shortlived {
    /// The method's own `ttl` wins over the block's.
    #[cached(key = "short:<n>", ttl = "1ms")]
    async fn short(&self, n: u32) -> u32 {
        self.calls.hit();
        n
    }

    #[cached(key = "long:<n>")]
    async fn long(&self, n: u32) -> u32 {
        self.calls.hit();
        n
    }
}

#[tokio::test]
async fn a_methods_own_arguments_win_over_the_blocks() {
    let s = Shortlived {
        cache: cache(),
        calls: Calls::default(),
    };
    s.long(1).await;
    s.long(1).await;
    assert_eq!(s.calls.get(), 1, "the block's 10m ttl keeps the value");
    s.short(1).await;
    let before = s.calls.get();
    eventually(WITHIN, "the method's 1ms ttl expires its value", || async {
        s.short(1).await;
        s.calls.get() > before
    })
    .await;
}

/// Milliseconds of `configured_ttl()`, changed by the tests below.
static CONFIGURED_TTL_MS: AtomicU64 = AtomicU64::new(3_600_000);

fn configured_ttl() -> Duration {
    Duration::from_millis(CONFIGURED_TTL_MS.load(Ordering::SeqCst))
}

const TEN_MINUTES: Duration = Duration::from_secs(600);

#[cached(key = "configured:<n>", cache = cache, ttl = configured_ttl(), stale = TEN_MINUTES)]
async fn configured(cache: &Cache, calls: &Calls, n: u32) -> u32 {
    calls.hit();
    n
}

#[tokio::test]
async fn a_duration_expression_is_evaluated_when_a_value_is_loaded() {
    let (c, calls) = (cache(), Calls::default());
    configured(&c, &calls, 1).await;
    configured(&c, &calls, 1).await;
    assert_eq!(calls.get(), 1, "an hour-long ttl keeps the value");
    CONFIGURED_TTL_MS.store(1, Ordering::SeqCst);
    // The value loaded with the old setting keeps its hour; a new key gets the new one.
    configured(&c, &calls, 1).await;
    assert_eq!(calls.get(), 1);
    configured(&c, &calls, 2).await;
    let before = calls.get();
    eventually(WITHIN, "the 1ms ttl read at load time expires", || async {
        configured(&c, &calls, 2).await;
        calls.get() > before
    })
    .await;
}

#[derive(Clone, Debug, PartialEq)]
struct Token {
    secret: String,
    expires_in: Duration,
}

#[cached(key = "token:<user>", cache = cache, ttl = "1h", ttl_from = |t| t.expires_in)]
async fn token(cache: &Cache, calls: &Calls, user: &str, expires_in: Duration) -> Token {
    calls.hit();
    Token {
        secret: format!("secret of {user}"),
        expires_in,
    }
}

#[tokio::test]
async fn ttl_from_chooses_each_values_ttl() {
    let (c, calls) = (cache(), Calls::default());
    let hour = Duration::from_secs(3600);
    token(&c, &calls, "ann", hour).await;
    token(&c, &calls, "ann", hour).await;
    assert_eq!(calls.get(), 1, "a value valid for an hour is kept");
    token(&c, &calls, "bob", Duration::from_millis(1)).await;
    let before = calls.get();
    eventually(WITHIN, "a value valid for 1ms expires", || async {
        token(&c, &calls, "bob", Duration::from_millis(1)).await;
        calls.get() > before
    })
    .await;
}

#[cached(key = "labelled:<id>", cache = cache)]
async fn labelled(cache: &Cache, calls: &Calls, id: impl KeyPart + Send + Sync) -> String {
    calls.hit();
    let _ = &id;
    "label".to_owned()
}

#[tokio::test]
async fn an_impl_trait_parameter_with_several_bounds_is_a_key_part() {
    let (c, calls) = (cache(), Calls::default());
    labelled(&c, &calls, 5u32).await;
    labelled(&c, &calls, 5u32).await;
    labelled(&c, &calls, "five").await;
    assert_eq!(calls.get(), 2);
    assert!(c.peek::<String>("labelled:five").await.is_some());
}

#[cached(key = "in-category:<id>", cache = cache, tags = ["category:<category>"])]
async fn in_category(cache: &Cache, calls: &Calls, id: u32, category: &str) -> u32 {
    calls.hit();
    let _ = category;
    id
}

#[tokio::test]
async fn key_renders_tags_and_keys_as_the_macros_do() {
    let (c, calls) = (cache(), Calls::default());
    let name = "Home & Garden";
    in_category(&c, &calls, 1, name).await;
    in_category(&c, &calls, 1, name).await;
    assert_eq!(calls.get(), 1);
    // `format!` would give "category:Home & Garden", which the macro renders escaped.
    let tag = key!("category:<c>", c = name);
    assert_ne!(tag, format!("category:{name}"));
    c.invalidate_tag(&tag).await;
    in_category(&c, &calls, 1, name).await;
    assert_eq!(calls.get(), 2, "the tag from key! reached the entry");

    let id = 1u32;
    let key = key!("in-category:<id>");
    assert_eq!(key, "in-category:1");
    assert_eq!(c.peek::<u32>(&key).await, Some(1));
}

#[derive(Clone)]
struct Prices {
    cache: Cache,
    version: Arc<AtomicU64>,
    loads: Calls,
    /// Holds every load after the first until the test adds a permit.
    gate: Arc<tokio::sync::Semaphore>,
}

impl Prices {
    /// `unless` and `ttl_from` read a parameter (`floor`): the background reload keeps copies.
    #[cached(
        key = "price:<item>",
        ttl = "10s",
        refresh = "50ms",
        cache = self.cache,
        unless = |p| *p < floor,
        ttl_from = |p| Duration::from_secs(*p + floor)
    )]
    async fn price(&self, item: u64, floor: u64) -> u64 {
        if self.loads.hit() > 1 {
            self.gate.acquire().await.map(|p| p.forget()).ok();
        }
        item + self.version.load(Ordering::SeqCst)
    }
}

#[tokio::test]
async fn refresh_with_unless_and_ttl_from_reloads_in_the_background() {
    let p = Prices {
        cache: cache(),
        version: Arc::default(),
        loads: Calls::default(),
        gate: Arc::new(tokio::sync::Semaphore::new(0)),
    };
    assert_eq!(p.price(10, 1).await, 10);
    p.version.store(5, Ordering::SeqCst);
    let loaded = p.loads.get();
    eventually(
        WITHIN,
        "a hit finds the refresh due and returns at once",
        || async {
            // The reload waits on the gate: a call that returns while it is held ran it in the background.
            let value = tokio::time::timeout(WITHIN, p.price(10, 1)).await;
            assert_eq!(value.ok(), Some(10), "the current value, at once");
            p.loads.get() > loaded
        },
    )
    .await;
    p.gate.add_permits(1);
    eventually(WITHIN, "the background reload is stored", || async {
        p.price(10, 1).await == 15
    })
    .await;
    assert_eq!(p.loads.get(), 2);
}
