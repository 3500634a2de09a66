//! The circuit breaker in front of L2: after repeated failures, skip L2 for a cool-down, then let
//! one probe through.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::*};
use std::time::{Duration, Instant};

/// Breaker state in atomics, so the closed path (the common one) takes no lock.
#[derive(Debug)]
pub(crate) struct Breaker {
    epoch: Instant,
    failures: AtomicU32,
    /// 0 while closed; otherwise the time (µs since `epoch`, at least 1) before which L2 is skipped.
    open_until: AtomicU64,
    threshold: u32,
    cool_down: Duration,
    /// The layer's reconnection count last seen (see `L2::reconnections`).
    reconnections_seen: AtomicU64,
}

/// What a failure did to the breaker.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Tripped {
    No,
    Opened,
}

impl Breaker {
    pub(crate) fn new(threshold: u32, cool_down: Duration) -> Self {
        Breaker {
            epoch: Instant::now(),
            failures: AtomicU32::new(0),
            open_until: AtomicU64::new(0),
            threshold: threshold.max(1),
            cool_down,
            reconnections_seen: AtomicU64::new(0),
        }
    }

    fn now_us(&self) -> u64 {
        (self.epoch.elapsed().as_micros() as u64).max(1)
    }

    /// Whether a call may go to L2. When the cool-down has passed, exactly one caller gets
    /// through as the probe (the deadline moves forward for the others).
    pub(crate) fn allow(&self) -> bool {
        let until = self.open_until.load(Acquire);
        if until == 0 {
            return true;
        }
        let now = self.now_us();
        if now < until {
            return false;
        }
        let next = now + self.cool_down.as_micros() as u64;
        self.open_until
            .compare_exchange(until, next, AcqRel, Acquire)
            .is_ok()
    }

    /// The layer reports how often it reconnected: when that moved while the breaker is open,
    /// the cool-down ends now and the next call probes the server that just came back.
    pub(crate) fn note_reconnections(&self, reconnections: u64) {
        let seen = self.reconnections_seen.load(Acquire);
        if seen == reconnections
            || self
                .reconnections_seen
                .compare_exchange(seen, reconnections, AcqRel, Acquire)
                .is_err()
        {
            return;
        }
        let until = self.open_until.load(Acquire);
        if until > 1 {
            // 1 µs after the epoch: already passed, so `allow` lets one probe through.
            let _ = self.open_until.compare_exchange(until, 1, AcqRel, Acquire);
        }
    }

    pub(crate) fn is_open(&self) -> bool {
        self.open_until.load(Acquire) != 0
    }

    pub(crate) fn on_success(&self) {
        // Written only when set: every L2 call succeeds through here, and a store on every call
        // would move the breaker's cache line between the cores that make them.
        if self.failures.load(Relaxed) != 0 {
            self.failures.store(0, Release);
        }
        if self.open_until.load(Relaxed) != 0 {
            self.open_until.store(0, Release);
        }
    }

    pub(crate) fn on_failure(&self) -> Tripped {
        let failures = self.failures.fetch_add(1, AcqRel) + 1;
        if failures >= self.threshold {
            let next = self.now_us() + self.cool_down.as_micros() as u64;
            if self.open_until.swap(next, AcqRel) == 0 {
                return Tripped::Opened;
            }
        }
        Tripped::No
    }
}

/// One breaker per fault domain of the layer (see `L2::fault_domain`): a Cluster node that
/// fails opens only its own.
#[derive(Debug)]
pub(crate) struct Breakers(Box<[Breaker]>);

impl Breakers {
    pub(crate) fn new(domains: usize, threshold: u32, cool_down: Duration) -> Self {
        Breakers(
            (0..domains.max(1))
                .map(|_| Breaker::new(threshold, cool_down))
                .collect(),
        )
    }

    /// The breaker of `domain` (a domain the layer did not announce shares one).
    pub(crate) fn of(&self, domain: usize) -> &Breaker {
        &self.0[domain % self.0.len()]
    }

