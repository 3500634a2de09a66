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

/// A point on the monotonic clock of L1 deadlines, in nanoseconds from an arbitrary origin. On
/// Linux the clock is `CLOCK_MONOTONIC_COARSE` (libc's `clock_gettime`, through rustix): a
/// few instructions, at a resolution of a few milliseconds, far finer than any TTL. Elsewhere it
/// is `std::time::Instant`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Tick(u64);

impl Tick {
    /// This point plus `nanos` nanoseconds, saturating.
    #[inline]
    fn plus_nanos(self, nanos: u64) -> Tick {
        Tick(self.0.saturating_add(nanos))
    }
}

/// `d` in nanoseconds, saturating (584 years).
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The coarse monotonic clock.
#[cfg(target_os = "linux")]
#[inline]
fn coarse_now() -> Tick {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::MonotonicCoarse);
    // A monotonic clock's fields are never negative; a wrapped product would need 584 years of
    // uptime.
    let (secs, subsec) = (now.tv_sec as u64, now.tv_nsec as u64);
    Tick(secs.wrapping_mul(1_000_000_000).wrapping_add(subsec))
}

#[cfg(not(target_os = "linux"))]
use portable::coarse_now;

/// The clock where there is no `CLOCK_MONOTONIC_COARSE`.
#[cfg(not(target_os = "linux"))]
mod portable {
    use super::{nanos, Tick};

    /// The monotonic clock, from the first reading in this process.
    pub(super) fn coarse_now() -> Tick {
        static ORIGIN: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        Tick(nanos(ORIGIN.get_or_init(std::time::Instant::now).elapsed()))
    }
}

/// The current L1 time (with feature `test-clock`, moved forward by this thread's
/// [`test_clock::advance`] calls).
#[inline]
pub(crate) fn tick() -> Tick {
    let now = coarse_now();
    #[cfg(any(test, feature = "test-clock"))]
    let now = now.plus_nanos(test_clock::offset());
    now
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
        /// Nanoseconds this thread's L1 clock was moved forward.
        static OFFSET: Cell<u64> = const { Cell::new(0) };
    }

    /// Moves this thread's L1 clock forward by `d`.
    pub fn advance(d: Duration) {
        OFFSET.with(|o| o.set(o.get().saturating_add(super::nanos(d))));
    }

    pub(crate) fn offset() -> u64 {
        OFFSET.with(Cell::get)
    }
}

/// `at` plus `d`.
pub(crate) fn tick_after(at: Tick, d: Duration) -> Tick {
    at.plus_nanos(nanos(d))
}
