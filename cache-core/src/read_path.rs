//! The read path of one call: L1 (looked up once), single-flight, L2, the distributed lock, the
//! loader with fail-safe, refresh-ahead; the value is stored by `write_path.rs`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tracing::Instrument;

use crate::log::{self, Outcome};
use crate::metrics::{self, LoadOutcome};

use crate::cache::Cache;
use crate::key::CacheKey;
use crate::l1::{L1Entry, L1Read, RefreshClaim};
use crate::l2_client::{L2Read, WriteIf};
use crate::load_plan::{LoadPlan, ValueIo};
use crate::lock::{LockOutcome, LockRequest};
use crate::options::EntryOptions;
use crate::single_flight::{Join, LeaderGuard, Wait};
use crate::stats::Counters;
use crate::write_path::Store;

/// One call: its key, options and plan, and whether it uses L2 (decided once, in
/// [`Cache::l2_io`]).
pub(crate) struct Call<'c, V, E> {
    pub(crate) key: CacheKey,
    pub(crate) opts: &'c EntryOptions,
    pub(crate) plan: LoadPlan<'c, V, E>,
    /// The value's encoding when this call uses L2.
    pub(crate) l2: Option<ValueIo<V>>,
}

impl<'c, V, E> Call<'c, V, E> {
    pub(crate) fn new(
        cache: &Cache,
        key: CacheKey,
        opts: &'c EntryOptions,
        plan: LoadPlan<'c, V, E>,
    ) -> Self {
        Call {
            l2: cache.l2_io(opts, &plan),
            key,
            opts,
            plan,
        }
    }
}

/// What the one L1 lookup of a call found.
pub(crate) enum Lookup<V> {
    /// A fresh value: the call is done.
    Hit(V),
    /// The call goes on to load.
    Miss(L1Miss<V>),
}

/// What L1 hands on to the load after a miss.
pub(crate) enum L1Miss<V> {
    /// Nothing usable.
    Absent,
    /// A value past its freshness, kept for fail-safe.
    Stale(V),
    /// A fresh value whose refresh this caller claimed.
    RefreshDue { current: V, claim: RefreshClaim },
}

/// Where a leader starts: with a stale value in hand or not, reading L2 or not (a refresh
/// skips the L2 read: it holds the same old value).
struct Start<V> {
    stale: Option<V>,
    read_l2: bool,
}

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
    /// The leader's outcome is of another type (another function sharing the key): load alone.
    LoadAlone,
}

