//! Caches on a Redis that dies, freezes, restarts or misses a write: callers always get a value
//! in bounded time, the breaker opens, everything reconnects, and no old value comes back.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cache_core::EntryOptions;
use layercache_test_support::{eventually, namespace, RedisServer};
use support::instances::{Instance, Loads};

const WAIT: Duration = Duration::from_secs(10);
const OPTS: EntryOptions = EntryOptions::new().ttl(Duration::from_secs(60));
/// The timeout `Instance` gives its layer.
const L2_TIMEOUT: Duration = Duration::from_millis(100);
/// Slack for scheduling on a loaded 2-core machine.
const SLACK: Duration = Duration::from_millis(150);

#[tokio::test]
async fn server_killed_mid_load_every_call_still_succeeds() {
    let server = Arc::new(Mutex::new(RedisServer::start()));
    let url = server.lock().unwrap().url();
    let ns = namespace("kill-mid-load");
    let a = Instance::new(&url, &ns).await;

    let killer = Arc::clone(&server);
    let v: String = a
        .cache
        .get_or_load("k", &OPTS, move || async move {
            killer.lock().unwrap().kill();
            Ok::<_, std::io::Error>("loaded".to_string())
        })
        .await
        .unwrap();
    assert_eq!(v, "loaded");

    let loads = Loads::default();
    for i in 0..20u32 {
        let started = Instant::now();
        let v: u32 = a
            .cache
            .get_or_load(&format!("k{i}"), &OPTS, loads.returning(i))
            .await
            .unwrap();
        assert_eq!(v, i);
        assert!(
            started.elapsed() < L2_TIMEOUT * 2 + SLACK,
            "call {i} took {:?}",
            started.elapsed()
        );
    }
    assert_eq!(loads.count(), 20);
    assert!(a.cache.stats().l2_errors >= 1);
}

/// Calls against a frozen server: each call's duration, and the stats after them.
async fn calls_while_frozen(ns: &str) -> (Vec<Duration>, cache_core::Stats) {
    let server = RedisServer::start();
    let a = Instance::new(&server.url(), ns).await;
    let loads = Loads::default();
    let _: u32 = a
        .cache
        .get_or_load("warm", &OPTS, loads.returning(0))
        .await
        .unwrap();

    server.pause();
    let mut took = Vec::new();
    for i in 0..10u32 {
        let started = Instant::now();
        let v: u32 = a
            .cache
            .get_or_load(&format!("k{i}"), &OPTS, loads.returning(i))
            .await
            .unwrap();
        assert_eq!(v, i);
        took.push(started.elapsed());
    }
    let stats = a.cache.stats();
    server.resume();
    (took, stats)
}

#[tokio::test]
async fn a_frozen_server_opens_the_breaker_and_then_costs_nothing() {
    let (took, stats) = calls_while_frozen(&namespace("sigstop-breaker")).await;
    assert!(stats.breaker_opened >= 1, "breaker opened: {stats:?}");
    assert!(stats.l2_skipped >= 1, "then L2 was skipped: {stats:?}");
    for (i, t) in took.iter().enumerate() {
        assert!(*t <= L2_TIMEOUT * 2 + SLACK, "call {i} took {t:?}");
    }
    let after_open = &took[took.len() - 5..];
    assert!(
        after_open.iter().all(|t| *t < Duration::from_millis(20)),
        "with the breaker open a call costs only the loader: {took:?}"
    );
}

/// DESIGN §2/§6 and issue 4: "with Redis down, a call costs the loader plus at most one
/// timeout". Fails while the cache awaits the L2 write after a load whose L2 read just timed
/// out (the first call then pays two timeouts: GET and SET).
#[tokio::test]
async fn a_frozen_server_costs_at_most_one_timeout_per_call() {
    let (took, _) = calls_while_frozen(&namespace("sigstop-one-timeout")).await;
    let slowest = took.iter().max().copied().unwrap_or_default();
    assert!(
        slowest <= L2_TIMEOUT + Duration::from_millis(60),
        "a call costs the loader plus at most one L2 timeout; per call: {took:?}"
    );
}

#[tokio::test]
async fn restart_reconnects_resubscribes_and_clears_what_l1_may_have_missed() {
    let mut server = RedisServer::start();
    let ns = namespace("restart-cache");
    let a = Instance::new(&server.url(), &ns).await;
    let b = Instance::new(&server.url(), &ns).await;
    b.subscribed().await;
    let loads = Loads::default();
    let _: u32 = b
        .cache
        .get_or_load("k", &OPTS, loads.returning(1))
        .await
        .unwrap();
    assert_eq!(b.cache.l1_len(), 1);

    server.restart();
    eventually(WAIT, "B resubscribed and cleared its L1", || async {
        b.cache.stats().backplane_reconnects >= 1 && b.cache.l1_len() == 0
    })
    .await;

    // L2 hits resume: what A loads now, B reads from Redis. (A load that began before A
    // adopted the generation the restart created is not written: each attempt is a new key.)
    let attempt = std::sync::atomic::AtomicU32::new(0);
    eventually(WAIT, "A writes to L2 again", || async {
        let before = a.cache.stats().l2_writes;
        let n = attempt.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let _: u32 = a
            .cache
            .get_or_load(&format!("after:{n}"), &OPTS, loads.returning(2))
            .await
            .unwrap();
        a.cache.stats().l2_writes > before
    })
    .await;
    let written = attempt.load(std::sync::atomic::Ordering::SeqCst) - 1;
    let before = b.cache.stats().l2_hits;
    let v: u32 = b
        .cache
        .get_or_load(&format!("after:{written}"), &OPTS, loads.returning(99))
        .await
        .unwrap();
    assert_eq!(v, 2);
    assert_eq!(b.cache.stats().l2_hits, before + 1);
}

#[tokio::test]
async fn an_invalidation_during_an_outage_is_replayed_and_the_old_value_never_returns() {
    let server = RedisServer::start();
    let ns = namespace("outage-write");
    let writer = Instance::new(&server.url(), &ns).await;
    let reader = Instance::new(&server.url(), &ns).await;
    reader.subscribed().await;
    let loads = Loads::default();
    writer.read("K", &OPTS, &loads, "old").await;
    reader.read("K", &OPTS, &loads, "unused").await;

    server.pause();
    writer.cache.invalidate("K").await;
    assert!(
        writer.cache.stats().pending_invalidations >= 1,
        "delete failed: kept"
    );
    // The writer never reads the old value, not even while Redis is away.
    let v: String = writer
        .cache
        .get_or_load("K", &OPTS, loads.returning("new".to_string()))
        .await
        .unwrap();
    assert_eq!(v, "new");

    server.resume();
    eventually(WAIT, "replay done", || async {
        writer.cache.stats().pending_invalidations == 0
    })
    .await;
    assert!(writer.cache.stats().invalidations_replayed >= 1);

    // From now on nobody reads the old K from L2.
    let fresh = Instance::new(&server.url(), &ns).await;
    let v: String = fresh
        .cache
        .get_or_load("K", &OPTS, loads.returning("new".to_string()))
        .await
        .unwrap();
    assert_eq!(v, "new");
    eventually(WAIT, "the reader dropped its old copy", || async {
        reader.cache.peek::<String>("K").await.as_deref() != Some("old")
    })
    .await;
    let v: String = reader
        .cache
        .get_or_load("K", &OPTS, loads.returning("new".to_string()))
        .await
        .unwrap();
    assert_eq!(v, "new");
    let v: String = writer
        .cache
        .get_or_load("K", &OPTS, loads.returning("new".to_string()))
        .await
        .unwrap();
    assert_eq!(v, "new");
}
