//! Runtime of layercache: an in-process L1 on `quick_cache`, an optional shared [`L2`], codecs,
//! injective keys, single-flight loading, fail-safe, refresh-ahead, tags and stats.
//!
//! Most users depend on the `layercache` facade crate and its `#[cached]` macro; this crate is the
//! machinery underneath, usable by hand through [`Cache::get_or_load`].
//!
//! Where things are: `cache.rs` is the handle, composing one part per job: the in-process
//! layer (`l1.rs`), the L2 client with its timeout, breaker, envelope and tag checks
//! (`l2_client.rs`, behind the [`L2`] trait of `l2.rs`), the invalidation journal and its replay
//! (`journal.rs`, over `pending_invalidations.rs`), the L2 as the paths see it (`shared_layer.rs`),
//! backplane receipt (`backplane.rs`), the cross-instance lock (`lock.rs`), single-flight
//! (`single_flight.rs`); one call's read path is `read_path.rs`, its write path `write_path.rs`,
//! invalidations `invalidation.rs`. Keys are rendered in `key.rs`; values are encoded by
//! `codec.rs`, compressed by `compression.rs` and fingerprinted by `fingerprint.rs` (together:
//! `payload.rs`) inside the envelope of `envelope.rs`.
#![warn(missing_docs)]

#[doc(hidden)]
pub mod __private;
mod backplane;
mod blocking;
mod breaker;
mod builder;
mod cache;
#[doc(hidden)]
pub mod clock;
pub mod codec;
pub mod compression;
#[doc(hidden)]
pub mod envelope;
pub mod fingerprint;
mod invalidation;
mod journal;
pub mod key;
mod key_text;
mod l1;
mod l1_budget;
mod l1_front;
pub mod l2;
mod l2_client;
mod load_plan;
mod lock;
#[doc(hidden)]
pub mod log;
#[cfg(feature = "testing")]
pub mod memory_l2;
mod metrics;
#[cfg(all(test, feature = "shuttle"))]
mod model_checks;
mod options;
mod payload;
mod pending_invalidations;
mod read_path;
mod shared_error;
mod shared_layer;
mod shim;
mod single_flight;
mod stats;
mod tag_versions;
pub mod weigh;
mod write_path;

pub use builder::{BuildError, CacheBuilder};
pub use cache::Cache;
pub use codec::{Codec, CodecError, CustomCodec};
pub use compression::Compression;
pub use key::{CacheKey, KeyBuilder, KeyPart, KeyPartWriter};
pub use l2::{
    BackplaneListener, Invalidation, InvalidationMessage, L2Error, L2Policy, L2Target, L2,
};
#[cfg(feature = "testing")]
pub use memory_l2::MemoryL2;
pub use options::EntryOptions;
pub use shared_error::SharedError;
pub use stats::{StatField, StatKind, Stats};
pub use weigh::Weigh;
