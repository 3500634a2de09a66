//! What a load does with its value besides returning it: whether it may go through L2 (and how
//! to encode it), which values are not stored, how waiters share an error, how to refresh it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::{de::DeserializeOwned, Serialize};

use crate::codec::{Codec, CodecError};
use crate::fingerprint::{fingerprint_of, Fingerprint};
use crate::options::EntryOptions;

/// A `'static` reloader for refresh-ahead in the background.
pub type Refresher<V, E> =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<V, E>> + Send>> + Send + Sync>;

/// `unless` as a background refresh can keep it.
pub type DetachedUnless<V> = Arc<dyn Fn(&V) -> bool + Send + Sync>;
/// `ttl_from` as a background refresh can keep it.
pub type DetachedTtlFrom<V> = Arc<dyn Fn(&V) -> std::time::Duration + Send + Sync>;

/// `'static` copies of a plan's `unless` and `ttl_from`, for a refresh that runs after the
/// caller has returned (the plan's own closures borrow from the caller).
pub struct DetachedRules<V> {
    pub(crate) unless: Option<DetachedUnless<V>>,
    pub(crate) ttl_from: Option<DetachedTtlFrom<V>>,
}

impl<V> Default for DetachedRules<V> {
    fn default() -> Self {
        DetachedRules {
            unless: None,
            ttl_from: None,
        }
    }
}

impl<V> DetachedRules<V> {
    /// No rules.
    pub fn new() -> Self {
        Self::default()
    }

    /// The background copy of `unless`.
    pub fn unless(mut self, unless: DetachedUnless<V>) -> Self {
        self.unless = Some(unless);
        self
    }

    /// The background copy of `ttl_from`.
    pub fn ttl_from(mut self, ttl_from: DetachedTtlFrom<V>) -> Self {
        self.ttl_from = Some(ttl_from);
        self
    }
}

/// How values of type `V` are encoded for L2 (monomorphized serde calls).
pub(crate) struct ValueIo<V> {
    pub(crate) encode: fn(&Codec, &V) -> Result<Vec<u8>, CodecError>,
    pub(crate) decode: fn(&Codec, &[u8]) -> Result<V, CodecError>,
    /// `V`'s fingerprint under the cache's and the entry's version.
    pub(crate) fingerprint: fn(u32, u32) -> Fingerprint,
}

impl<V> Clone for ValueIo<V> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<V> Copy for ValueIo<V> {}

impl<V: Serialize + DeserializeOwned> ValueIo<V> {
    pub(crate) fn serde() -> Self {
        ValueIo {
            encode: |codec, v| codec.encode(v),
            decode: |codec, bytes| codec.decode(bytes),
            fingerprint: fingerprint_of::<V>,
        }
    }
}

/// The per-call rules of `Cache::load`. Built by the `#[cached]` macro;
/// [`Cache::get_or_load`](crate::Cache::get_or_load) uses [`LoadPlan::shared`] as it is.
pub struct LoadPlan<'a, V, E> {
    pub(crate) io: Option<ValueIo<V>>,
    pub(crate) unless: Option<&'a (dyn Fn(&V) -> bool + Send + Sync)>,
    pub(crate) empty_when: Option<fn(&V) -> bool>,
    pub(crate) share_errors: Option<fn(&E) -> E>,
    pub(crate) refresher: Option<Refresher<V, E>>,
    pub(crate) make_refresher: Option<&'a (dyn Fn() -> Refresher<V, E> + Send + Sync)>,
    pub(crate) make_tags: Option<&'a (dyn Fn() -> Vec<String> + Send + Sync)>,
    pub(crate) ttl_from: Option<&'a (dyn Fn(&V) -> std::time::Duration + Send + Sync)>,
    /// Skip the L1 and L2 read: load (single-flight still applies) and store.
    pub(crate) skip_read: bool,
    pub(crate) make_detached: Option<&'a (dyn Fn() -> DetachedRules<V> + Send + Sync)>,
    /// The value's heap bytes, for an L1 with a byte budget (see [`crate::weigh`]).
    pub(crate) weigh: Option<fn(&V) -> usize>,
}

impl<V, E> LoadPlan<'_, V, E> {
    /// L1 only: the value never goes to L2 (no serde bounds).
    pub fn local() -> Self {
        LoadPlan {
            io: None,
            unless: None,
            empty_when: None,
            share_errors: None,
            refresher: None,
            make_refresher: None,
            make_tags: None,
            ttl_from: None,
            skip_read: false,
            make_detached: None,
            weigh: None,
        }
    }
}

