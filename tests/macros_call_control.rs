//! Per-call control and shared errors: `layercache::refresh` / `bypass` (outermost call only,
//! cancel and panic paths), `SharedError` for errors that are not `Clone`, and the one-at-a-time
//! retries of errors that cannot be shared.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use layercache::{cached, Cache, SharedError};
use tokio::sync::Notify;

mod common;
use common::{cache, Calls};

#[cached(key = "price:<id>", cache = cache)]
async fn price(cache: &Cache, calls: &Calls, id: u64) -> u64 {
    calls.hit() as u64 * 100 + id
}

#[tokio::test]
async fn refresh_skips_the_read_loads_and_stores() {
    let (c, calls) = (cache(), Calls::default());
    assert_eq!(price(&c, &calls, 1).await, 101);
    assert_eq!(price(&c, &calls, 1).await, 101, "a hit");
    assert_eq!(layercache::refresh(price(&c, &calls, 1)).await, 201);
    assert_eq!(
        price(&c, &calls, 1).await,
        201,
        "the refreshed value was stored"
    );
    assert_eq!(calls.get(), 2);
}

#[tokio::test]
async fn bypass_skips_the_read_and_the_store() {
    let (c, calls) = (cache(), Calls::default());
    assert_eq!(price(&c, &calls, 1).await, 101);
    assert_eq!(layercache::bypass(price(&c, &calls, 1)).await, 201);
    assert_eq!(
        price(&c, &calls, 1).await,
        101,
        "the bypassed value was not stored"
    );
    assert_eq!(layercache::bypass(price(&c, &calls, 2)).await, 302);
    assert!(c.peek::<u64>("price:2").await.is_none());
}

#[cached(key = "outer:<id>", cache = cache)]
async fn outer(cache: &Cache, calls: &Calls, inner_calls: &Calls, id: u64) -> u64 {
    calls.hit();
    price(cache, inner_calls, id).await
}

#[tokio::test]
async fn only_the_outermost_call_is_affected() {
    let (c, outer_calls, inner_calls) = (cache(), Calls::default(), Calls::default());
    outer(&c, &outer_calls, &inner_calls, 1).await;
    layercache::refresh(outer(&c, &outer_calls, &inner_calls, 1)).await;
    assert_eq!(outer_calls.get(), 2, "the outer call reloaded");
    assert_eq!(inner_calls.get(), 1, "the call its body made was a hit");

    // Two outermost calls in one future: each is refreshed.
    layercache::refresh(async {
        price(&c, &inner_calls, 1).await;
        price(&c, &inner_calls, 1).await;
    })
    .await;
    assert_eq!(inner_calls.get(), 3);
}

#[cached(key = "gated:<id>", cache = cache)]
async fn gated(cache: &Cache, calls: &Calls, gate: &Notify, id: u64) -> u64 {
    calls.hit();
    gate.notified().await;
    id
}

#[tokio::test]
async fn a_cancelled_refresh_leaves_the_cached_value_and_the_key_usable() {
    let (c, calls, gate) = (cache(), Calls::default(), Notify::new());
    gate.notify_one();
    assert_eq!(gated(&c, &calls, &gate, 1).await, 1);
    // The refresh's load never finishes: cancel it.
    let cancelled = tokio::time::timeout(
        Duration::from_millis(50),
        layercache::refresh(gated(&c, &calls, &gate, 1)),
    )
    .await;
    assert!(cancelled.is_err());
    assert_eq!(calls.get(), 2, "the refresh did load");
    assert_eq!(
        gated(&c, &calls, &gate, 1).await,
        1,
        "the old value is still served"
    );
    assert_eq!(calls.get(), 2);
    // The key is not poisoned: another refresh runs a load and completes.
    gate.notify_one();
    assert_eq!(layercache::refresh(gated(&c, &calls, &gate, 1)).await, 1);
    assert_eq!(calls.get(), 3);
}

#[cached(key = "exploding:<id>", cache = cache)]
async fn exploding(cache: &Cache, calls: &Calls, id: u64) -> u64 {
    if calls.hit() == 2 {
        panic!("loader panicked");
    }
    id
}

#[tokio::test]
async fn a_panicking_refresh_leaves_the_cached_value_and_does_not_leak_the_mode() {
    let c = cache();
    let calls = Calls::default();
    assert_eq!(exploding(&c, &calls, 1).await, 1);
    let (c2, calls2) = (c.clone(), calls.clone());
    let joined =
        tokio::spawn(async move { layercache::refresh(exploding(&c2, &calls2, 1)).await }).await;
    assert!(joined.is_err_and(|e| e.is_panic()));
    // Served from the cache: the panicked refresh neither stored nor left a mode behind.
    assert_eq!(exploding(&c, &calls, 1).await, 1);
    assert_eq!(calls.get(), 2);
}

/// An error that is not `Clone`, with the one-line `#[from] SharedError` variant.
#[derive(Debug, thiserror::Error)]
enum DbError {
    #[error("database unavailable")]
    Unavailable,
    #[error(transparent)]
    Shared(#[from] SharedError),
}

#[cached(key = "failing:<id>", cache = cache)]
async fn failing(cache: &Cache, calls: &Calls, gate: &Notify, id: u64) -> Result<u64, DbError> {
    calls.hit();
    gate.notified().await;
    let _ = id;
    Err(DbError::Unavailable)
}

#[tokio::test]
async fn fifty_waiters_share_one_failed_load_through_shared_error() {
    let (c, calls, gate) = (cache(), Calls::default(), Arc::new(Notify::new()));
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (c, calls, gate) = (c.clone(), calls.clone(), gate.clone());
            tokio::spawn(async move { failing(&c, &calls, &gate, 1).await })
        })
        .collect();
    // Hold the leader until every caller has joined its flight.
    layercache_test_support::eventually(Duration::from_secs(10), "49 waiters", || async {
        c.stats().coalesced >= 49
    })
    .await;
    gate.notify_one();
    let mut shared = 0;
    for t in tasks {
        let err = t.await.expect("task").expect_err("the load failed");
        assert_eq!(err.to_string(), "database unavailable");
        shared += usize::from(matches!(err, DbError::Shared(_)));
    }
    assert_eq!(calls.get(), 1, "one loader call for 50 callers");
    assert_eq!(
        shared, 49,
        "the waiters got the leader's error as SharedError"
    );
}

/// Neither `Clone` nor `From<SharedError>`.
#[derive(Debug)]
struct Opaque;

#[cached(key = "opaque:<id>", cache = cache)]
async fn opaque(
    cache: &Cache,
    running: &AtomicUsize,
    most: &AtomicUsize,
    id: u64,
) -> Result<u64, Opaque> {
    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
    most.fetch_max(now, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(5)).await;
    running.fetch_sub(1, Ordering::SeqCst);
    let _ = id;
    Err(Opaque)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn errors_that_cannot_be_shared_are_retried_one_at_a_time() {
    let c = cache();
    let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (c, running, most) = (c.clone(), running.clone(), most.clone());
            tokio::spawn(async move { opaque(&c, &running, &most, 1).await })
        })
        .collect();
    for t in tasks {
        assert!(t.await.expect("task").is_err());
    }
    assert_eq!(
        most.load(Ordering::SeqCst),
        1,
        "never two loads of one key at once"
    );
}
