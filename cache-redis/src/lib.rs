//! The Redis L2 of layercache: [`RedisL2`].
//!
//! One multiplexed, auto-reconnecting connection (or Redis Cluster connection) shared by all
//! callers; a pub/sub backplane that tells every instance about invalidations; tag versions and a
//! namespace generation as counters, so tag invalidation and `clear()` are O(1); a distributed
//! lock with token-checked release.
//!
//! The cache in `cache-core` bounds every call by the layer's [`L2Policy`](cache_core::L2Policy)
//! timeout and opens a circuit breaker after repeated failures; this crate only moves bytes.
//!
//! ```no_run
//! # async fn f() -> Result<(), layercache::RedisL2Error> {
//! use layercache::RedisL2;
//! let single = RedisL2::connect("redis://127.0.0.1:6379").await?;
//! let cluster = RedisL2::cluster(["redis://10.0.0.1:7000", "redis://10.0.0.2:7000"]).await?;
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

mod backplane;
mod builder;
mod connection;
mod error;
mod generation;
mod hedged;
mod kept_connection;
mod keys;
mod layer;
mod lock;
mod permissions;
mod read;
mod record;
mod runtime;
mod settings;
mod slots;
mod versions;

pub use builder::RedisL2Builder;
pub use error::RedisL2Error;
pub use layer::RedisL2;

/// Old name of [`RedisL2`]: "layer" reads as tower/axum middleware, and this is a storage backend.
#[deprecated(since = "0.2.0", note = "renamed to `RedisL2`")]
pub type RedisLayer = RedisL2;
/// Old name of [`RedisL2Builder`].
#[deprecated(since = "0.2.0", note = "renamed to `RedisL2Builder`")]
pub type RedisLayerBuilder = RedisL2Builder;
/// Old name of [`RedisL2Error`].
#[deprecated(since = "0.2.0", note = "renamed to `RedisL2Error`")]
pub type RedisLayerError = RedisL2Error;
