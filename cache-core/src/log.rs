//! Logging conventions (internal: shared by cache-core and cache-redis, not public API): every event and span is under the target `layercache` (sub-targets
//! `layercache::l2`, `layercache::backplane`, `layercache::redis`), so `RUST_LOG=layercache=debug`
//! shows all of it whichever internal crate emits it; and warnings about degradations are
//! rate-limited, so a Redis outage logs a line every few seconds, not one per call.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use tracing::field::{display, Empty};

use crate::options::EntryOptions;

/// Target of the read path's span and events (one span per cached call).
pub const CALL: &str = "layercache";
/// Target of events about L2 use: errors, the breaker, decoding, replay.
pub const L2: &str = "layercache::l2";
/// Target of events about the backplane as the cache sees it.
pub const BACKPLANE: &str = "layercache::backplane";
/// Target of events of the Redis L2 itself (`cache-redis`).
pub const REDIS: &str = "layercache::redis";

/// How often one kind of degradation warning is logged at most.
pub const WARN_EVERY: Duration = Duration::from_secs(10);

/// Lets one event of a kind through per interval and counts the ones it held back, so the next
/// one that gets through can say how many were not logged.
///
/// One per call site, in a `static`; `check()` before each `warn!`.
#[derive(Debug)]
pub struct RateLimit {
    /// When the next event may pass, in milliseconds since [`epoch`]; 0 means now.
    next_ms: AtomicU64,
    /// Events held back since the last one that passed.
    suppressed: AtomicU64,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit::new()
    }
}

/// A process-wide start instant the limiters count from.
fn epoch() -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

impl RateLimit {
    /// A limiter that lets the first event through at once, then one per [`WARN_EVERY`].
    pub const fn new() -> Self {
        RateLimit {
            next_ms: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `Some(n)` when this event may be logged (`n` events were held back since the last one
    /// logged); `None` when it should be dropped.
    pub fn check(&self) -> Option<u64> {
        self.check_at(epoch().elapsed(), WARN_EVERY)
    }

    fn check_at(&self, now: Duration, every: Duration) -> Option<u64> {
        let now_ms = now.as_millis() as u64;
        let next = self.next_ms.load(Relaxed);
        let passes = now_ms >= next
            && self
                .next_ms
                .compare_exchange(next, now_ms + every.as_millis() as u64, Relaxed, Relaxed)
                .is_ok();
        if passes {
            Some(self.suppressed.swap(0, Relaxed))
        } else {
            self.suppressed.fetch_add(1, Relaxed);
            None
        }
    }
}

/// `function` of calls whose options name none (hand-written `get_or_load`).
pub(crate) const UNNAMED_FUNCTION: &str = "unnamed";

/// How a cached call ended: the `outcome` field of its span.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// A fresh value from L1.
    L1Hit,
    /// A fresh value from L2 (or from another instance's load, through the lock).
    L2Hit,
    /// The loader ran and returned a value.
    Loaded,
    /// Another caller's load of the same key returned the value (single-flight).
    Coalesced,
    /// The loader failed or timed out; a stale value was served (fail-safe).
    StaleServed,
    /// The loader failed and no stale value could be served.
    Error,
    /// The call ran under `layercache::bypass`: the body ran, the cache was not touched.
    Bypassed,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::L1Hit => "l1_hit",
            Outcome::L2Hit => "l2_hit",
            Outcome::Loaded => "loaded",
            Outcome::Coalesced => "coalesced",
            Outcome::StaleServed => "stale_served",
            Outcome::Error => "error",
            Outcome::Bypassed => "bypassed",
        })
    }
}

fn function(opts: &EntryOptions) -> &'static str {
    opts.function.unwrap_or(UNNAMED_FUNCTION)
}

/// The span of a call that missed L1, at DEBUG: `key` and `outcome` are recorded when it ends.
pub(crate) fn call_span(opts: &EntryOptions) -> tracing::Span {
    tracing::debug_span!(
        target: CALL,
        "layercache.call",
        function = display(function(opts)),
        key = Empty,
        outcome = Empty
    )
}

/// The span of a background refresh-ahead reload.
pub(crate) fn refresh_span(opts: &EntryOptions) -> tracing::Span {
    tracing::debug_span!(
        target: CALL,
        "layercache.refresh",
        function = display(function(opts)),
        key = Empty,
        outcome = Empty
    )
}

/// Records the end of the current call on its span and logs it (DEBUG).
pub(crate) fn call_done(stored_key: &str, outcome: Outcome) {
    let span = tracing::Span::current();
    span.record("key", display(stored_key));
    span.record("outcome", display(outcome));
    tracing::debug!(target: CALL, "{}", outcome);
}

/// A call under `layercache::bypass`: its span (DEBUG) with the key it would have used and the
/// outcome `bypassed`, and one event in it. The caller runs the body inside the span.
pub(crate) fn bypassed(stored_key: &str, opts: &EntryOptions) -> tracing::Span {
    let span = tracing::debug_span!(
        target: CALL,
        "layercache.call",
        function = display(function(opts)),
        key = display(stored_key),
        outcome = display(Outcome::Bypassed)
    );
    span.in_scope(|| tracing::debug!(target: CALL, "{}", Outcome::Bypassed));
    span
}

/// An L1 hit: a TRACE span of its own, with one event in it. Only called when TRACE is on.
#[cold]
#[inline(never)]
pub(crate) fn l1_hit(stored_key: &str, opts: &EntryOptions) {
    let span = tracing::trace_span!(
        target: CALL,
        "layercache.call",
        function = display(function(opts)),
        key = display(stored_key),
        outcome = display(Outcome::L1Hit)
    );
    let _entered = span.enter();
    tracing::trace!(target: CALL, "{}", Outcome::L1Hit);
}

/// Fail-safe served a stale value because of `reason`: a degradation, at WARN, rate-limited.
pub(crate) fn stale_served(reason: &'static str) {
    static STALE_SERVED: RateLimit = RateLimit::new();
    if let Some(suppressed) = STALE_SERVED.check() {
        tracing::warn!(
            target: CALL,
            reason,
            suppressed,
            "serving a stale value (fail-safe) because the loader failed or timed out; callers \
             get data up to the function's `stale` window old until the source of truth answers \
             again: check it"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_event_per_interval_passes_and_says_how_many_were_held_back() {
        let limit = RateLimit::new();
        let every = Duration::from_secs(10);
        let at = Duration::from_secs;
        assert_eq!(limit.check_at(at(100), every), Some(0), "the first passes");
        assert_eq!(limit.check_at(at(101), every), None);
        assert_eq!(limit.check_at(at(109), every), None);
        assert_eq!(
            limit.check_at(at(110), every),
            Some(2),
            "the next one after the interval passes, counting the two held back"
        );
        assert_eq!(limit.check_at(at(111), every), None);
        assert_eq!(limit.check_at(at(200), every), Some(1));
    }

    #[test]
    fn of_many_threads_at_once_exactly_one_passes() {
        let limit = RateLimit::new();
        let passed = AtomicU64::new(0);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..1000 {
                        if limit.check_at(Duration::from_secs(5), WARN_EVERY).is_some() {
                            passed.fetch_add(1, Relaxed);
                        }
                    }
                });
            }
        });
        assert_eq!(passed.load(Relaxed), 1);
        assert_eq!(limit.suppressed.load(Relaxed), 7999);
    }
}
