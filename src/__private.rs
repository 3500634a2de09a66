//! Items generated code refers to. Not public API: names here may change in any release.
pub use cache_core::{Cache, CacheKey, Codec, EntryOptions, KeyBuilder, KeyPart, LoadPlan};