impl<'a, V: Serialize + DeserializeOwned, E> LoadPlan<'a, V, E> {
    /// L1 and, when the cache has one and the options allow it, L2.
    pub fn shared() -> Self {
        LoadPlan {
            io: Some(ValueIo::serde()),
            ..LoadPlan::local()
        }
    }
}

impl<'a, V, E> LoadPlan<'a, V, E> {
    /// Values for which `unless` returns true are returned but not stored.
    pub fn unless(mut self, unless: &'a (dyn Fn(&V) -> bool + Send + Sync)) -> Self {
        self.unless = Some(unless);
        self
    }

    /// Marks empty results (`None`): stored only when the options set `cache_none`, for that long.
    pub fn empty_when(mut self, is_empty: fn(&V) -> bool) -> Self {
        self.empty_when = Some(is_empty);
        self
    }

    /// Lets callers that waited on a failed load receive a copy of the leader's error (a clone,
    /// or `E::from(SharedError)` with [`share_through_from`](crate::share_through_from)).
    /// Without it, the waiters retry the load one at a time: one becomes the next leader, the
    /// others wait for it.
    pub fn share_errors(mut self, clone: fn(&E) -> E) -> Self {
        self.share_errors = Some(clone);
        self
    }

    /// A `'static` reloader, so refresh-ahead runs in the background. Without it, the caller
    /// that finds the refresh due reloads in-band (the others keep getting the current value).
    pub fn refresher(mut self, refresher: Refresher<V, E>) -> Self {
        self.refresher = Some(refresher);
        self
    }

    /// Like [`refresher`](Self::refresher), built only when a refresh is due: a hit allocates
    /// nothing for it.
    pub fn refresher_with(mut self, make: &'a (dyn Fn() -> Refresher<V, E> + Send + Sync)) -> Self {
        self.make_refresher = Some(make);
        self
    }

    /// The TTL of each loaded value, chosen from the value (instead of the options' `ttl`).
    pub fn ttl_from(mut self, ttl: &'a (dyn Fn(&V) -> std::time::Duration + Send + Sync)) -> Self {
        self.ttl_from = Some(ttl);
        self
    }

    /// Builds `'static` copies of `unless` and `ttl_from` when a refresh is due, so that a plan
    /// with them still refreshes in the background.
    pub fn detached_rules(
        mut self,
        make: &'a (dyn Fn() -> DetachedRules<V> + Send + Sync),
    ) -> Self {
        self.make_detached = Some(make);
        self
    }

    /// The background reloader and the rules it stores by, when the refresh can run after the
    /// caller returns: a reloader exists, and `unless`/`ttl_from` are absent or detachable.
    pub(crate) fn background(&self) -> Option<(Refresher<V, E>, DetachedRules<V>)> {
        let needs_rules = self.unless.is_some() || self.ttl_from.is_some();
        if needs_rules && self.make_detached.is_none() {
            return None;
        }
        let refresher = self.background_refresher()?;
        let rules = match self.make_detached {
            Some(make) if needs_rules => make(),
            _ => DetachedRules::default(),
        };
        Some((refresher, rules))
    }

    /// How an L1 with a byte budget learns a value's heap bytes (beyond `size_of::<V>()`):
    /// `#[cached]` sets it from `weigh = …` or the value's [`Weigh`](crate::Weigh) impl.
    pub fn weigh(mut self, heap_bytes: fn(&V) -> usize) -> Self {
        self.weigh = Some(heap_bytes);
        self
    }

    /// Skips the L1 and L2 read: the call loads (sharing a load already in flight for the key)
    /// and stores the fresh value. What `layercache::refresh` does to a `#[cached]` call.
    pub fn skip_read(mut self) -> Self {
        self.skip_read = true;
        self
    }

    /// Tags rendered only when a value is stored (not on a hit). Used instead of the options'
    /// tags when those are empty.
    pub fn tags(mut self, make: &'a (dyn Fn() -> Vec<String> + Send + Sync)) -> Self {
        self.make_tags = Some(make);
        self
    }

    /// The tags of a value about to be stored: the options' own, else the plan's.
    pub(crate) fn tags_for<'o>(&self, opts: &'o EntryOptions) -> std::borrow::Cow<'o, [String]> {
        match self.make_tags {
            Some(make) if opts.tags().is_empty() => std::borrow::Cow::Owned(make()),
            _ => std::borrow::Cow::Borrowed(opts.tags()),
        }
    }

    /// The background reloader, if the plan has one.
    pub(crate) fn background_refresher(&self) -> Option<Refresher<V, E>> {
        self.refresher
            .clone()
            .or_else(|| self.make_refresher.map(|make| make()))
    }
}
