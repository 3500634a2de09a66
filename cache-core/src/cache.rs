//! `Cache`: the handle users and generated code call, and the state behind it.

use std::future::Future;
use std::sync::{Arc, Weak};
use std::time::Duration;

use serde::{de::DeserializeOwned, Serialize};

use crate::breaker::Breaker;
use crate::builder::CacheBuilder;
use crate::codec::Codec;
use crate::key::{CacheKey, KeyBuilder};
use crate::l1::{L1Read, L1};
use crate::l2::{BackplaneListener, Invalidation, InvalidationMessage, L2Policy, L2};
use crate::load_plan::LoadPlan;
use crate::options::EntryOptions;
use crate::pending_invalidations::PendingInvalidations;
use crate::single_flight::SingleFlight;
use crate::stats::{Counters, Stats};
use crate::tag_versions::TagVersions;

/// A cache: L1 in process, optionally an L2 shared with other instances.
///
/// A cheap `Clone` handle; every clone is the same cache.
///
/// ```
/// # tokio_test_block_on(async {
/// use cache_core::{Cache, EntryOptions};
/// use std::time::Duration;
///
/// let cache = Cache::builder().namespace("shop").build();
/// let opts = EntryOptions::new().ttl(Duration::from_secs(60));
/// let name: String = cache
///     .get_or_load("product:7", &opts, || async { Ok::<_, std::io::Error>("lamp".to_string()) })
///     .await?;
/// assert_eq!(name, "lamp");
/// assert_eq!(cache.peek::<String>("product:7").await.as_deref(), Some("lamp"));
/// cache.invalidate("product:7").await;
/// assert_eq!(cache.peek::<String>("product:7").await, None);
/// # Ok::<_, std::io::Error>(()) });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Clone)]
pub struct Cache {
    pub(crate) inner: Arc<CacheInner>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("namespace", &self.inner.namespace)
            .field("l1_len", &self.inner.l1.len())
            .field("l2", &self.inner.l2.as_ref().map(|l| &l.layer))
            .finish()
    }
}

/// The L2 and what guards it: breaker, policy, and the journal of pending invalidations.
pub(crate) struct L2Link {
    pub(crate) layer: Arc<dyn L2>,
    pub(crate) policy: L2Policy,
    pub(crate) breaker: Breaker,
    pub(crate) pending: PendingInvalidations,
    pub(crate) replaying: tokio::sync::Mutex<()>,
    /// Whether a background replay-retry task is running.
    pub(crate) retrying: std::sync::atomic::AtomicBool,
}

impl L2Link {
    pub(crate) fn new(layer: Arc<dyn L2>, max_pending: usize) -> Self {
        let policy = layer.policy();
        L2Link {
            breaker: Breaker::new(policy.breaker_failures, policy.breaker_cool_down),
            pending: PendingInvalidations::new(max_pending),
            replaying: tokio::sync::Mutex::new(()),
            retrying: std::sync::atomic::AtomicBool::new(false),
            layer,
            policy,
        }
    }
}

pub(crate) struct CacheInner {
    pub(crate) namespace: String,
    pub(crate) instance_id: u64,
    pub(crate) default_ttl: Duration,
    pub(crate) codec: Codec,
    pub(crate) max_key_len: usize,
    pub(crate) lock_ttl: Duration,
    pub(crate) l1: L1,
    pub(crate) l2: Option<L2Link>,
    pub(crate) flights: SingleFlight,
    pub(crate) tags: TagVersions,
    pub(crate) counters: Counters,
}

impl CacheInner {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        namespace: String,
        l1_capacity: usize,
        l1_byte_budget: Option<u64>,
        default_ttl: Duration,
        codec: Codec,
        l2: Option<L2Link>,
        max_key_len: usize,
        lock_ttl: Duration,
    ) -> Self {
        CacheInner {
            namespace,
            instance_id: rand::random(),
            default_ttl,
            codec,
            max_key_len,
            lock_ttl,
            l1: L1::new(l1_capacity, l1_byte_budget),
            l2,
            flights: SingleFlight::default(),
            tags: TagVersions::default(),
            counters: Counters::default(),
        }
    }
}

/// Receives backplane events for one cache; weak, so the L2 does not keep the cache alive.
struct BackplaneReceiver(Weak<CacheInner>);

impl BackplaneListener for BackplaneReceiver {
    fn on_message(&self, message: InvalidationMessage) {
        let Some(inner) = self.0.upgrade() else {
            return;
        };
        if message.origin == inner.instance_id {
            return;
        }
        Counters::incr(&inner.counters.invalidations_received);
        match message.invalidation {
            Invalidation::Key(key) => {
                tracing::debug!(key, "backplane: key invalidated");
                inner.flights.invalidate(&key);
                inner.l1.remove(&key);
            }
            Invalidation::Tag { tag, version } => {
                tracing::debug!(tag, version, "backplane: tag invalidated");
                inner.tags.raise(&tag, version);
            }
            Invalidation::Clear => {
                tracing::debug!("backplane: namespace cleared");
                inner.flights.invalidate_all();
                inner.l1.clear();
            }
        }
    }

