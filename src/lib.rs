#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

/// The in-memory test double of an L2, with its fault controls (feature `testing`).
#[cfg(feature = "testing")]
pub use cache_core::memory_l2::{self, MemoryL2};
pub use cache_core::weigh;
pub use cache_core::{
    fingerprint, BuildError, Cache, CacheBuilder, CacheKey, Codec, CodecError, Compression,
    CustomCodec, EntryOptions, KeyPart, KeyPartWriter, L2Error, L2Policy, SharedError, StatField,
    StatKind, Stats, Weigh, L2,
};
pub use cache_macros::{cached, cached_impl, invalidates, key};
#[cfg(feature = "redis")]
pub use cache_redis::{RedisL2, RedisL2Builder, RedisL2Error};
#[cfg(feature = "redis")]
#[allow(deprecated)]
pub use cache_redis::{RedisLayer, RedisLayerBuilder, RedisLayerError};

#[doc(hidden)]
pub mod __private;
mod call_control;
#[cfg(feature = "config")]
pub mod config;

pub use call_control::{bypass, refresh};

static GLOBAL: OnceLock<Cache> = OnceLock::new();

/// Why [`install`] refused a cache.
#[derive(Debug, thiserror::Error)]
#[error(
    "a global cache is already installed (namespace `{namespace}`); install it once, at start-up"
)]
pub struct AlreadyInstalled {
    /// Namespace of the cache that was installed first.
    pub namespace: String,
}

/// Makes `cache` the one `#[cached]` functions use when they name no `cache = …`.
///
/// Call it once at start-up, before the first cached call; a second call returns an error and
/// leaves the first cache in place.
///
/// ```
/// use layercache::{cached, invalidates, Cache};
///
/// #[cached(key = "product:<id>", ttl = "5m")]
/// async fn product_name(id: u64) -> Result<String, std::io::Error> {
///     Ok(format!("product {id}")) // the database read
/// }
///
/// #[invalidates(product_name(id))]
/// async fn rename_product(id: u64, name: &str) -> Result<(), std::io::Error> {
///     let _ = name; // the database write
///     Ok(())
/// }
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// layercache::install(Cache::builder().namespace("shop").build()).expect("installed once");
/// let first = product_name(7).await?; // runs the body
/// let again = product_name(7).await?; // served from L1
/// assert_eq!(first, again);
/// rename_product(7, "lamp").await?; // drops product:7 from every layer
/// product_name(7).await?; // runs the body again
/// let stats = layercache::global().stats();
/// assert_eq!((stats.l1_hits, stats.loads), (1, 2));
///
/// // A second install is refused; the first cache stays.
/// let refused = layercache::install(Cache::builder().namespace("other").build());
/// assert_eq!(refused.unwrap_err().namespace, "shop");
/// # Ok::<_, std::io::Error>(())
/// # }).unwrap();
/// ```
pub fn install(cache: Cache) -> Result<(), AlreadyInstalled> {
    let mut installed = false;
    let current = GLOBAL.get_or_init(|| {
        installed = true;
        cache
    });
    if installed {
        Ok(())
    } else {
        Err(AlreadyInstalled {
            namespace: current.namespace().to_owned(),
        })
    }
}

/// Set when [`global`] had to create the L1-only default (nothing was installed).
static DEFAULTED: AtomicBool = AtomicBool::new(false);

/// The installed cache, or (when none was installed) an L1-only default, created once.
///
/// `#[cached]` functions without `cache = …` use it; hand-written code can too.
///
/// ```
/// use layercache::EntryOptions;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// // Nothing installed: an L1-only default under the namespace `lc`.
/// let cache = layercache::global();
/// assert!(!cache.has_l2());
/// let n: u32 = cache
///     .get_or_load("answer", &EntryOptions::new(), || async { Ok::<_, std::io::Error>(42) })
///     .await?;
/// assert_eq!(n, 42);
/// assert_eq!(layercache::global().peek::<u32>("answer").await, Some(42));
/// # Ok::<_, std::io::Error>(())
/// # }).unwrap();
/// ```
pub fn global() -> &'static Cache {
    GLOBAL.get_or_init(|| {
        DEFAULTED.store(true, Ordering::Relaxed);
        tracing::info!(target: "layercache", 
            "layercache: no cache installed; using an L1-only default (`l2` functions work from L1 alone)"
        );
        Cache::builder().build()
    })
}

/// Whether the global cache is the L1-only default created because nothing was installed.
pub(crate) fn global_is_default() -> bool {
    DEFAULTED.load(Ordering::Relaxed)
}
