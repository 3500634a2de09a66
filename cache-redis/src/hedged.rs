//! Reconnecting without waiting out a dead attempt.
//!
//! An attempt whose first packet was dropped by a partition waits for its timeout, even after the
//! link heals (TCP resends a `SYN` only after a second). Starting a new attempt every
//! [`ATTEMPT_SPACING`] while the older ones are still in flight means the first one started after
//! the link heals gets through at once.

use std::future::Future;
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};

/// Time between two attempts.
pub(crate) const ATTEMPT_SPACING: Duration = Duration::from_millis(100);

/// Starts `attempt(n)` for n = 0, 1, … every [`ATTEMPT_SPACING`] (each must bound itself by a
/// timeout) until one succeeds; `failed` is told of every failure.
pub(crate) async fn first_success<T, E, Fut>(
    mut attempt: impl FnMut(usize) -> Fut,
    mut failed: impl FnMut(E),
) -> T
where
    Fut: Future<Output = Result<T, E>>,
{
    let mut in_flight = FuturesUnordered::new();
    let mut spacing = tokio::time::interval(ATTEMPT_SPACING);
    spacing.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut started = 0usize;
    loop {
        tokio::select! {
            _ = spacing.tick() => {
                in_flight.push(attempt(started));
                started = started.wrapping_add(1);
            }
            Some(result) = in_flight.next() => match result {
                Ok(value) => return value,
                Err(e) => failed(e),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_later_attempt_wins_over_a_hanging_one() {
        let winner = first_success(
            |n| async move {
                if n == 0 {
                    // Dropped: hangs far longer than the spacing.
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    return Err("timed out");
                }
                if n < 3 {
                    return Err("refused");
                }
                Ok(n)
            },
            |_| {},
        )
        .await;
        assert_eq!(winner, 3);
    }
}
