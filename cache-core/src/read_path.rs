//! The read path of one call: L1, single-flight, L2, loader, fail-safe, refresh-ahead, store.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tracing::Instrument;

use crate::cache::{Cache, L2Link};
use crate::clock::{tick, tick_after, UnixMillis};
use crate::envelope::{Envelope, TagStamp};
use crate::key::CacheKey;
use crate::l1::{L1Entry, L1Read};
use crate::l2_path::{L2Read, LockOutcome};
use crate::load_plan::{LoadPlan, ValueIo};
use crate::options::EntryOptions;
use crate::single_flight::{Join, LeaderGuard, Wait};
use crate::stats::Counters;

/// What a leader hands to the callers that waited on it.
enum FlightOutcome<V, E> {
    Value(V),
    /// The load failed; the error is shared only when the plan can clone it.
    Failed(Option<Mutex<E>>),
}

/// What a waiter does after its leader finished.
enum AfterWait<'a, V, E> {
    Return(Result<V, E>),
    /// Became leader (first, or after the previous one was cancelled or panicked).
    Lead(LeaderGuard<'a>),
    /// The leader failed with an error that cannot be shared: load alone.
    LoadAlone,
}

impl Cache {
    /// The fresh L1 value of `key`, when there is one and no refresh-ahead is due; counts the hit.
    ///
    /// A synchronous front door for the hit path: callers (the `#[cached]` expansion) try it
    /// before building the [`load`](Cache::load) future, so a hit moves no future at all.
    #[inline]
    pub fn get_fresh<V: Clone + Send + Sync + 'static>(
        &self,
        key: &CacheKey,
        opts: &EntryOptions,
    ) -> Option<V> {
        if !opts.l1 {
            return None;
        }
        match self.inner.l1.get::<V>(key.as_str(), &self.inner.tags) {
            L1Read::Fresh {
                value,
                refresh: None,
            } => {
                Counters::incr(&self.inner.counters.l1_hits);
                tracing::trace!(layer = "l1", "hit");
                Some(value)
            }
            _ => None,
        }
    }

    /// Gets `key` from L1 or L2, or loads it with `loader` (once per key across concurrent
    /// callers), applying `opts` and `plan`. This is what `#[cached]` expands to; most code calls
    /// [`get_or_load`](Cache::get_or_load).
    pub async fn load<V, E, F, Fut>(
        &self,
        key: CacheKey,
        opts: &EntryOptions,
        plan: LoadPlan<'_, V, E>,
        loader: F,
    ) -> Result<V, E>
    where
        V: Clone + Send + Sync + 'static,
        E: Send + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        let mut stale = None;
        if opts.l1 {
            match self.inner.l1.get::<V>(key.as_str(), &self.inner.tags) {
                L1Read::Fresh { value, refresh } => {
                    Counters::incr(&self.inner.counters.l1_hits);
                    tracing::trace!(layer = "l1", "hit");
                    if let Some(entry) = refresh.filter(|e| e.claim_refresh()) {
                        return Box::pin(self.refresh_ahead(key, opts, plan, loader, value, entry))
                            .await;
                    }
                    return Ok(value);
                }
                L1Read::Stale(v) => stale = Some(v),
                L1Read::Miss => {}
            }
        }
        // Boxed: the hit path above stays a small future; a miss pays one allocation.
        Box::pin(self.load_missed(key, opts, plan, loader, stale)).await
    }

    /// Everything after an L1 miss: single-flight, L2, loader.
    async fn load_missed<V, E, F, Fut>(
        &self,
        key: CacheKey,
        opts: &EntryOptions,
        plan: LoadPlan<'_, V, E>,
        loader: F,
        mut stale: Option<V>,
    ) -> Result<V, E>
    where
        V: Clone + Send + Sync + 'static,
        E: Send + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        let guard = match self.join_flight(&key, opts, &plan, &mut stale).await {
            AfterWait::Return(r) => return r,
            AfterWait::Lead(guard) => Some(guard),
            AfterWait::LoadAlone => None,
        };
        let (result, _) = self
            .lead(&key, opts, &plan, loader, stale, guard.as_ref(), true)
            .await;
        if let Some(guard) = guard {
            let outcome = match &result {
                Ok(v) => FlightOutcome::<V, E>::Value(v.clone()),
                Err(e) => {
                    FlightOutcome::Failed(plan.share_errors.map(|clone| Mutex::new(clone(e))))
                }
            };
            guard.complete(Arc::new(outcome));
        }
        result
    }

    /// Becomes the leader of `key`, or waits for the current one and takes its outcome.
    async fn join_flight<'a, V, E>(
        &'a self,
        key: &CacheKey,
        opts: &EntryOptions,
        plan: &LoadPlan<'_, V, E>,
        stale: &mut Option<V>,
    ) -> AfterWait<'a, V, E>
    where
        V: Clone + Send + Sync + 'static,
        E: Send + 'static,
    {
        let inner = &*self.inner;
        loop {
            let waiter = match inner.flights.join(key.as_str()) {
                Join::Leader(guard) => {
                    // The previous leader may have stored the value between our L1 miss and
                    // our election: check again, or a second load would run.
                    if opts.l1 {
                        if let L1Read::Fresh { value, .. } =
                            inner.l1.get::<V>(key.as_str(), &inner.tags)
                        {
                            guard.complete(Arc::new(FlightOutcome::<V, E>::Value(value.clone())));
                            return AfterWait::Return(Ok(value));
                        }
                    }
                    return AfterWait::Lead(guard);
                }
                Join::Waiter(w) => w,
            };
            Counters::incr(&inner.counters.coalesced);
            let waited = match (opts.timeout, stale.is_some()) {
                (Some(t), true) => tokio::time::timeout(t, waiter.wait()).await.ok(),
                _ => Some(waiter.wait().await),
            };
            let Some(waited) = waited else {
                // Timed out waiting with a stale value in hand: serve it.
                if let Some(s) = stale.take() {
                    Counters::incr(&inner.counters.stale_served);
                    return AfterWait::Return(Ok(s));
                }
                continue;
            };
            match waited {
                Wait::Done(outcome) => match outcome.downcast_ref::<FlightOutcome<V, E>>() {
                    Some(FlightOutcome::Value(v)) => return AfterWait::Return(Ok(v.clone())),
                    Some(FlightOutcome::Failed(Some(e))) => {
                        if let Some(clone) = plan.share_errors {
                            return AfterWait::Return(Err(clone(&e.lock())));
                        }
                        return AfterWait::LoadAlone;
                    }
                    Some(FlightOutcome::Failed(None)) | None => return AfterWait::LoadAlone,
                },
                Wait::LeaderGone => {
                    tracing::debug!("single-flight leader gone; taking over");
                    if opts.l1 {
                        if let L1Read::Fresh { value, .. } =
                            inner.l1.get::<V>(key.as_str(), &inner.tags)
                        {
                            return AfterWait::Return(Ok(value));
                        }
                    }
                }
            }
        }
    }

    /// Loads `key`: L2 first (when `read_l2`), then the loader, with fail-safe; stores the value.
    /// The flag is true when the value is new (not a stale fallback).
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn lead<V, E, F, Fut>(
        &self,
        key: &CacheKey,
        opts: &EntryOptions,
        plan: &LoadPlan<'_, V, E>,
        loader: F,
        mut stale: Option<V>,
        guard: Option<&LeaderGuard<'_>>,
        read_l2: bool,
    ) -> (Result<V, E>, bool)
    where
        V: Clone + Send + Sync + 'static,
        E: Send + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        let inner = &*self.inner;
        let mut shared = self.shared_io(opts, plan.io);
        let mut lock = None;
        let mut l2_version = None;
        if let Some((l2, io)) = shared {
            if !read_l2 {
                l2_version = self.l2_version(l2, key).await;
                if l2_version.is_none() {
                    shared = None;
                }
            } else {
                match self
                    .l2_read_versioned(l2, key, opts, io, &mut l2_version, guard)
                    .await
                {
                    L2Read::Fresh(v) => return (Ok(v), true),
                    L2Read::Stale(v) => {
                        stale.get_or_insert(v);
                    }
                    L2Read::Miss => {}
                    L2Read::Unavailable => shared = None,
                }
            }
        }
        if let Some((l2, io)) = shared {
            if opts.lock {
                match self.acquire_lock(l2, key, opts, io, guard).await {
                    LockOutcome::Loaded(v) => return (Ok(v), true),
                    LockOutcome::Held(token) => lock = Some(token),
                    LockOutcome::Proceed => {}
                }
            }
        }
        Counters::incr(&inner.counters.misses);
        let tags = plan.tags_for(opts);
        let stamps = self.tag_stamps(&tags, shared.is_some()).await;

        Counters::incr(&inner.counters.loads);
        let span = tracing::debug_span!("layercache.load");
        let (loaded, stale) = match (opts.timeout, stale) {
            (Some(t), Some(stale)) => {
                match tokio::time::timeout(t, loader().instrument(span)).await {
                    Ok(r) => (r, Some(stale)),
                    Err(_) => {
                        Counters::incr(&inner.counters.load_errors);
                        Counters::incr(&inner.counters.stale_served);
                        tracing::warn!("loader timed out; serving the stale value (fail-safe)");
                        if let (Some(token), Some((l2, _))) = (lock, shared) {
                            self.release_lock(l2, key, &token).await;
                        }
                        return (Ok(stale), false);
                    }
                }
            }
            (_, stale) => (loader().instrument(span).await, stale),
        };
        let result = match loaded {
            Ok(value) => {
                if guard.is_some_and(|g| g.invalidated()) {
                    tracing::debug!("key invalidated during its load; value returned, not stored");
                } else if let Some(ttl) = self.store_ttl(plan, opts, &value) {
                    let l2 = shared.map(|(_, io)| (io, l2_version));
                    self.store(key, opts, l2, &value, ttl, stamps, guard).await;
                }
                (Ok(value), true)
            }
            Err(e) => {
                Counters::incr(&inner.counters.load_errors);
                match stale {
                    Some(s) => {
                        Counters::incr(&inner.counters.stale_served);
                        tracing::warn!("loader failed; serving the stale value (fail-safe)");
                        (Ok(s), false)
                    }
                    None => (Err(e), false),
                }
            }
        };
        if let (Some(token), Some((l2, _))) = (lock, shared) {
            self.release_lock(l2, key, &token).await;
        }
        result
    }

    /// The L2 and codec to use for this call, if any.
    pub(crate) fn shared_io<V>(
        &self,
        opts: &EntryOptions,
        io: Option<ValueIo<V>>,
    ) -> Option<(&L2Link, ValueIo<V>)> {
        let l2 = self.inner.l2.as_ref().filter(|_| opts.l2)?;
        Some((l2, io?))
    }

    /// How long to keep `value`, or `None` to not store it.
    fn store_ttl<V, E>(
        &self,
        plan: &LoadPlan<'_, V, E>,
        opts: &EntryOptions,
        value: &V,
    ) -> Option<Duration> {
        if plan.unless.is_some_and(|unless| unless(value)) {
            return None;
        }
        if plan.empty_when.is_some_and(|is_empty| is_empty(value)) {
            return opts.cache_none;
        }
        Some(opts.ttl.unwrap_or(self.inner.default_ttl))
    }

    /// A hit whose refresh is due: reload in the background when the plan has a `'static`
    /// refresher, else in-band by this caller (everyone else keeps getting the current value).
    async fn refresh_ahead<V, E, F, Fut>(
        &self,
        key: CacheKey,
        opts: &EntryOptions,
        plan: LoadPlan<'_, V, E>,
        loader: F,
        current: V,
        entry: Arc<L1Entry>,
    ) -> Result<V, E>
    where
        V: Clone + Send + Sync + 'static,
        E: Send + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        Counters::incr(&self.inner.counters.refreshes);
        if let (Some(refresher), None, Ok(rt)) = (
            plan.background_refresher(),
            plan.unless,
            tokio::runtime::Handle::try_current(),
        ) {
            let cache = self.clone();
            // The background task cannot borrow the caller's tag closure: render the tags now.
            let opts = opts.clone().with_tags(plan.tags_for(opts).into_owned());
            let empty_when = plan.empty_when;
            let io = plan.io;
            let background_current = current.clone();
            rt.spawn(async move {
                let plan = LoadPlan {
                    io,
                    unless: None,
                    empty_when,
                    share_errors: None,
                    refresher: None,
                    make_refresher: None,
                    make_tags: None,
                };
                let loaded = cache
                    .refresh_in_flight(&key, &opts, &plan, || refresher(), background_current)
                    .await;
                if !loaded {
                    entry.release_refresh();
                }
            });
            return Ok(current);
        }
        let loaded = self
            .refresh_in_flight(&key, opts, &plan, loader, current.clone())
            .await;
        if !loaded {
            entry.release_refresh();
        }
        // In-band, the refreshed value (or the current one) is in L1 now.
        match self.inner.l1.get::<V>(key.as_str(), &self.inner.tags) {
            L1Read::Fresh { value, .. } => Ok(value),
            _ => Ok(current),
        }
    }

    /// Reloads `key` as a single-flight leader, skipping the L2 read (it holds the same old
    /// value). Returns whether a new value was loaded.
    async fn refresh_in_flight<V, E, F, Fut>(
        &self,
        key: &CacheKey,
        opts: &EntryOptions,
        plan: &LoadPlan<'_, V, E>,
        loader: F,
        current: V,
    ) -> bool
    where
        V: Clone + Send + Sync + 'static,
        E: Send + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        let Some(guard) = self.inner.flights.try_lead(key.as_str()) else {
            return false;
        };
        let (result, fresh) = self
            .lead(key, opts, plan, loader, Some(current), Some(&guard), false)
            .await;
        if let Ok(v) = result {
            guard.complete(Arc::new(FlightOutcome::<V, E>::Value(v)));
        }
        fresh
    }

    /// Writes a loaded value to L2 (when `l2` gives its codec and the key version the load
    /// started under) and L1.
    #[allow(clippy::too_many_arguments)] // one call site per path; a struct would only rename them
    pub(crate) async fn store<V>(
        &self,
        key: &CacheKey,
        opts: &EntryOptions,
        l2: Option<(ValueIo<V>, Option<u64>)>,
        value: &V,
        ttl: Duration,
        stamps: Vec<TagStamp>,
        flight: Option<&LeaderGuard<'_>>,
    ) where
        V: Clone + Send + Sync + 'static,
    {
        let inner = &*self.inner;
        let ttl = ttl + jitter(opts.jitter);
        let stale = opts.stale.unwrap_or(Duration::ZERO);
        let mut encoded_len = None;
        if let (Some((io, version)), Some(l2)) = (l2, inner.l2.as_ref()) {
            let codec = opts.codec.unwrap_or(inner.codec);
            match (io.encode)(&codec, value) {
                Ok(payload) => {
                    encoded_len = Some(payload.len());
                    let now = UnixMillis::now();
                    let envelope = Envelope {
                        codec_id: codec.id(),
                        created: now,
                        fresh_until: now.plus(ttl),
                        stale_until: now.plus(ttl + stale),
                        tags: stamps.clone(),
                        payload,
                    };
                    self.l2_write(l2, key, &envelope, ttl + stale, version)
                        .await;
                }
                Err(e) => {
                    Counters::incr(&inner.counters.l2_errors);
                    tracing::warn!(error = %e, "value could not be encoded for L2; kept in L1 only");
                }
            }
        }
        if opts.l1 {
            let now = tick();
            let l1_ttl = opts.l1_ttl.map_or(ttl, |t| t.min(ttl));
            let weight = inner.l1.weigh::<V>(key.as_str(), encoded_len, &stamps);
            let entry = L1Entry::new(
                value.clone(),
                tick_after(now, l1_ttl),
                tick_after(now, ttl + stale),
                opts.refresh.map(|r| tick_after(now, r)),
                stamps,
                weight,
            );
            self.fill_l1(key, entry, flight);
        }
    }

    /// Puts an entry into L1 unless the key was invalidated during this load. Inserting first
    /// and checking after closes the race with an invalidation on another thread: either its
    /// L1 removal comes after our insert, or we see its mark and remove our entry.
    pub(crate) fn fill_l1<V: Send + Sync + 'static>(
        &self,
        key: &CacheKey,
        entry: L1Entry<V>,
        flight: Option<&LeaderGuard<'_>>,
    ) {
        if flight.is_some_and(|f| f.invalidated()) {
            return;
        }
        let entry = self.inner.l1.insert(key.as_str().to_owned(), entry);
        if flight.is_some_and(|f| f.invalidated()) {
            self.inner.l1.remove_entry(key.as_str(), &entry);
        }
    }
}

/// Random extra TTL in `[0, max]`.
fn jitter(max: Option<Duration>) -> Duration {
    match max {
        Some(max) if !max.is_zero() => Duration::from_millis(rand::random_range(
            0..=max.as_millis().min(u64::MAX as u128) as u64,
        )),
        _ => Duration::ZERO,
    }
}
