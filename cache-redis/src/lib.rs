//! The Redis L2 of layercache: [`RedisLayer`].
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
//! # async fn f() -> Result<(), cache_redis::RedisLayerError> {
//! use cache_redis::RedisLayer;
//! let single = RedisLayer::connect("redis://127.0.0.1:6379").await?;
//! let cluster = RedisLayer::cluster(["redis://10.0.0.1:7000", "redis://10.0.0.2:7000"]).await?;
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

mod backplane;
mod builder;
mod connection;
mod error;
mod generation;
mod keys;
mod layer;
mod record;
mod runtime;

pub use builder::RedisLayerBuilder;
pub use error::RedisLayerError;
pub use layer::RedisLayer;