impl Cache {
    /// The fresh L1 value of `key`, when there is one and no refresh-ahead is due; counts the hit.
    #[inline]
    pub(crate) fn get_fresh<V: Clone + Send + Sync + 'static>(
        &self,
        key: &CacheKey,
        opts: &EntryOptions,
    ) -> Option<V> {
        if !opts.l1 {
            return None;
        }
        match self
            .inner
            .l1
            .get::<V>(key.as_str().as_bytes(), &self.inner.tags)
        {
            L1Read::Fresh {
                value,
                refresh: None,
            } => {
                Counters::incr(&self.inner.counters.l1_hits);
                self.trace_l1_hit(key.as_str().as_bytes(), opts);
                Some(value)
            }
            _ => None,
        }
    }

    /// The one L1 lookup of a call, by the key's text: counts a hit, claims a due refresh, and
    /// hands a miss (with any stale value) on to [`load_after_lookup`](Self::load_after_lookup).
    #[inline(always)]
    pub(crate) fn lookup<V: Clone + Send + Sync + 'static>(
        &self,
        key: &[u8],
        opts: &EntryOptions,
    ) -> Lookup<V> {
        if !opts.l1 {
            return Lookup::Miss(L1Miss::Absent);
        }
        match self.inner.l1.get_fresh::<V>(key, &self.inner.tags) {
            Ok(value) => {
                self.count_l1_hit(key, opts);
                Lookup::Hit(value)
            }
            Err(None) => Lookup::Miss(L1Miss::Absent),
            Err(Some(entry)) => self.lookup_entry(key, opts, entry),
        }
    }

    /// The rest of [`lookup`](Self::lookup) when L1 holds an entry that is not a plain fresh
    /// hit: refresh-ahead due, stale, expired, or of another type.
    #[cold]
    fn lookup_entry<V: Clone + Send + Sync + 'static>(
        &self,
        key: &[u8],
        opts: &EntryOptions,
        entry: Arc<L1Entry>,
    ) -> Lookup<V> {
        match self.inner.l1.read_entry::<V>(key, entry, &self.inner.tags) {
            L1Read::Fresh { value, refresh } => {
                self.count_l1_hit(key, opts);
                match refresh.and_then(|e| e.claim_refresh()) {
                    Some(claim) => Lookup::Miss(L1Miss::RefreshDue {
                        current: value,
                        claim,
                    }),
                    None => Lookup::Hit(value),
                }
            }
            L1Read::Stale(v) => Lookup::Miss(L1Miss::Stale(v)),
            L1Read::Miss => Lookup::Miss(L1Miss::Absent),
        }
    }

    /// Counts an L1 hit and logs it at TRACE.
    #[inline(always)]
    fn count_l1_hit(&self, key: &[u8], opts: &EntryOptions) {
        Counters::incr(&self.inner.counters.l1_hits);
        self.trace_l1_hit(key, opts);
    }

    /// Gets `key` from L1 or L2, or loads it with `loader` (once per key across concurrent
    /// callers), applying `opts` and `plan`.
    pub(crate) async fn load<V, E, F, Fut>(
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
        match self.lookup::<V>(key.as_str().as_bytes(), opts) {
            Lookup::Hit(value) => Ok(value),
            Lookup::Miss(miss) => {
                self.load_after_lookup(Call::new(self, key, opts, plan), miss, loader)
                    .await
            }
        }
    }

    /// [`load`](Self::load) of a key given as text (`get_or_load`): a key within the length
    /// rule is its own text, so L1 is looked up by it as it is and a hit allocates nothing; the
    /// `CacheKey` is made on a miss.
    pub(crate) async fn load_text<V, E, F, Fut>(
        &self,
        key: &str,
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
        let ns = &self.inner.namespace;
        let stored_len = if ns.is_empty() { 0 } else { ns.len() + 1 } + key.len();
        if stored_len > self.inner.max_key_len {
            return Box::pin(self.load(self.key(key), opts, plan, loader)).await;
        }
        match self.lookup::<V>(key.as_bytes(), opts) {
            Lookup::Hit(value) => Ok(value),
            Lookup::Miss(miss) => {
                let call = Call::new(self, self.key(key), opts, plan);
                self.load_after_lookup(call, miss, loader).await
            }
        }
    }

    /// Everything after the L1 lookup: refresh-ahead, or single-flight, L2 and the loader.
    pub(crate) async fn load_after_lookup<V, E, F, Fut>(
        &self,
        call: Call<'_, V, E>,
        miss: L1Miss<V>,
        loader: F,
    ) -> Result<V, E>
    where
        V: Clone + Send + Sync + 'static,
        E: Send + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        // Boxed: the hit path stays a small future; a miss pays one allocation.
        let span = log::call_span(call.opts);
        match miss {
            L1Miss::RefreshDue { current, claim } => {
                Box::pin(
                    self.refresh_ahead(call, loader, current, claim)
                        .instrument(span),
                )
                .await
            }
            L1Miss::Stale(stale) => {
                Box::pin(self.load_missed(call, loader, Some(stale)).instrument(span)).await
            }
            L1Miss::Absent => Box::pin(self.load_missed(call, loader, None).instrument(span)).await,
        }
    }

    /// Everything after an L1 miss: single-flight, L2, loader.
    async fn load_missed<V, E, F, Fut>(
        &self,
        call: Call<'_, V, E>,
        loader: F,
        mut stale: Option<V>,
    ) -> Result<V, E>
    where
        V: Clone + Send + Sync + 'static,
        E: Send + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        let guard = match self.join_flight(&call, &mut stale).await {
            AfterWait::Return(r) => return r,
            AfterWait::Lead(guard) => Some(guard),
            AfterWait::LoadAlone => None,
        };
        let start = Start {
            stale,
            read_l2: !call.plan.skip_read,
        };
        let (result, _) = self.lead(&call, guard.as_ref(), loader, start).await;
        if let Some(guard) = guard {
            // Built (the value copied) only when someone waits for it.
            guard.complete_with(|| {
                Arc::new(match &result {
                    Ok(v) => FlightOutcome::<V, E>::Value(v.clone()),
                    Err(e) => FlightOutcome::Failed(
                        call.plan.share_errors.map(|clone| Mutex::new(clone(e))),
                    ),
                })
            });
        }
        result
    }

    /// Becomes the leader of the call's key, or waits for the current one and takes its outcome.
    async fn join_flight<'a, V, E>(
        &'a self,
        call: &Call<'_, V, E>,
        stale: &mut Option<V>,
    ) -> AfterWait<'a, V, E>
    where
        V: Clone + Send + Sync + 'static,
        E: Send + 'static,
    {
        let inner = &*self.inner;
        let (key, opts) = (&call.key, call.opts);
        loop {
            let waiter = match inner.flights.join(key.as_str()) {
                Join::Leader(guard) => {
                    // The previous leader may have stored the value between our L1 miss and
                    // our election: check again, or a second load would run.
                    if opts.l1 && !call.plan.skip_read {
                        if let L1Read::Fresh { value, .. } =
                            inner.l1.get::<V>(key.as_str().as_bytes(), &inner.tags)
                        {
                            guard.complete(Arc::new(FlightOutcome::<V, E>::Value(value.clone())));
                            self.call_done(key, Outcome::L1Hit);
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
                    self.call_done(key, Outcome::StaleServed);
                    return AfterWait::Return(Ok(s));
                }
                continue;
            };
            match waited {
                Wait::Done(outcome) => match outcome.downcast_ref::<FlightOutcome<V, E>>() {
                    Some(FlightOutcome::Value(v)) => {
                        self.call_done(key, Outcome::Coalesced);
                        return AfterWait::Return(Ok(v.clone()));
                    }
                    Some(FlightOutcome::Failed(Some(e))) => {
                        if let Some(clone) = call.plan.share_errors {
                            self.call_done(key, Outcome::Error);
                            return AfterWait::Return(Err(clone(&e.lock())));
                        }
                        return AfterWait::LoadAlone;
                    }
                    // An error nobody can share: retry by joining again, so that the retries
                    // run one at a time rather than all at once.
                    Some(FlightOutcome::Failed(None)) => continue,
                    None => return AfterWait::LoadAlone,
                },
                Wait::LeaderGone => {
                    tracing::debug!(target: log::CALL, "single-flight leader gone; taking over");
                    if opts.l1 && !call.plan.skip_read {
                        if let L1Read::Fresh { value, .. } =
                            inner.l1.get::<V>(key.as_str().as_bytes(), &inner.tags)
                        {
                            self.call_done(key, Outcome::L1Hit);
                            return AfterWait::Return(Ok(value));
                        }
                    }
                }
            }
        }
    }

    /// Reads the call's key from L2; a fresh value is copied to L1. Also returns the key's
    /// version, for a load to store its value under.
    pub(crate) async fn l2_read<V, E>(
        &self,
        call: &Call<'_, V, E>,
        flight: Option<&LeaderGuard<'_>>,
    ) -> (L2Read<V>, Option<u64>)
    where
        V: Clone + Send + Sync + 'static,
    {
        let (Some(l2), Some(io)) = (self.inner.l2.as_ref(), call.l2) else {
            return (L2Read::Unavailable, None);
        };
        let format = self.payload_format(call.opts, io);
        let (read, version) = l2.read(call.key.as_str(), format, io).await;
        if let (L2Read::Fresh(hit), true) = (&read, call.opts.l1) {
            self.fill_l1_from_l2(call, hit, flight);
        }
        (read, version)
    }

    /// The fresh L2 value of the call's key, if any (what a lock waiter polls for).
    async fn l2_fresh<V, E>(
        &self,
        call: &Call<'_, V, E>,
        flight: Option<&LeaderGuard<'_>>,
    ) -> Option<V>
    where
        V: Clone + Send + Sync + 'static,
    {
        self.l2_read(call, flight).await.0.into_fresh()
    }

    /// Loads the call's key: L2 first (unless `start` skips it), then the loader, with
    /// fail-safe; stores the value. The flag is true when the value is new (not a stale
    /// fallback).
    async fn lead<V, E, F, Fut>(
        &self,
        call: &Call<'_, V, E>,
        guard: Option<&LeaderGuard<'_>>,
        loader: F,
        start: Start<V>,
    ) -> (Result<V, E>, bool)
    where
        V: Clone + Send + Sync + 'static,
        E: Send + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        let inner = &*self.inner;
        let opts = call.opts;
        let Start { mut stale, read_l2 } = start;
        // Set to `None` once L2 fails: a call pays at most one L2 timeout.
        let mut l2 = inner.l2.as_ref().filter(|_| call.l2.is_some());
        let mut version = None;
        if let Some(shared) = l2 {
            if !read_l2 {
                version = shared.version(call.key.as_str()).await;
                if version.is_none() {
                    l2 = None;
                }
            } else {
                let (read, v) = self.l2_read(call, guard).await;
                version = v;
                match read {
                    L2Read::Fresh(hit) => {
                        self.call_done(&call.key, Outcome::L2Hit);
                        return (Ok(hit.value), true);
                    }
                    L2Read::Stale(v) => {
                        stale.get_or_insert(v);
                    }
                    L2Read::Miss => {}
                    L2Read::Unavailable => l2 = None,
                }
            }
        }
        let mut lock = None;
        if let (Some(shared), true) = (l2, opts.lock) {
            let request = LockRequest {
                client: &shared.client,
                key: call.key.as_str(),
                ttl: inner.lock_ttl,
                counters: &inner.counters,
            };
            match request.acquire(|| self.l2_fresh(call, guard)).await {
                LockOutcome::Loaded(v) => {
                    self.call_done(&call.key, Outcome::L2Hit);
                    return (Ok(v), true);
                }
                LockOutcome::Held(held) => lock = Some(held),
                LockOutcome::Proceed => {}
            }
        }
        Counters::incr(&inner.counters.misses);
        let tags = call.plan.tags_for(opts);
        let stamps = self.tag_stamps(&tags, l2.is_some()).await;

        Counters::incr(&inner.counters.loads);
        let started = std::time::Instant::now();
        let (loaded, stale) = match (opts.timeout, stale) {
            (Some(t), Some(stale)) => match tokio::time::timeout(t, loader()).await {
                Ok(r) => (r, Some(stale)),
                Err(_) => {
                    Counters::incr(&inner.counters.load_errors);
                    Counters::incr(&inner.counters.stale_served);
                    self.record_load(opts, LoadOutcome::Timeout, started);
                    log::stale_served("loader timed out");
                    self.call_done(&call.key, Outcome::StaleServed);
                    if let Some(lock) = lock {
                        lock.release().await;
                    }
                    return (Ok(stale), false);
                }
            },
            (_, stale) => (loader().await, stale),
        };
        let load_outcome = match &loaded {
            Ok(_) => LoadOutcome::Ok,
            Err(_) => LoadOutcome::Error,
        };
        self.record_load(opts, load_outcome, started);
        let result = match loaded {
            Ok(value) => {
                if guard.is_some_and(|g| g.invalidated()) {
                    tracing::debug!(
                        target: log::CALL,
                        "key invalidated during its load; value returned, not stored"
                    );
                } else if let Some(ttl) = self.store_ttl(call, &value) {
                    let store = Store {
                        ttl,
                        stamps,
                        l2: l2.map(|_| version.map_or(WriteIf::Always, WriteIf::Version)),
                        flight: guard,
                    };
                    self.store(call, &value, store).await;
                }
                self.call_done(&call.key, Outcome::Loaded);
                (Ok(value), true)
            }
            Err(e) => {
                Counters::incr(&inner.counters.load_errors);
                match stale {
                    Some(s) => {
                        Counters::incr(&inner.counters.stale_served);
                        log::stale_served("loader failed");
                        self.call_done(&call.key, Outcome::StaleServed);
                        (Ok(s), false)
                    }
                    None => {
                        self.call_done(&call.key, Outcome::Error);
                        (Err(e), false)
                    }
                }
            }
        };
        if let Some(lock) = lock {
            lock.release().await;
        }
        result
    }

    /// How long to keep `value`, or `None` to not store it.
    fn store_ttl<V, E>(&self, call: &Call<'_, V, E>, value: &V) -> Option<Duration> {
        if call.plan.unless.is_some_and(|unless| unless(value)) {
            return None;
        }
        if call.plan.empty_when.is_some_and(|is_empty| is_empty(value)) {
            return call.opts.cache_none;
        }
        match call.plan.ttl_from {
            Some(ttl_from) => Some(ttl_from(value)),
            None => Some(call.opts.ttl.unwrap_or(self.inner.default_ttl)),
        }
    }

    /// A hit whose refresh is due: reload in the background when the plan has a `'static`
    /// refresher, else in-band by this caller (everyone else keeps getting the current value).
    async fn refresh_ahead<V, E, F, Fut>(
        &self,
        call: Call<'_, V, E>,
        loader: F,
        current: V,
        claim: RefreshClaim,
    ) -> Result<V, E>
    where
        V: Clone + Send + Sync + 'static,
        E: Send + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        Counters::incr(&self.inner.counters.refreshes);
        if let (Some((refresher, rules)), Ok(rt)) = (
            call.plan.background(),
            tokio::runtime::Handle::try_current(),
        ) {
            // The caller is served the current value at once: its call is an L1 hit.
            self.call_done(&call.key, Outcome::L1Hit);
            let cache = self.clone();
            // The background task cannot borrow the caller's tag closure: render the tags now.
            let opts = call
                .opts
                .clone()
                .with_tags(call.plan.tags_for(call.opts).into_owned());
            let empty_when = call.plan.empty_when;
            let io = call.plan.io;
            let weigh = call.plan.weigh;
            let key = call.key;
            let background_current = current.clone();
            let span = log::refresh_span(call.opts);
            rt.spawn(
                async move {
                    let plan = LoadPlan {
                        io,
                        unless: rules.unless.as_deref(),
                        empty_when,
                        ttl_from: rules.ttl_from.as_deref(),
                        weigh,
                        ..LoadPlan::local()
                    };
                    let call = Call::new(&cache, key, &opts, plan);
                    // The claim moves into the task: a panicking refresher drops it while unwinding.
                    let loaded = cache
                        .refresh_in_flight(&call, || refresher(), background_current)
                        .await;
                    if loaded {
                        claim.stored();
                    }
                }
                .instrument(span),
            );
            return Ok(current);
        }
        // A cancelled caller drops the claim with this future, which releases it.
        let loaded = self.refresh_in_flight(&call, loader, current.clone()).await;
        if loaded {
            claim.stored();
        }
        // In-band, the refreshed value (or the current one) is in L1 now.
        match self
            .inner
            .l1
            .get::<V>(call.key.as_str().as_bytes(), &self.inner.tags)
        {
            L1Read::Fresh { value, .. } => Ok(value),
            _ => Ok(current),
        }
    }

    /// Reloads the call's key as a single-flight leader, skipping the L2 read (it holds the
    /// same old value). Returns whether a new value was loaded.
    async fn refresh_in_flight<V, E, F, Fut>(
        &self,
        call: &Call<'_, V, E>,
        loader: F,
        current: V,
    ) -> bool
    where
        V: Clone + Send + Sync + 'static,
        E: Send + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        let Some(guard) = self.inner.flights.try_lead(call.key.as_str()) else {
            return false;
        };
        let start = Start {
            stale: Some(current),
            read_l2: false,
        };
        let (result, fresh) = self.lead(call, Some(&guard), loader, start).await;
        if let Ok(v) = result {
            guard.complete(Arc::new(FlightOutcome::<V, E>::Value(v)));
        }
        fresh
    }
}

