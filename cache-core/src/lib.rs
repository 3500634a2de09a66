//! Runtime of layercache: an in-process L1 on `quick_cache`, an optional shared [`L2`], codecs,
//! injective keys, single-flight loading, fail-safe, refresh-ahead, tags and stats.
//!
//! Most users depend on the `layercache` facade crate and its `#[cached]` macro; this crate is the
//! machinery underneath, usable by hand through [`Cache::get_or_load`].
//!
//! Where things are: the read path of one call is `read_path.rs`; the in-process layer is
//! `l1.rs`; everything that talks to the shared layer is `l2_path.rs` behind the `L2` trait
//! (`l2.rs`); keys are rendered in `key.rs`; values are encoded by `codec.rs` inside the
//! envelope of `envelope.rs`.
#![warn(missing_docs)]

mod breaker;
mod builder;
mod cache;
pub mod clock;
pub mod codec;
pub mod envelope;
pub mod key;
mod l1;
pub mod l2;
mod l2_path;
mod load_plan;
pub mod memory_l2;
mod options;
mod pending_invalidations;
mod read_path;
mod shim;
mod single_flight;
#[cfg(all(test, feature = "shuttle"))]
mod single_flight_model;
mod stats;
mod tag_versions;

pub use builder::CacheBuilder;
pub use cache::Cache;
pub use codec::{Codec, CodecError, CustomCodec};
pub use key::{CacheKey, KeyBuilder, KeyPart, KeyPartWriter};
pub use l2::{BackplaneListener, Invalidation, InvalidationMessage, L2Error, L2Policy, L2};
pub use load_plan::{LoadPlan, Refresher};
pub use memory_l2::MemoryL2;
pub use options::EntryOptions;
pub use stats::Stats;
