//! `CacheBuilder`: namespace, L1 size, default TTL and codec, optional L2.

use std::sync::Arc;
use std::time::Duration;

use crate::backplane::BackplaneReceiver;
use crate::cache::{Cache, CacheInner};
use crate::codec::{self, Codec};
use crate::compression::{self, Compression};
use crate::journal::InvalidationJournal;
use crate::key::DEFAULT_MAX_KEY_LEN;
use crate::l1::L1;
use crate::l2::L2;
use crate::l2_client::L2Client;
use crate::payload::PayloadDefaults;
use crate::shared_layer::SharedLayer;
use crate::single_flight::SingleFlight;
use crate::stats::Counters;
use crate::tag_versions::TagVersions;

/// Builds a [`Cache`].
///
/// ```
/// use std::time::Duration;
/// use layercache::{Cache, Codec};
/// let cache = Cache::builder()
///     .namespace("shop:v1")
///     .l1_capacity(100_000)
///     .default_ttl(Duration::from_secs(300))
///     .codec(Codec::Bincode)
///     .build();
/// assert_eq!(cache.namespace(), "shop:v1");
/// ```
#[must_use]
pub struct CacheBuilder {
    namespace: String,
    l1_capacity: usize,
    l1_byte_budget: Option<u64>,
    default_ttl: Duration,
    /// `None`: the default codec, when its feature is on.
    codec: Option<Codec>,
    compress: bool,
    compression: Option<Compression>,
    compress_threshold: usize,
    version: u32,
    l2: Option<Arc<dyn L2>>,
    max_key_len: usize,
    lock_ttl: Duration,
    max_pending_invalidations: usize,
}

impl Default for CacheBuilder {
    fn default() -> Self {
        CacheBuilder {
            namespace: "lc".into(),
            l1_capacity: 10_000,
            l1_byte_budget: None,
            default_ttl: Duration::from_secs(300),
            codec: None,
            compress: false,
            compression: default_compression(),
            compress_threshold: compression::DEFAULT_THRESHOLD,
            version: 0,
            l2: None,
            max_key_len: DEFAULT_MAX_KEY_LEN,
            lock_ttl: Duration::from_secs(10),
            max_pending_invalidations: 10_000,
        }
    }
}

impl CacheBuilder {
    /// Prefix of every key (default `lc`); bump it (`shop:v2`) to leave old data behind.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// Most entries L1 holds (default 10,000).
    pub fn l1_capacity(mut self, entries: usize) -> Self {
        self.l1_capacity = entries;
        self
    }

    /// Also bound L1 by the memory its entries hold: each entry weighs its value's heap bytes,
    /// key, tags and a per-entry overhead, and L1 evicts to keep the sum
    /// ([`Cache::l1_weight`](crate::Cache::l1_weight)) within `bytes`. How a value's heap bytes
    /// are known (its [`Weigh`](crate::Weigh) impl, a weigher, the encoded length) is in
    /// [`weigh`](crate::weigh). A few percent of the budget is set aside for the slots of
    /// recently evicted keys that L1 remembers. The budget is split evenly between L1's shards
    /// (up to four per CPU): an entry heavier than one shard's share is not kept.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use layercache::{Cache, EntryOptions};
    ///
    /// let cache = Cache::builder().l1_byte_budget(1 << 20).build();
    /// for i in 0..1000 {
    ///     // 10 MiB of strings: a `String`'s heap bytes are known without being told.
    ///     let s: String = cache
    ///         .get_or_load_local(&format!("s:{i}"), &EntryOptions::new(), || async {
    ///             Ok::<_, std::convert::Infallible>("x".repeat(10 << 10))
    ///         })
    ///         .await?;
    ///     assert_eq!(s.len(), 10 << 10);
    /// }
    /// assert!(cache.l1_weight() <= 1 << 20);
    /// assert!(cache.l1_len() <= 100);
    /// # Ok::<_, std::convert::Infallible>(()) }).unwrap();
    /// ```
    pub fn l1_byte_budget(mut self, bytes: u64) -> Self {
        self.l1_byte_budget = Some(bytes);
        self
    }

    /// Freshness of entries whose options name no `ttl` (default 5 minutes).
    pub fn default_ttl(mut self, ttl: Duration) -> Self {
        self.default_ttl = ttl;
        self
    }

    /// Codec of L2 values whose options name none (default: bincode, see [`Codec::default`];
    /// without the `bincode` feature a cache with an L2 must be given one).
    pub fn codec(mut self, codec: Codec) -> Self {
        self.codec = Some(codec);
        self
    }

    /// Compress L2 payloads of at least [`compress_threshold`](Self::compress_threshold) bytes
    /// (default off; `#[cached(compress)]` or [`EntryOptions::compress`](crate::EntryOptions::compress)
    /// turn it on per entry). Readers need no setting: the envelope says how a payload is compressed.
    #[cfg(any(feature = "lz4", feature = "zstd"))]
    pub fn compress(mut self, on: bool) -> Self {
        self.compress = on;
        self
    }