/// Logging and metrics of one call.
impl Cache {
    /// Logs an L1 hit at TRACE; when TRACE is off for `layercache`, one check of the level and
    /// nothing else (no span, no key rendering, no allocation).
    #[inline(always)]
    fn trace_l1_hit(&self, key: &[u8], opts: &EntryOptions) {
        if tracing::enabled!(target: log::CALL, tracing::Level::TRACE) {
            self.log_l1_hit(key, opts);
        }
    }

    #[cold]
    #[inline(never)]
    fn log_l1_hit(&self, key: &[u8], opts: &EntryOptions) {
        log::l1_hit(&self.stored_key(&String::from_utf8_lossy(key)), opts);
    }

    /// Records how the call ended on its span (with the key as stored) and logs it at DEBUG.
    fn call_done(&self, key: &CacheKey, outcome: Outcome) {
        if tracing::enabled!(target: log::CALL, tracing::Level::DEBUG) {
            log::call_done(&self.stored_key(key.as_str()), outcome);
        }
    }

    /// The key as the L2 stores it (in Redis: `ns:@:rest`), else qualified by the namespace
    /// (`ns:rest`), so logs tell the caches of one process apart.
    pub(crate) fn stored_key(&self, key: &str) -> String {
        match &self.inner.l2 {
            Some(l2) => l2.client.stored_key(key),
            None if self.inner.namespace.is_empty() => key.to_owned(),
            None => format!("{}:{}", self.inner.namespace, key),
        }
    }

