//! Not public API: what the `layercache` facade's generated-code support, benchmarks and tests
//! reach into. Names here may change in any release.

use std::future::Future;

pub use crate::blocking::{block_on, load_blocking};
pub use crate::clock;
pub use crate::envelope;
pub use crate::load_plan::{DetachedRules, DetachedTtlFrom, DetachedUnless, LoadPlan, Refresher};
pub use crate::shared_error::share_through_from;

use crate::key::{CacheKey, KeyBuilder};
use crate::options::EntryOptions;
use crate::read_path::{Call, L1Miss, Lookup};
use crate::Cache;

/// An L1 lookup that did not end the call: the key and what L1 had, handed on to the load so a
/// miss looks L1 up once.
pub struct Miss<V> {
    key: CacheKey,
    l1: L1Miss<V>,
}

impl<V> Miss<V> {
    #[cold]
    fn new(key: &KeyBuilder, l1: L1Miss<V>) -> Self {
        Miss {
            key: key.to_key(),
            l1,
        }
    }

    /// A miss without a lookup, for a call that must not read (`layercache::refresh`).
    pub fn skipped(key: &KeyBuilder) -> Self {
        Miss {
            key: key.to_key(),
            l1: L1Miss::Absent,
        }
    }
}

/// The calls generated code (and the core's own tests) make on a [`Cache`].
#[allow(async_fn_in_trait)] // implemented by `Cache` alone: its futures' auto traits are known
pub trait CacheInternals {
    /// Looks `key` (rendered into a [`KeyBuilder::new`] and ended by
    /// [`end_key`](CacheInternals::end_key)) up in L1 once: the fresh value, or the [`Miss`] to
    /// hand to [`load_miss`](CacheInternals::load_miss). A hit allocates nothing; a miss takes
    /// the key as a `CacheKey`.
    fn lookup<V: Clone + Send + Sync + 'static>(
        &self,
        key: &KeyBuilder,
        opts: &EntryOptions,
    ) -> Result<V, Miss<V>>;

    /// Loads after a [`lookup`](CacheInternals::lookup) missed: single-flight, L2, loader.
    async fn load_miss<V, E, F, Fut>(
        &self,
        miss: Miss<V>,
        opts: &EntryOptions,
        plan: LoadPlan<'_, V, E>,
        loader: F,
    ) -> Result<V, E>
    where
        V: Clone + Send + Sync + 'static,
        E: Send + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>;

    /// Gets `key` from L1 or L2, or loads it with `loader` (once per key across concurrent
    /// callers), applying `opts` and `plan`.
    async fn load<V, E, F, Fut>(
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
        Fut: Future<Output = Result<V, E>>;

    /// The fresh L1 value of `key`, when there is one and no refresh-ahead is due; counts the hit.
    fn get_fresh<V: Clone + Send + Sync + 'static>(
        &self,
        key: &CacheKey,
        opts: &EntryOptions,
    ) -> Option<V>;

    /// A key builder for this cache (keys do not hold the namespace: the L2 applies it).
    fn key_builder(&self) -> KeyBuilder;

    /// Finishes a key from [`key_builder`](CacheInternals::key_builder), applying the length rule.
    fn finish_key(&self, builder: KeyBuilder) -> CacheKey;

    /// Ends a key rendered into a [`KeyBuilder::new`] on the caller's stack: the length rule.
    fn end_key(&self, builder: &mut KeyBuilder);

    /// The span of a call under `layercache::bypass` (DEBUG, outcome `bypassed`, the key as the
    /// L2 would store it), with its one event logged; the body runs inside it.
    fn bypass_span(&self, key: &CacheKey, opts: &EntryOptions) -> tracing::Span;
}

impl CacheInternals for Cache {
    #[inline(always)]
    fn lookup<V: Clone + Send + Sync + 'static>(
        &self,
        key: &KeyBuilder,
        opts: &EntryOptions,
    ) -> Result<V, Miss<V>> {
        match Cache::lookup::<V>(self, key.as_bytes(), opts) {
            Lookup::Hit(value) => Ok(value),
            Lookup::Miss(l1) => Err(Miss::new(key, l1)),
        }
    }

    async fn load_miss<V, E, F, Fut>(
        &self,
        miss: Miss<V>,
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
        let call = Call::new(self, miss.key, opts, plan);
        self.load_after_lookup(call, miss.l1, loader).await
    }

    async fn load<V, E, F, Fut>(
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
        Cache::load(self, key, opts, plan, loader).await
    }

    #[inline]
    fn get_fresh<V: Clone + Send + Sync + 'static>(
        &self,
        key: &CacheKey,
        opts: &EntryOptions,
    ) -> Option<V> {
        Cache::get_fresh(self, key, opts)
    }

    fn key_builder(&self) -> KeyBuilder {
        KeyBuilder::bare(32)
    }

    fn finish_key(&self, builder: KeyBuilder) -> CacheKey {
        builder.finish(&self.inner.namespace, self.inner.max_key_len)
    }

    fn bypass_span(&self, key: &CacheKey, opts: &EntryOptions) -> tracing::Span {
        crate::log::bypassed(&self.stored_key(key.as_str()), opts)
    }

    #[inline]
    fn end_key(&self, builder: &mut KeyBuilder) {
        builder.bound(&self.inner.namespace, self.inner.max_key_len);
    }
}
