//! `Cache`: the handle users and generated code call, and the state behind it.
//!
//! The handle only composes the parts: the L1 (`l1.rs`), the L2 client (`l2_client.rs`), the
//! invalidation journal (`journal.rs`), single-flight (`single_flight.rs`); one call's read path
//! is `read_path.rs`, its write path `write_path.rs`, invalidations `invalidation.rs`; the L2 as
//! both see it is `shared_layer.rs`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde::{de::DeserializeOwned, Serialize};

use crate::key::CacheKey;
use crate::l1::{L1Read, L1};
use crate::l2::Invalidation;
use crate::l2_client::WriteIf;
use crate::load_plan::{LoadPlan, ValueIo};
use crate::options::EntryOptions;
use crate::payload::PayloadDefaults;
use crate::read_path::Call;
use crate::shared_layer::SharedLayer;
use crate::single_flight::SingleFlight;
use crate::stats::{Counters, Stats};
use crate::tag_versions::TagVersions;
use crate::write_path::Store;

/// A cache: L1 in process, optionally an L2 shared with other instances.
///
/// A cheap `Clone` handle; every clone is the same cache.
///
/// ```
/// # tokio_test_block_on(async {
/// use layercache::{Cache, EntryOptions};
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
            .field("l2", &self.inner.l2.as_ref().map(|l| &l.client))
            .finish()
    }
}

/// What a cache is made of; built by `CacheBuilder`.
pub(crate) struct CacheInner {
    pub(crate) namespace: String,
    pub(crate) instance_id: u64,
    pub(crate) default_ttl: Duration,
    pub(crate) payload: PayloadDefaults,
    pub(crate) max_key_len: usize,
    pub(crate) lock_ttl: Duration,
    pub(crate) l1: L1,
    pub(crate) l2: Option<SharedLayer>,
    pub(crate) flights: SingleFlight,
    pub(crate) tags: Arc<TagVersions>,
    pub(crate) counters: Arc<Counters>,
}

impl Cache {
    /// The namespace of this cache's keys in L2 (every key in Redis starts with it).
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

    /// The key for literal text `key`, with the length rule applied (the namespace is not part of
    /// it: the L2 applies it).
    pub fn key(&self, key: &str) -> CacheKey {
        CacheKey::literal(&self.inner.namespace, key, self.inner.max_key_len)
    }

    /// The one place that decides whether a call uses L2: the cache has one, the options allow
    /// it, and the plan can encode the value.
    pub(crate) fn l2_io<V, E>(
        &self,
        opts: &EntryOptions,
        plan: &LoadPlan<'_, V, E>,
    ) -> Option<ValueIo<V>> {
        self.inner.l2.as_ref().filter(|_| opts.l2)?;
        plan.io
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
        self.load_text(key, opts, LoadPlan::shared(), loader).await
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
        self.load_text(key, opts, LoadPlan::local(), loader).await
    }

    /// The fresh value of `key` from L1, then L2; never loads.
    pub async fn peek<T>(&self, key: &str) -> Option<T>
    where
        T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    {
        let key = self.key(key);
        if let L1Read::Fresh { value, .. } = self
            .inner
            .l1
            .get::<T>(key.as_str().as_bytes(), &self.inner.tags)
        {
            return Some(value);
        }
        let opts = EntryOptions::new();
        let call = Call::new(self, key, &opts, LoadPlan::<T, ()>::shared());
        call.l2?;
        self.l2_read(&call, None).await.0.into_fresh()
    }

    /// Writes `value` through to L1 and L2 (after a write to the source of truth), and tells
    /// other instances to drop their L1 copy.
    pub async fn set<T>(&self, key: &str, value: &T, opts: &EntryOptions)
    where
        T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    {
        let key = self.key(key);
        self.inner.flights.invalidate(key.as_str());
        let call = Call::new(self, key, opts, LoadPlan::<T, ()>::shared());
        let stamps = self.tag_stamps(opts.tags(), call.l2.is_some()).await;
        let store = Store {
            ttl: opts.ttl.unwrap_or(self.inner.default_ttl),
            stamps,
            l2: call.l2.map(|_| WriteIf::Always),
            flight: None,
        };
        self.store(&call, value, store).await;
        self.inner
            .notify_others(Invalidation::Key(call.key.into_string()))
            .await;
    }

    /// Removes `key` from L1 and L2 and tells every other instance to drop it.
    pub async fn invalidate(&self, key: &str) {
        self.invalidate_key(&self.key(key)).await;
    }

    /// [`invalidate`](Self::invalidate) for a key already built (by `#[invalidates]`).
    pub async fn invalidate_key(&self, key: &CacheKey) {
        self.inner
            .send_invalidation(Invalidation::Key(key.as_str().to_owned()))
            .await;
    }

    /// Makes every entry tagged `tag` a miss, here, in L2 and on every other instance.
    pub async fn invalidate_tag(&self, tag: &str) {
        self.inner.send_tag_invalidation(tag).await;
    }

    /// Drops every entry of the namespace, here, in L2 and on every other instance.
    pub async fn clear(&self) {
        self.inner.send_invalidation(Invalidation::Clear).await;
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        let mut s = self.inner.counters.snapshot();
        if let Some(l2) = &self.inner.l2 {
            s.pending_invalidations = l2.journal.len() as u64;
            s.breaker_open = u64::from(l2.client.breaker_open());
        }
        s
    }

    /// Number of entries in L1.
    pub fn l1_len(&self) -> usize {
        self.inner.l1.len()
    }

    /// The sum of L1's entry weights: with a byte budget
    /// ([`l1_byte_budget`](crate::CacheBuilder::l1_byte_budget)) the bytes its entries hold,
    /// which eviction keeps within the budget; without one, the number of entries.
    pub fn l1_weight(&self) -> u64 {
        self.inner.l1.weight()
    }
}
