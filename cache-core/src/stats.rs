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

#[inline]
fn stripe() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static STRIPE: usize = NEXT.fetch_add(1, Relaxed) % STRIPES;
    }
    STRIPE.with(|s| *s)
}

impl Counter {
    #[inline]
    pub(crate) fn add(&self, n: u64) {
        self.stripes[stripe()].0.fetch_add(n, Relaxed);
    }

    pub(crate) fn get(&self) -> u64 {
        self.stripes.iter().map(|s| s.0.load(Relaxed)).sum()
    }
}

/// Whether a [`Stats`] field is a running total or a level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatKind {
    /// A running total that only grows (Prometheus `counter`, exported as `layercache_<name>_total`).
    Counter,
    /// A level that goes up and down (Prometheus `gauge`, exported as `layercache_<name>`).
    Gauge,
}

/// One field of a [`Stats`] snapshot, with its kind and its metric name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatField {
    /// The field's name in [`Stats`], e.g. `l1_hits`.
    pub name: &'static str,
    /// The name it has in the `metrics` facade, e.g. `layercache_l1_hits_total`.
    pub metric: &'static str,
    /// Counter or gauge.
    pub kind: StatKind,
    /// The value in this snapshot.
    pub value: u64,
}

macro_rules! metric_name {
    (Counter, $name:ident) => {
        concat!("layercache_", stringify!($name), "_total")
    };
    (Gauge, $name:ident) => {
        concat!("layercache_", stringify!($name))
    };
}

macro_rules! stats {
    ($( $(#[doc = $doc:literal])* $kind:ident $name:ident ),* $(,)?) => {
        /// A snapshot of the cache's counters (see [`Cache::stats`](crate::Cache::stats)).
        ///
        /// Each field says whether it is a **counter** (a running total since the cache was
        /// built, that only grows) or a **gauge** (a level, that goes up and down);
        /// [`entries`](Stats::entries) gives the same as data, with each field's metric name.
        ///
        /// ```
        /// use layercache::{Cache, EntryOptions, StatKind};
        /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
        /// let cache = Cache::builder().namespace("docs").build();
        /// let opts = EntryOptions::new();
        /// for _ in 0..3 {
        ///     let _: u32 = cache.get_or_load("answer", &opts, || async { Ok::<_, std::io::Error>(42) }).await?;
        /// }
        /// let stats = cache.stats();
        /// assert_eq!((stats.loads, stats.l1_hits), (1, 2));
        /// let gauges: Vec<&str> = stats.entries().iter()
        ///     .filter(|f| f.kind == StatKind::Gauge).map(|f| f.name).collect();
        /// assert_eq!(gauges, ["breaker_open", "pending_invalidations"]);
        /// # Ok::<_, std::io::Error>(()) }).unwrap();
        /// ```
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
        pub struct Stats {
            $(
                #[doc = concat!("**", stringify!($kind), ".** ")]
                $(#[doc = $doc])*
                pub $name: u64,
            )*
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
            /// Every field as `(name, value)`.
            pub fn fields(&self) -> Vec<(&'static str, u64)> {
                vec![ $( (stringify!($name), self.$name), )* ]
            }

            /// Every field with its kind (counter or gauge) and its metric name, e.g. for an
            /// exporter of your own (the `metrics` feature exports them for you).
            pub fn entries(&self) -> Vec<StatField> {
                vec![ $( StatField {
                    name: stringify!($name),
                    metric: metric_name!($kind, $name),
                    kind: StatKind::$kind,
                    value: self.$name,
                }, )* ]
            }
        }
    };
}

stats! {
    /// Fresh values served from L1.
    Counter l1_hits,
    /// Values served from L2 (then copied to L1).
    Counter l2_hits,
    /// Lookups that found no usable value in any layer.
    Counter misses,
    /// Loader calls.
    Counter loads,
    /// Loader calls that returned an error (or panicked, or timed out).
    Counter load_errors,
    /// Stale values served because the loader failed or timed out.
    Counter stale_served,
    /// Callers that waited for another caller's load instead of loading.
    Counter coalesced,
    /// Background or in-band refresh-ahead reloads started.
    Counter refreshes,
    /// L2 operations that failed or timed out.
    Counter l2_errors,
    /// L2 operations the server refused for one key (wrong type, a record that does not parse,
    /// no permission on the key, out of memory on a write): a miss or a failed write for that
    /// key, never a reason to open the breaker.
    Counter l2_refused,
    /// L2 operations skipped because the breaker was open or invalidations were pending.
    Counter l2_skipped,
    /// Times the circuit breaker opened.
    Counter breaker_opened,
    /// 1 while the breaker is open, else 0.
    Gauge breaker_open,
    /// L2 values that did not decode (wrong version, codec or payload).
    Counter decode_errors,
    /// Of `decode_errors`, values written by a build whose value type has another structure
    /// (or `version`): expected for a while during a rolling deploy that changed the type.
    Counter fingerprint_mismatches,
    /// Values encoded and written to L2.
    Counter l2_writes,
    /// Values not written to L2 because they were over the size limit.
    Counter l2_oversize,
    /// Invalidations this instance sent (key, tag or clear).
    Counter invalidations_sent,
    /// Invalidations received from other instances over the backplane.
    Counter invalidations_received,
    /// Invalidations waiting to be replayed to L2 after a failure.
    Gauge pending_invalidations,
    /// Pending invalidations replayed successfully.
    Counter invalidations_replayed,
    /// Times the backplane reconnected (L1 cleared each time).
    Counter backplane_reconnects,
    /// Loads that waited on another instance's distributed lock.
    Counter lock_waits,
}

impl Counters {
    #[inline]
    pub(crate) fn incr(counter: &Counter) {
        counter.add(1);
    }
}
