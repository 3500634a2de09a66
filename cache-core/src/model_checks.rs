//! Model checking of single-flight and of the refresh-ahead claim under shuttle's randomized and
//! PCT schedulers (`cargo test -p cache-core --features shuttle --lib model`).
//!
//! Each test runs a few tasks through the interleavings shuttle picks and checks, in every one:
//! - **one loader per key at a time**: a counter of loaders inside their load never exceeds 1;
//! - **no lost wake-up**: every caller finishes (shuttle fails a run in which all remaining
//!   tasks are blocked), including when the leader is cancelled at any await point;
//! - **no poisoned key**: after a leader is cancelled, a later caller can lead the key again;
//! - **one refresh per entry, never stuck**: at most one caller holds an entry's refresh claim,
//!   and a claim whose reload failed or was cancelled is free again afterwards.
//!
//! A failing schedule prints a seed that `shuttle::replay` runs again.

use std::sync::Arc;

use shuttle::future::{block_on, spawn, yield_now};
use shuttle::sync::atomic::{AtomicUsize, Ordering};

use crate::clock::{tick, tick_after};
use crate::l1::{Deadlines, L1Entry};
use crate::single_flight::{Join, SingleFlight, Wait};

const ITERATIONS: usize = 2_000;
const PCT_DEPTH: usize = 3;

/// A loader inside its load; leaves on drop, also when its task is cancelled mid-load.
struct Inside(Arc<AtomicUsize>);

impl Inside {
    fn enter(loading: &Arc<AtomicUsize>) -> Inside {
        let inside = loading.fetch_add(1, Ordering::SeqCst) + 1;
        assert_eq!(inside, 1, "two loaders of one key at the same time");
        Inside(loading.clone())
    }
}

impl Drop for Inside {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What one caller does: join the flight; as leader, load (two scheduling points) and complete;
/// as waiter, take the leader's outcome or, when the leader is gone, try again.
async fn call(
    flights: Arc<SingleFlight>,
    loading: Arc<AtomicUsize>,
    loads: Arc<AtomicUsize>,
) -> u32 {
    loop {
        match flights.join("k") {
            Join::Leader(guard) => {
                let inside = Inside::enter(&loading);
                yield_now().await;
                yield_now().await;
                drop(inside);
                loads.fetch_add(1, Ordering::SeqCst);
                // What the read path does: the outcome is built only for waiters.
                guard.complete_with(|| Arc::new(7u32));
                return 7;
            }
            Join::Waiter(waiter) => match waiter.wait().await {
                Wait::Done(outcome) => {
                    return *outcome
                        .downcast_ref::<u32>()
                        .expect("the leader's outcome type")
                }
                Wait::LeaderGone => continue,
            },
        }
    }
}

fn callers_all_get_the_value() {
    let flights = Arc::new(SingleFlight::default());
    let loading = Arc::new(AtomicUsize::new(0));
    let loads = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..3)
        .map(|_| spawn(call(flights.clone(), loading.clone(), loads.clone())))
        .collect();
    block_on(async {
        for h in handles {
            assert_eq!(h.await.expect("caller task"), 7);
        }
    });
    assert!(loads.load(Ordering::SeqCst) >= 1);
    assert_eq!(flights.in_flight(), 0, "a finished flight left the map");
}

#[test]
fn model_one_loader_per_key_and_every_waiter_wakes() {
    shuttle::check_random(callers_all_get_the_value, ITERATIONS);
    shuttle::check_pct(callers_all_get_the_value, ITERATIONS, PCT_DEPTH);
}

/// One caller is cancelled at a point the scheduler picks (its task is aborted, as a request
/// timeout drops a future); whether it was leader or waiter, the others still finish.
fn a_cancelled_caller_never_strands_the_others() {
    let flights = Arc::new(SingleFlight::default());
    let loading = Arc::new(AtomicUsize::new(0));
    let loads = Arc::new(AtomicUsize::new(0));
    let cancelled = spawn(call(flights.clone(), loading.clone(), loads.clone()));
    let others: Vec<_> = (0..2)
        .map(|_| spawn(call(flights.clone(), loading.clone(), loads.clone())))
        .collect();
    block_on(async {
        yield_now().await;
        cancelled.abort();
        for h in others {
            assert_eq!(h.await.expect("caller task"), 7);
        }
        // Aborting takes effect at the task's next scheduling point: wait until it is gone.
        let _ = cancelled.await;
    });
    // Whatever the cancelled caller held is released: the key can be led again.
    assert!(
        matches!(flights.join("k"), Join::Leader(_)),
        "a cancelled leader left its key poisoned"
    );
}

