//! # layercache
//!
//! Caching as one line of code: `#[cached]` on an async function gives it an in-process L1
//! (`quick_cache`), an optional shared L2 (Redis), exactly one loader call per key however many
//! callers miss at once, invalidation that reaches every instance, fail-safe stale values, and
//! compile-time checks of keys, durations and serializability.
//!
//! ```
//! use layercache::{cached, invalidates, Cache};
//!
//! #[derive(Clone, Debug, PartialEq)]
//! struct Product {
//!     id: u64,
//!     name: String,
//! }
//!
//! #[cached(key = "product:<id>", ttl = "5m")]
//! async fn get_product(id: u64) -> Result<Product, std::io::Error> {
//!     Ok(Product { id, name: format!("product {id}") }) // the database call
//! }
//!
//! #[invalidates(get_product(id))]
//! async fn rename_product(id: u64, name: &str) -> Result<(), std::io::Error> {
//!     let _ = name; // the database write
//!     Ok(())
//! }
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! layercache::install(Cache::builder().namespace("shop").build()).expect("installed once");
//! let first = get_product(7).await?; // runs the body
//! let again = get_product(7).await?; // served from L1
//! assert_eq!(first, again);
//! rename_product(7, "lamp").await?; // drops product:7 from every layer
//! get_product(7).await?; // runs the body again
//! let stats = layercache::global().stats();
//! assert_eq!((stats.l1_hits, stats.loads), (1, 2));
//! # Ok::<_, std::io::Error>(())
//! # }).unwrap();
//! ```
//!
//! See the README for the argument table, Redis configuration and the failure rules.
#![warn(missing_docs)]

use std::sync::OnceLock;

/// The in-memory test double of an L2, with its fault controls (feature `testing`).
#[cfg(feature = "testing")]
pub use cache_core::memory_l2::{self, MemoryL2};
pub use cache_core::{
    Cache, CacheBuilder, CacheKey, Codec, CodecError, CustomCodec, EntryOptions, KeyPart,
    KeyPartWriter, L2Error, L2Policy, StatField, StatKind, Stats, L2,
};
pub use cache_macros::{cached, invalidates};
#[cfg(feature = "redis")]
pub use cache_redis::{RedisL2, RedisL2Builder, RedisL2Error};
#[cfg(feature = "redis")]
#[allow(deprecated)]
pub use cache_redis::{RedisLayer, RedisLayerBuilder, RedisLayerError};

#[doc(hidden)]
pub mod __private;
#[cfg(feature = "config")]
pub mod config;

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

/// The installed cache, or (when none was installed) an L1-only default, created once.
pub fn global() -> &'static Cache {
    GLOBAL.get_or_init(|| {
        tracing::info!(
            "layercache: no cache installed; using an L1-only default (`l2` functions work from L1 alone)"
        );
        Cache::builder().build()
    })
}