    fn on_reconnect(&self) {
        let Some(inner) = self.0.upgrade() else {
            return;
        };
        inner.flights.invalidate_all();
        inner.l1.clear();
        Counters::incr(&inner.counters.backplane_reconnects);
        tracing::info!(
            namespace = inner.namespace,
            "backplane reconnected: L1 cleared of what it may have missed"
        );
        // Replay what failed during the outage now, rather than on the next call.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let cache = Cache { inner };
            rt.spawn(async move {
                if let Some(l2) = &cache.inner.l2 {
                    cache.replay_pending(l2).await;
                }
            });
        }
    }

    fn on_disconnect(&self) {
        if let Some(inner) = self.0.upgrade() {
            tracing::warn!(namespace = inner.namespace, "backplane disconnected");
        }
    }
}

impl Cache {
    /// Starts building a cache.
    pub fn builder() -> CacheBuilder {
        CacheBuilder::default()
    }

    pub(crate) fn from_inner(inner: CacheInner) -> Cache {
        let inner = Arc::new(inner);
        if let Some(l2) = &inner.l2 {
            let listener = Arc::new(BackplaneReceiver(Arc::downgrade(&inner)));
            l2.layer
                .attach(&inner.namespace, inner.instance_id, listener);
        }
        Cache { inner }
    }

    /// The namespace every key starts with.
    pub fn namespace(&self) -> &str {
        &self.inner.namespace
    }

    /// This instance's id on the backplane.
    pub fn instance_id(&self) -> u64 {
        self.inner.instance_id
    }

    /// Whether an L2 is configured.
    pub fn has_l2(&self) -> bool {
        self.inner.l2.is_some()
    }

    /// The full key for literal text `key` (namespaced, length rule applied).
    pub fn key(&self, key: &str) -> CacheKey {
        CacheKey::literal(&self.inner.namespace, key, self.inner.max_key_len)
    }

    /// A key builder already holding the namespace (used by `#[cached]`).
    pub fn key_builder(&self) -> KeyBuilder {
        KeyBuilder::with_namespace(&self.inner.namespace, 32)
    }

    /// Finishes a key from [`key_builder`](Self::key_builder), applying the length rule.
    pub fn finish_key(&self, builder: KeyBuilder) -> CacheKey {
        builder.finish(self.inner.max_key_len)
    }

    /// Returns the cached value of `key`, or runs `loader` once (however many callers miss at
    /// once), stores its `Ok` value in L1 and L2, and returns it. `Err` is never cached.
    pub async fn get_or_load<T, E, F, Fut>(
        &self,
        key: &str,
        opts: &EntryOptions,
        loader: F,
    ) -> Result<T, E>
    where
        T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
        E: Send + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.load(self.key(key), opts, LoadPlan::shared(), loader)
            .await
    }

    /// Like [`get_or_load`](Self::get_or_load) for values that cannot be serialized: L1 only.
    pub async fn get_or_load_local<T, E, F, Fut>(
        &self,
        key: &str,
        opts: &EntryOptions,
        loader: F,
    ) -> Result<T, E>
    where
        T: Clone + Send + Sync + 'static,
        E: Send + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.load(self.key(key), opts, LoadPlan::local(), loader)
            .await
    }

    /// The fresh value of `key` from L1, then L2; never loads.
    pub async fn peek<T>(&self, key: &str) -> Option<T>
    where
        T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    {
        let key = self.key(key);
        if let L1Read::Fresh { value, .. } = self.inner.l1.get::<T>(key.as_str(), &self.inner.tags)
        {
            return Some(value);
        }
        let l2 = self.inner.l2.as_ref()?;
        let plan = LoadPlan::<T, ()>::shared();
        let io = plan.io?;
        self.l2_read(l2, &key, &EntryOptions::new(), io)
            .await
            .into_fresh()
    }

    /// Writes `value` through to L1 and L2 (after a write to the source of truth), and tells
    /// other instances to drop their L1 copy.
    pub async fn set<T>(&self, key: &str, value: &T, opts: &EntryOptions)
    where
        T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    {
        let key = self.key(key);
        self.inner.flights.invalidate(key.as_str());
        let plan = LoadPlan::<T, ()>::shared();
        let use_l2 = opts.l2 && self.inner.l2.is_some();
        let stamps = self.tag_stamps(opts.tags(), use_l2).await;
        let ttl = opts.ttl.unwrap_or(self.inner.default_ttl);
        let l2 = plan.io.filter(|_| use_l2).map(|io| (io, None));
        self.store(&key, opts, l2, value, ttl, stamps, None).await;
        self.notify_others(Invalidation::Key(key.into_string()))
            .await;
    }

    /// Removes `key` from L1 and L2 and tells every other instance to drop it.
    pub async fn invalidate(&self, key: &str) {
        self.invalidate_key(&self.key(key)).await;
    }

    /// [`invalidate`](Self::invalidate) for a key built with [`key_builder`](Self::key_builder).
    pub async fn invalidate_key(&self, key: &CacheKey) {
        self.send_invalidation(Invalidation::Key(key.as_str().to_owned()))
            .await;
    }

    /// Makes every entry tagged `tag` a miss, here, in L2 and on every other instance.
    pub async fn invalidate_tag(&self, tag: &str) {
        self.send_tag_invalidation(tag).await;
    }

    /// Drops every entry of the namespace, here, in L2 and on every other instance.
    pub async fn clear(&self) {
        self.send_invalidation(Invalidation::Clear).await;
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        let mut s = self.inner.counters.snapshot();
        if let Some(l2) = &self.inner.l2 {
            s.pending_invalidations = l2.pending.len() as u64;
            s.breaker_open = u64::from(l2.breaker.is_open());
        }
        s
    }

    /// Number of entries in L1.
    pub fn l1_len(&self) -> usize {
        self.inner.l1.len()
    }
}