#[test]
fn model_cancelled_leader_hands_over() {
    shuttle::check_random(a_cancelled_caller_never_strands_the_others, ITERATIONS);
    shuttle::check_pct(
        a_cancelled_caller_never_strands_the_others,
        ITERATIONS,
        PCT_DEPTH,
    );
}

/// An invalidation during a load detaches the flight: the old leader learns its value must not
/// be stored, and a caller after the invalidation never receives the old leader's value.
fn invalidation_detaches_the_flight() {
    let flights = Arc::new(SingleFlight::default());
    let Join::Leader(old) = flights.join("k") else {
        panic!("the first caller leads")
    };
    let f = flights.clone();
    let invalidator = spawn(async move { f.invalidate("k") });
    block_on(async {
        invalidator.await.expect("invalidator");
        assert!(
            old.invalidated(),
            "the old load must know it was invalidated"
        );
        let f = flights.clone();
        let after = spawn(async move {
            match f.join("k") {
                Join::Leader(guard) => {
                    yield_now().await;
                    guard.complete(Arc::new(2u32));
                    2
                }
                Join::Waiter(w) => match w.wait().await {
                    Wait::Done(o) => *o.downcast_ref::<u32>().expect("u32"),
                    Wait::LeaderGone => 0,
                },
            }
        });
        yield_now().await;
        old.complete(Arc::new(1u32));
        assert_eq!(
            after.await.expect("caller after the invalidation"),
            2,
            "a caller after the invalidation got the value loaded before it"
        );
    });
}

#[test]
fn model_invalidation_detaches_the_flight() {
    shuttle::check_random(invalidation_detaches_the_flight, ITERATIONS);
    shuttle::check_pct(invalidation_detaches_the_flight, ITERATIONS, PCT_DEPTH);
}

/// Claims the entry's refresh if nobody holds it, "reloads" across two scheduling points, and
/// fails (drops the claim): the claim must be free afterwards.
async fn refresh_that_fails(entry: Arc<L1Entry>, refreshing: Arc<AtomicUsize>) {
    if let Some(claim) = entry.claim_refresh() {
        let inside = Inside::enter(&refreshing);
        yield_now().await;
        yield_now().await;
        drop(inside);
        drop(claim);
    }
}

fn a_failed_or_cancelled_refresh_releases_its_claim() {
    let now = tick();
    let entry: Arc<L1Entry> = Arc::new(L1Entry::new(
        1u32,
        Deadlines {
            fresh_until: tick_after(now, std::time::Duration::from_secs(60)),
            stale_until: tick_after(now, std::time::Duration::from_secs(60)),
            refresh_at: Some(now),
        },
        vec![],
        1,
    ));
    let refreshing = Arc::new(AtomicUsize::new(0));
    let failing: Vec<_> = (0..2)
        .map(|_| spawn(refresh_that_fails(entry.clone(), refreshing.clone())))
        .collect();
    let cancelled = spawn(refresh_that_fails(entry.clone(), refreshing.clone()));
    block_on(async {
        yield_now().await;
        cancelled.abort();
        for h in failing {
            h.await.expect("refresh task");
        }
        let _ = cancelled.await;
    });
    assert!(
        entry.claim_refresh().is_some(),
        "a refresh that failed or was cancelled left the claim set: refresh-ahead would stop"
    );
}

#[test]
fn model_refresh_claim_is_exclusive_and_released() {
    shuttle::check_random(a_failed_or_cancelled_refresh_releases_its_claim, ITERATIONS);
    shuttle::check_pct(
        a_failed_or_cancelled_refresh_releases_its_claim,
        ITERATIONS,
        PCT_DEPTH,
    );
}
