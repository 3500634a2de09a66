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
pub(crate) fn tick() -> Tick {
    // Not `now()`: that also stores into a global for `recent()`, a shared cache line every hit.
    coarsetime::Instant::now_without_cache_update()
}

/// `at` plus `d`.
pub(crate) fn tick_after(at: Tick, d: Duration) -> Tick {
    at + coarsetime::Duration::from(d)
}