    /// The algorithm of compressed payloads (default [`Compression::default`]: LZ4 when its
    /// feature is on).
    #[cfg(any(feature = "lz4", feature = "zstd"))]
    pub fn compression(mut self, algorithm: Compression) -> Self {
        self.compression = Some(algorithm);
        self
    }

    /// Payloads shorter than this are never compressed (default 1 KiB).
    pub fn compress_threshold(mut self, bytes: usize) -> Self {
        self.compress_threshold = bytes;
        self
    }

    /// The version of every value type, mixed into each L2 value's fingerprint with the entry's
    /// own [`version`](crate::EntryOptions::version) (default 0): bump it to make every value
    /// written by older builds a miss.
    pub fn version(mut self, version: u32) -> Self {
        self.version = version;
        self
    }

    /// The shared L2 (e.g. `RedisL2`).
    pub fn l2(self, layer: impl L2) -> Self {
        self.l2_arc(Arc::new(layer))
    }

    /// The shared L2, already behind an `Arc`.
    pub fn l2_arc(mut self, layer: Arc<dyn L2>) -> Self {
        self.l2 = Some(layer);
        self
    }

    /// Keys longer than this (default 1 KiB) are replaced by a prefix and a SHA-256 hash.
    pub fn max_key_len(mut self, bytes: usize) -> Self {
        self.max_key_len = bytes.max(80);
        self
    }

    /// How long a distributed load lock (`lock`) is held at most (default 10 s).
    pub fn lock_ttl(mut self, ttl: Duration) -> Self {
        self.lock_ttl = ttl;
        self
    }

    /// Bound on invalidations kept for replay while L2 is down; past it they collapse into one
    /// clear of the namespace (default 10,000).
    pub fn max_pending_invalidations(mut self, n: usize) -> Self {
        self.max_pending_invalidations = n;
        self
    }

    /// Builds the cache and attaches the L2 (which starts its backplane subscription).
    ///
    /// # Panics
    ///
    /// Only when the `bincode` feature (the default codec) is off, an L2 is attached and no
    /// [`codec`](Self::codec) was chosen: [`try_build`](Self::try_build) returns that as an
    /// error instead. With `bincode` on, it never panics.
    pub fn build(self) -> Cache {
        match self.try_build() {
            Ok(cache) => cache,
            Err(error) => panic!("{error}"),
        }
    }

    /// Builds the cache, or says why it cannot be built.
    ///
    /// # Errors
    ///
    /// [`BuildError::NoCodec`] when an L2 is attached, no codec was chosen and the default
    /// codec's feature (`bincode`) is off: the codec is never switched silently to another one.
    pub fn try_build(self) -> Result<Cache, BuildError> {
        let codec = match self.codec.or_else(codec::default_codec) {
            Some(codec) => codec,
            None if self.l2.is_some() => return Err(BuildError::NoCodec),
            // L1 only: no value is ever encoded, any codec will do.
            None => Codec::Custom(&codec::Unused),
        };
        let payload = PayloadDefaults {
            codec,
            compress: self.compress,
            compression: self.compression,
            compress_threshold: self.compress_threshold,
            version: self.version,
        };
        let instance_id = rand::random();
        let counters = Arc::new(Counters::default());
        let tags = Arc::new(TagVersions::default());
        let l2 = self.l2.map(|store| {
            let client = Arc::new(L2Client::new(
                store,
                counters.clone(),
                tags.clone(),
                instance_id,
            ));
            SharedLayer {
                journal: Arc::new(InvalidationJournal::new(
                    client.clone(),
                    counters.clone(),
                    self.max_pending_invalidations,
                )),
                client,
            }
        });
        let inner = Arc::new(CacheInner {
            namespace: self.namespace,
            instance_id,
            default_ttl: self.default_ttl,
            payload,
            max_key_len: self.max_key_len,
            lock_ttl: self.lock_ttl,
            l1: L1::new(self.l1_capacity, self.l1_byte_budget),
            l2,
            flights: SingleFlight::default(),
            tags,
            counters,
        });
        if let Some(l2) = &inner.l2 {
            let listener = Arc::new(BackplaneReceiver(Arc::downgrade(&inner)));
            l2.client
                .store()
                .attach(&inner.namespace, instance_id, listener);
        }
        let cache = Cache { inner };
        // Feature `metrics`: the figures reach the installed recorder every second.
        crate::metrics::start_publishing(&cache);
        Ok(cache)
    }
}

/// Why [`CacheBuilder::try_build`] refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildError {
    /// An L2 is attached but there is no codec to encode its values.
    #[error(
        "the cache has an L2 but no codec: the default codec (bincode) needs the `bincode` \
         feature; enable it or choose one with `CacheBuilder::codec` (e.g. `Codec::Json`)"
    )]
    NoCodec,
}

/// The algorithm used when compression is on and none was chosen.
fn default_compression() -> Option<Compression> {
    #[cfg(any(feature = "lz4", feature = "zstd"))]
    return Some(Compression::default());
    #[cfg(not(any(feature = "lz4", feature = "zstd")))]
    return None;
}

impl Cache {
    /// Starts building a cache.
    pub fn builder() -> CacheBuilder {
        CacheBuilder::default()
    }
}