    /// One loader call in the load-duration histogram (feature `metrics`).
    fn record_load(&self, opts: &EntryOptions, outcome: LoadOutcome, started: std::time::Instant) {
        metrics::record_load(
            &self.inner.namespace,
            opts.function,
            outcome,
            started.elapsed(),
        );
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::sync::atomic::Ordering::Relaxed;

    use crate::{Cache, EntryOptions};

    /// L1 lookups `call` makes on `cache`.
    async fn lookups<F: std::future::Future>(cache: &Cache, call: F) -> u64 {
        let before = cache.inner.l1.lookups.load(Relaxed);
        call.await;
        cache.inner.l1.lookups.load(Relaxed) - before
    }

    #[tokio::test]
    async fn a_hit_looks_l1_up_once_and_a_miss_once_plus_the_leaders_recheck() {
        let cache = Cache::builder().namespace("lookups").build();
        let opts = EntryOptions::new();
        let load = || async { Ok::<_, Infallible>(7u32) };
        let miss = lookups(&cache, cache.get_or_load_local("k", &opts, load)).await;
        // The call's one lookup; then, elected leader, one check that no leader stored the value
        // since (else a second load would run).
        assert_eq!(miss, 2);
        let hit = lookups(&cache, cache.get_or_load_local("k", &opts, load)).await;
        assert_eq!(hit, 1);
        assert_eq!(cache.stats().loads, 1);
        assert_eq!(cache.stats().l1_hits, 1);
    }
}
