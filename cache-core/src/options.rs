//! Per-entry options: freshness, fail-safe, refresh-ahead, tags, L2 use.

use std::borrow::Cow;
use std::time::Duration;

use crate::codec::Codec;

/// How one entry (or one `#[cached]` function's entries) is cached.
///
/// Every builder method is `const`, so options can live in a `const` item; tags are added per call
/// with [`with_tags`](EntryOptions::with_tags).
///
/// ```
/// use std::time::Duration;
/// use layercache::EntryOptions;
/// const PRODUCT: EntryOptions = EntryOptions::new()
///     .ttl(Duration::from_secs(300))
///     .stale(Duration::from_secs(3600));
/// let opts = PRODUCT.clone().with_tags(vec!["catalog".into()]);
/// assert_eq!(opts.tags(), ["catalog".to_string()]);
/// ```
#[derive(Clone, Debug)]
pub struct EntryOptions {
    pub(crate) ttl: Option<Duration>,
    pub(crate) l1_ttl: Option<Duration>,
    pub(crate) stale: Option<Duration>,
    pub(crate) refresh: Option<Duration>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) cache_none: Option<Duration>,
    pub(crate) jitter: Option<Duration>,
    pub(crate) l1: bool,
    pub(crate) l2: bool,
    pub(crate) lock: bool,
    pub(crate) codec: Option<Codec>,
    pub(crate) compress: Option<bool>,
    pub(crate) version: u32,
    pub(crate) tags: Cow<'static, [String]>,
    pub(crate) function: Option<&'static str>,
}

impl Default for EntryOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl EntryOptions {
    /// Options that defer everything to the cache's defaults.
    pub const fn new() -> Self {
        EntryOptions {
            ttl: None,
            l1_ttl: None,
            stale: None,
            refresh: None,
            timeout: None,
            cache_none: None,
            jitter: None,
            l1: true,
            l2: true,
            lock: false,
            codec: None,
            compress: None,
            version: 0,
            tags: Cow::Borrowed(&[]),
            function: None,
        }
    }

    /// How long a value is fresh (default: the cache's default TTL).
    pub const fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// A shorter freshness for the in-process copy (capped at `ttl`).
    pub const fn l1_ttl(mut self, ttl: Duration) -> Self {
        self.l1_ttl = Some(ttl);
        self
    }

    /// Fail-safe: keep values this long past `ttl` and serve them when the loader fails or times out.
    pub const fn stale(mut self, window: Duration) -> Self {
        self.stale = Some(window);
        self
    }

    /// Refresh-ahead: a hit older than this returns at once and triggers one reload.
    pub const fn refresh(mut self, after: Duration) -> Self {
        self.refresh = Some(after);
        self
    }

    /// Stop waiting on the loader after this long when a stale value can be served.
    pub const fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Also cache an empty result (`None`) for this long.
    pub const fn cache_none(mut self, ttl: Duration) -> Self {
        self.cache_none = Some(ttl);
        self
    }

    /// Add a random extra of up to this much to each entry's TTL.
    pub const fn jitter(mut self, max: Duration) -> Self {
        self.jitter = Some(max);
        self
    }

    /// Whether the in-process L1 holds this entry (default true; false is for benchmarks and
    /// values that must always come from L2).
    pub const fn l1(mut self, on: bool) -> Self {
        self.l1 = on;
        self
    }

    /// Whether the shared L2 is used for this entry (default true, when the cache has one).
    pub const fn l2(mut self, on: bool) -> Self {
        self.l2 = on;
        self
    }

    /// Distributed single-flight across instances through the L2 lock.
    pub const fn lock(mut self, on: bool) -> Self {
        self.lock = on;
        self
    }

    /// The L2 codec for this entry (default: the cache's).
    pub const fn codec(mut self, codec: Codec) -> Self {
        self.codec = Some(codec);
        self
    }

    /// The path of the function these entries belong to (`#[cached]` sets it to the function's
    /// module path and name): the `function` label of metrics and field of the call's log span.
    pub const fn function(mut self, path: &'static str) -> Self {
        self.function = Some(path);
        self
    }

    /// What [`function`](Self::function) set, if anything.
    pub const fn function_path(&self) -> Option<&'static str> {
        self.function
    }

    /// Whether this entry's L2 payload is compressed when it is over the cache's threshold
    /// (default: the cache's [`compress`](crate::CacheBuilder::compress) setting), with the
    /// cache's algorithm.
    #[cfg(any(feature = "lz4", feature = "zstd"))]
    pub const fn compress(mut self, on: bool) -> Self {
        self.compress = Some(on);
        self
    }

    /// The version of this entry's value type, mixed into its L2 fingerprint (default 0). Bump
    /// it when the type's meaning changes without its structure changing, or when the type's
    /// fingerprint is only its name (see [`fingerprint_source`](crate::fingerprint::fingerprint_source)):
    /// values written under another version are misses.
    pub const fn version(mut self, version: u32) -> Self {
        self.version = version;
        self
    }

    /// Rendered tags for bulk invalidation.
    pub fn with_tags(mut self, tags: Vec<String>) -> Self {
        self.tags = Cow::Owned(tags);
        self
    }

    /// The tags of this entry.
    pub fn tags(&self) -> &[String] {
        &self.tags
    }
}
