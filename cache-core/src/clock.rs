//! Wall-clock time as stored in L2 envelopes.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct UnixMillis(pub u64);

impl UnixMillis {
    /// The current time (a clock before 1970 reads as 0).
    pub fn now() -> UnixMillis {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        UnixMillis(ms)
    }

    /// This instant plus `d`, saturating.
    pub fn plus(self, d: Duration) -> UnixMillis {
        UnixMillis(
            self.0
                .saturating_add(d.as_millis().min(u64::MAX as u128) as u64),
        )
    }

    /// How long from `now` until this instant (zero when it has passed).
    pub fn remaining_from(self, now: UnixMillis) -> Duration {
        Duration::from_millis(self.0.saturating_sub(now.0))
    }
}

/// The monotonic clock of L1 deadlines: a coarse clock (`CLOCK_MONOTONIC_COARSE` on Linux), a
/// few nanoseconds to read instead of tens, at a resolution of a few milliseconds, which is far
/// finer than any TTL.
pub(crate) type Tick = coarsetime::Instant;

/// The current L1 time.
#[cfg(not(any(test, feature = "test-clock")))]
#[inline]
pub(crate) fn tick() -> Tick {
    // Not `now()`: that also stores into a global for `recent()`, a shared cache line every hit.
    coarsetime::Instant::now_without_cache_update()
}

/// The current L1 time, moved forward by this thread's [`test_clock::advance`] calls.
#[cfg(any(test, feature = "test-clock"))]
#[inline]
pub(crate) fn tick() -> Tick {
    coarsetime::Instant::now_without_cache_update() + test_clock::offset()
}

/// A controllable L1 clock for tests (feature `test-clock`): L1 deadlines (freshness, the stale
/// window, refresh-ahead) are read from a clock each thread can move forward, so a test that
/// lets a TTL run out neither sleeps nor depends on the machine being fast.
///
/// Per thread, so tests running in parallel do not move each other's time: use it on a
/// current-thread runtime (`#[tokio::test]`), where the test and the tasks it spawns share one
/// thread. Only L1 deadlines move; L2 envelopes keep wall-clock time, and tokio timers (the
/// loader timeout) have their own `tokio::time::pause`. Builds without the feature read the
/// coarse clock directly: the hit path pays nothing for it.
#[cfg(any(test, feature = "test-clock"))]
pub mod test_clock {
    use std::cell::Cell;
    use std::time::Duration;

    thread_local! {
        static OFFSET: Cell<coarsetime::Duration> = const { Cell::new(coarsetime::Duration::from_u64(0)) };
    }

    /// Moves this thread's L1 clock forward by `d`.
    pub fn advance(d: Duration) {
        OFFSET.with(|o| o.set(o.get() + coarsetime::Duration::from(d)));
    }

    pub(crate) fn offset() -> coarsetime::Duration {
        OFFSET.with(Cell::get)
    }
}

/// `at` plus `d`.
pub(crate) fn tick_after(at: Tick, d: Duration) -> Tick {
    at + coarsetime::Duration::from(d)
}
