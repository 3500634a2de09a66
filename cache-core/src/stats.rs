//! Counters of what the cache did, and a plain snapshot of them.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

const STRIPES: usize = 8;

/// A counter split over cache-line-padded stripes, so threads counting hits at once do not
/// fight over one cache line.
#[derive(Debug, Default)]
pub(crate) struct Counter {
    stripes: [Padded; STRIPES],
}

#[derive(Debug, Default)]
#[repr(align(64))]
struct Padded(AtomicU64);

fn stripe() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static STRIPE: usize = NEXT.fetch_add(1, Relaxed) % STRIPES;
    }
    STRIPE.with(|s| *s)
}

impl Counter {
    pub(crate) fn add(&self, n: u64) {
        self.stripes[stripe()].0.fetch_add(n, Relaxed);
    }

    pub(crate) fn get(&self) -> u64 {
        self.stripes.iter().map(|s| s.0.load(Relaxed)).sum()
    }
}

macro_rules! stats {
    ($( $(#[doc = $doc:literal])* $name:ident ),* $(,)?) => {
        /// A snapshot of the cache's counters (see [`Cache::stats`](crate::Cache::stats)).
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
        pub struct Stats {
            $( $(#[doc = $doc])* pub $name: u64, )*
        }

        /// The live counters behind [`Stats`].
        #[derive(Debug, Default)]
        pub(crate) struct Counters {
            $( pub(crate) $name: Counter, )*
        }

        impl Counters {
            pub(crate) fn snapshot(&self) -> Stats {
                Stats { $( $name: self.$name.get(), )* }
            }
        }

        impl Stats {
            /// Every counter as `(name, value)`, e.g. for a metrics exporter.
            pub fn fields(&self) -> Vec<(&'static str, u64)> {
                vec![ $( (stringify!($name), self.$name), )* ]
            }
        }
    };
}

stats! {
    /// Fresh values served from L1.
    l1_hits,
    /// Values served from L2 (then copied to L1).
    l2_hits,
    /// Lookups that found no usable value in any layer.
    misses,
    /// Loader calls.
    loads,
    /// Loader calls that returned an error (or panicked, or timed out).
    load_errors,
    /// Stale values served because the loader failed or timed out.
    stale_served,
    /// Callers that waited for another caller's load instead of loading.
    coalesced,
    /// Background or in-band refresh-ahead reloads started.
    refreshes,
    /// L2 operations that failed or timed out.
    l2_errors,
    /// L2 operations skipped because the breaker was open or invalidations were pending.
    l2_skipped,
    /// Times the circuit breaker opened.
    breaker_opened,
    /// 1 while the breaker is open, else 0.
    breaker_open,
    /// L2 values that did not decode (wrong version, codec or payload).
    decode_errors,
    /// Values encoded and written to L2.
    l2_writes,
    /// Values not written to L2 because they were over the size limit.
    l2_oversize,
    /// Invalidations this instance sent (key, tag or clear).
    invalidations_sent,
    /// Invalidations received from other instances over the backplane.
    invalidations_received,
    /// Invalidations waiting to be replayed to L2 after a failure.
    pending_invalidations,
    /// Pending invalidations replayed successfully.
    invalidations_replayed,
    /// Times the backplane reconnected (L1 cleared each time).
    backplane_reconnects,
    /// Loads that waited on another instance's distributed lock.
    lock_waits,
}

impl Counters {
    pub(crate) fn incr(counter: &Counter) {
        counter.add(1);
    }
}
