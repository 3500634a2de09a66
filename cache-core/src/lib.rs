//! Runtime of layercache: an in-process L1 on `quick_cache`, an optional shared [`L2`], codecs,
//! injective keys, single-flight loading, fail-safe, refresh-ahead, tags and stats.
//!
//! Most users depend on the `layercache` facade crate and its `#[cached]` macro; this crate is the
//! machinery underneath, usable by hand through [`Cache::get_or_load`].
#![warn(missing_docs)]

pub mod clock;
pub mod codec;
pub mod envelope;
pub mod key;
pub mod l2;

pub use codec::{Codec, CodecError, CustomCodec};
pub use key::{CacheKey, KeyPart, KeyPartWriter};
pub use l2::{BackplaneListener, Invalidation, InvalidationMessage, L2Error, L2Policy, L2};
