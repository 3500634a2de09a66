//! Generated-code support for the second round of the macros: error sharing, durations from
//! code, per-call control and the warning for `l2` without `install`.

use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub use crate::call_control::{take_mode, CallMode, ModeGuard};
use cache_core::__private::{share_through_from, LoadPlan};
use cache_core::SharedError;

/// A duration argument given as an expression (`ttl = CONFIG.ttl`): must be a `Duration`.
#[inline]
pub fn duration(value: Duration) -> Duration {
    value
}

/// `ttl_from = |v| ...`: a closure from the loaded value to its TTL.
pub fn ttl_from<V, F: Fn(&V) -> Duration + Send + Sync>(choose: F) -> F {
    choose
}

/// How waiters get the leader's error, chosen by the error type:
/// `ShareErrorsIfClone::<E>::NEW.apply(plan)` resolves to the first `apply` whose bounds hold:
/// a clone when `E: Clone`, else `E::from(SharedError)` when `E: From<SharedError>`, else
/// nothing shared ([`KeepErrors`]: waiters retry one at a time).
pub struct ShareErrorsIfClone<E>(PhantomData<fn() -> E>, ShareErrorsIfFrom<E>);

/// The second choice of [`ShareErrorsIfClone`]: `E: From<SharedError>`.
pub struct ShareErrorsIfFrom<E>(PhantomData<fn() -> E>, KeepErrors<E>);

/// The fallback of [`ShareErrorsIfClone`]: the error cannot be shared.
pub struct KeepErrors<E>(PhantomData<fn() -> E>);

impl<E> ShareErrorsIfClone<E> {
    /// The probe.
    pub const NEW: Self = ShareErrorsIfClone(
        PhantomData,
        ShareErrorsIfFrom(PhantomData, KeepErrors(PhantomData)),
    );
}

impl<E: Clone> ShareErrorsIfClone<E> {
    /// `E: Clone`: waiters get a clone of the leader's error.
    pub fn apply<'a, V>(&self, plan: LoadPlan<'a, V, E>) -> LoadPlan<'a, V, E> {
        plan.share_errors(E::clone)
    }
}

impl<E: std::error::Error + From<SharedError> + 'static> ShareErrorsIfFrom<E> {
    /// `E: From<SharedError>`: waiters get `E::from(SharedError)` with the leader's message.
    pub fn apply<'a, V>(&self, plan: LoadPlan<'a, V, E>) -> LoadPlan<'a, V, E> {
        plan.share_errors(share_through_from::<E>)
    }
}

impl<E> KeepErrors<E> {
    /// `E` can be neither cloned nor built from a `SharedError`: waiters retry the load, one
    /// at a time.
    pub fn apply<'a, V>(&self, plan: LoadPlan<'a, V, E>) -> LoadPlan<'a, V, E> {
        plan
    }
}

impl<E> Deref for ShareErrorsIfClone<E> {
    type Target = ShareErrorsIfFrom<E>;
    fn deref(&self) -> &ShareErrorsIfFrom<E> {
        &self.1
    }
}

impl<E> Deref for ShareErrorsIfFrom<E> {
    type Target = KeepErrors<E>;
    fn deref(&self) -> &KeepErrors<E> {
        &self.1
    }
}

/// Whether this call runs under `layercache::bypass`: the body runs, the cache is not touched.
#[inline]
pub fn bypassed(mode: &ModeGuard) -> bool {
    mode.mode() == Some(CallMode::Bypass)
}

/// The span a call under `layercache::bypass` runs its body in: at DEBUG, with the function, the
/// key it would have used (as the L2 stores it) and the outcome `bypassed`. The key is built only
/// when DEBUG is on for the target `layercache`.
#[cold]
pub fn bypass_span<'c>(
    options: &cache_core::EntryOptions,
    key: impl FnOnce() -> (super::CacheRef<'c>, cache_core::CacheKey),
) -> tracing::Span {
    if !tracing::enabled!(target: "layercache", tracing::Level::DEBUG) {
        return tracing::Span::none();
    }
    let (cache, key) = key();
    cache_core::__private::CacheInternals::bypass_span(&*cache, &key, options)
}

