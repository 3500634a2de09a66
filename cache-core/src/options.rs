//! Per-entry options: freshness, fail-safe, refresh-ahead, tags, L2 use.

use std::borrow::Cow;
use std::time::Duration;

use crate::codec::Codec;
use crate::weigh::{trait_weigher, ClosureWeigher, TraitWeigher, Weigh};

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
    weigh: Option<TraitWeigher>,
    weigh_by: Option<ClosureWeigher>,
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
            weigh: None,
            weigh_by: None,
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

    /// With a byte budget, weigh this entry's values (of type `V`) by their [`Weigh`] impl: how
    /// [`Cache::get_or_load`](crate::Cache::get_or_load) and its siblings learn the heap size of
    /// a value type of yours. (`#[cached]` finds a return type's `Weigh` impl by itself, and the
    /// runtime API knows the common standard types, see
    /// [`std_heap_bytes`](crate::weigh::std_heap_bytes).) A value of another type than `V` is
    /// weighed as if this was not set.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use layercache::{Cache, EntryOptions, Weigh};
    ///
    /// #[derive(Clone)]
    /// struct Page { html: String }
    /// impl Weigh for Page {
    ///     fn heap_bytes(&self) -> usize { self.html.heap_bytes() }
    /// }
    ///
    /// const PAGE: EntryOptions = EntryOptions::new().weigh::<Page>();
    /// let cache = Cache::builder().l1_byte_budget(1 << 20).build();
    /// for i in 0..100 {
    ///     let page = cache
    ///         .get_or_load_local(&format!("page:{i}"), &PAGE, || async {
    ///             Ok::<_, std::convert::Infallible>(Page { html: "x".repeat(64 << 10) })
    ///         })
    ///         .await?;
    ///     assert_eq!(page.html.len(), 64 << 10);
    /// }
    /// // 100 pages of 64 KiB do not fit in 1 MiB: the budget holds fewer than 16.
    /// assert!(cache.l1_len() < 16, "{}", cache.l1_len());
    /// # Ok::<_, std::convert::Infallible>(()) }).unwrap();
    /// ```
    pub const fn weigh<V: Weigh + 'static>(mut self) -> Self {
        self.weigh = Some(trait_weigher::<V>());
        self
    }

    /// With a byte budget, weigh this entry's values (of type `V`) with `heap_bytes`: the bytes a
    /// value owns on the heap, beyond `size_of::<V>()`. For value types that do not implement
    /// [`Weigh`] (a type from another crate); it wins over [`weigh`](Self::weigh). A value of
    /// another type than `V` is weighed as if this was not set.
    ///
    /// ```
    /// use layercache::EntryOptions;
    /// # struct Image { bytes: Vec<u8> }
    /// let opts = EntryOptions::new().weigh_by(|image: &Image| image.bytes.capacity());
    /// ```
    pub fn weigh_by<V: 'static>(
        mut self,
        heap_bytes: impl Fn(&V) -> usize + Send + Sync + 'static,
    ) -> Self {
        self.weigh_by = Some(ClosureWeigher::new(heap_bytes));
        self
    }

    /// The heap bytes of `value` by [`weigh_by`](Self::weigh_by) or [`weigh`](Self::weigh), when
    /// one was set for its type.
    pub(crate) fn heap_bytes_of(&self, value: &dyn std::any::Any) -> Option<usize> {
        self.weigh_by
            .as_ref()
            .and_then(|w| w.heap_bytes(value))
            .or_else(|| self.weigh.and_then(|w| w(value)))
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