    pub(crate) fn any_open(&self) -> bool {
        self.0.iter().any(Breaker::is_open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_domain_opens_alone() {
        let b = Breakers::new(3, 1, Duration::from_secs(3600));
        assert!(!b.any_open(), "all closed at the start");
        assert_eq!(b.of(1).on_failure(), Tripped::Opened);
        assert!(!b.of(1).allow() && !b.of(4).allow(), "4 wraps to 1");
        assert!(b.of(0).allow() && b.of(2).allow());
        assert!(b.any_open());
        b.of(4).on_success();
        assert!(!b.any_open(), "closed again once its domain answers");
        assert!(
            Breakers::new(0, 1, Duration::ZERO).of(7).allow(),
            "at least one"
        );
    }

    #[test]
    fn a_reconnected_layer_is_probed_before_the_cool_down_ends() {
        let b = Breaker::new(1, Duration::from_secs(3600));
        b.note_reconnections(0);
        assert_eq!(b.on_failure(), Tripped::Opened);
        b.note_reconnections(0);
        assert!(!b.allow(), "nothing changed: the cool-down holds");
        b.note_reconnections(1);
        assert!(b.allow(), "the layer reconnected: one probe now");
        assert!(!b.allow(), "only one");
        b.note_reconnections(1);
        assert!(!b.allow(), "the same reconnection does not probe twice");
    }

    #[test]
    fn opens_after_threshold_and_probes_once_after_cool_down() {
        let b = Breaker::new(3, Duration::from_millis(20));
        assert_eq!(b.on_failure(), Tripped::No);
        assert_eq!(b.on_failure(), Tripped::No);
        assert!(b.allow());
        assert_eq!(b.on_failure(), Tripped::Opened);
        assert!(!b.allow());
        let deadline = Instant::now() + Duration::from_secs(5);
        while !b.allow() {
            assert!(Instant::now() < deadline, "breaker never half-opened");
            std::thread::yield_now();
        }
        assert!(!b.allow(), "only one probe per cool-down");
        b.on_success();
        assert!(b.allow() && !b.is_open());
    }

    /// Polls until the breaker lets a probe through (generous deadline, no upper bound on speed).
    fn wait_for_probe(b: &Breaker) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !b.allow() {
            assert!(Instant::now() < deadline, "no probe within 10 s");
            std::thread::yield_now();
        }
    }

    #[test]
    fn a_cancelled_probe_is_followed_by_another_after_the_next_cool_down() {
        let b = Breaker::new(1, Duration::from_millis(20));
        assert_eq!(b.on_failure(), Tripped::Opened);
        assert!(b.is_open());
        wait_for_probe(&b);
        // The probe's caller was cancelled: neither success nor failure is reported.
        assert!(b.is_open(), "a probe does not close the breaker by itself");
        wait_for_probe(&b);
        b.on_success();
        assert!(!b.is_open());
    }

    #[test]
    fn a_failed_probe_keeps_it_open_for_another_cool_down() {
        let b = Breaker::new(2, Duration::from_millis(20));
        assert_eq!(b.on_failure(), Tripped::No);
        assert!(!b.is_open(), "below the threshold it stays closed");
        assert_eq!(b.on_failure(), Tripped::Opened);
        wait_for_probe(&b);
        assert_eq!(
            b.on_failure(),
            Tripped::No,
            "already open: not opened again"
        );
        assert!(b.is_open() && !b.allow(), "the cool-down starts again");
        wait_for_probe(&b);
    }

    #[test]
    fn the_cool_down_is_measured_from_the_failure() {
        let cool_down = Duration::from_secs(3600);
        let b = Breaker::new(1, cool_down);
        let before = b.now_us();
        b.on_failure();
        let until = b.open_until.load(Acquire);
        let after = b.now_us();
        let cool_us = cool_down.as_micros() as u64;
        assert!(
            (before + cool_us..=after + cool_us).contains(&until),
            "open until {until}, failure between {before} and {after}"
        );
        assert!(!b.allow(), "an hour-long cool-down has not passed");
    }

    #[test]
    fn success_resets_the_failure_count() {
        let b = Breaker::new(2, Duration::from_secs(3600));
        b.on_failure();
        b.on_success();
        assert_eq!(b.on_failure(), Tripped::No, "the count started again");
        assert!(b.allow());
    }
}