/// Runs a bypassed call's body inside its span.
#[inline]
pub fn in_span<F: std::future::Future>(
    body: F,
    span: tracing::Span,
) -> tracing::instrument::Instrumented<F> {
    tracing::Instrument::instrument(body, span)
}

/// Whether this call may be served by a hit (not under `layercache::refresh` or `bypass`).
#[inline]
pub fn may_hit(mode: &ModeGuard) -> bool {
    mode.mode().is_none()
}

/// The plan of this call: under `layercache::refresh`, one that skips the read.
#[inline]
pub fn with_mode<'a, V, E>(plan: LoadPlan<'a, V, E>, mode: &ModeGuard) -> LoadPlan<'a, V, E> {
    match mode.mode() {
        Some(CallMode::Refresh) => plan.skip_read(),
        _ => plan,
    }
}

/// Whether one `#[cached(l2)]` function has warned about the missing `install` yet.
pub struct WarnOnce(AtomicBool);

impl WarnOnce {
    /// Not warned yet.
    #[allow(clippy::new_without_default)] // used in `static` items, where only `const fn` works
    pub const fn new() -> Self {
        WarnOnce(AtomicBool::new(false))
    }
}

/// The global cache for a `#[cached(l2)]` function named `function`: when nothing was installed,
/// warns once per function that it runs from an L1-only default.
#[inline]
pub fn global_cache_l2(
    function: &'static str,
    warned: &'static WarnOnce,
) -> super::CacheRef<'static> {
    let cache = super::global_cache();
    if crate::global_is_default() && !warned.0.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            target: "layercache",
            function,
            "`{function}` is #[cached(l2)] but no cache was installed, so it runs on an L1-only default cache: call `layercache::install(cache)` at start-up with a cache that has an L2, or give the function `cache = ...`"
        );
    }
    cache
}

/// `load_blocking` with the value bounds worded for the macro's user: `#[cached]` on a plain `fn`.
pub fn load_blocking<V, E, F>(
    cache: &cache_core::Cache,
    key: cache_core::CacheKey,
    options: &cache_core::EntryOptions,
    plan: LoadPlan<'_, V, E>,
    loader: F,
) -> Result<V, E>
where
    V: super::CachedValue,
    E: Send + 'static,
    F: FnOnce() -> Result<V, E>,
{
    cache_core::__private::load_blocking(cache, key, options, plan, loader)
}

/// The value of a plain `fn` returning `T` or `Option<T>`, as a load that cannot fail.
#[inline]
pub fn infallible_now<T>(value: T) -> Result<T, std::convert::Infallible> {
    Ok(value)
}

/// Runs an invalidation of `#[invalidates]` on a plain `fn`. Without an L2 it is all in process
/// and done before this returns. With one, the L2 delete and the backplane message go through
/// the async client: inside a runtime they are spawned on it (done shortly after this returns);
/// outside one, a small runtime runs them here.
pub fn invalidate_blocking(invalidation: &super::Invalidations) {
    let caches = invalidation
        .keys
        .iter()
        .map(|(c, _)| c)
        .chain(invalidation.tags.iter().map(|(c, _)| c));
    let uses_l2 = caches.into_iter().any(cache_core::Cache::has_l2);
    if !uses_l2 {
        cache_core::__private::block_on(invalidation.run());
        return;
    }
    let owned = super::Invalidations {
        keys: invalidation.keys.clone(),
        tags: invalidation.tags.clone(),
    };
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => {
            handle.spawn(async move { owned.run().await });
        }
        Err(_) => match tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
        {
            Ok(runtime) => runtime.block_on(owned.run()),
            Err(error) => tracing::warn!(
                target: "layercache",
                %error,
                "could not start a runtime to run an invalidation of a plain fn; it was not applied"
            ),
        },
    }
}
