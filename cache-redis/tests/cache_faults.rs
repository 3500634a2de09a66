//! Caches on a Redis that dies, freezes, restarts or misses a write: callers always get a value
//! in bounded time, the breaker opens, everything reconnects, and no old value comes back.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cache_core::EntryOptions;
use layercache_test_support::{eventually, namespace, RedisServer};
use support::instances::{Instance, Loads};

const WAIT: Duration = Duration::from_secs(10);
const OPTS: EntryOptions = EntryOptions::new().ttl(Duration::from_secs(60));

/// Loads `k{i}` (as `i`) on `a`, failing the test if the call hangs.
async fn load_within_deadline(a: &Instance, loads: &Loads, i: u32) {
    let v: u32 = tokio::time::timeout(
        WAIT,
        a.cache
            .get_or_load(&format!("k{i}"), &OPTS, loads.returning(i)),
    )
    .await
    .unwrap_or_else(|_| panic!("call {i} hung"))
    .unwrap();
    assert_eq!(v, i);
}

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
        let failures_before = a.cache.stats().l2_errors;
        load_within_deadline(&a, &loads, i).await;
        let failed = a.cache.stats().l2_errors - failures_before;
        assert!(failed <= 1, "call {i} tried L2 {failed} times");
    }
    assert_eq!(loads.count(), 20);
    let stats = a.cache.stats();
    assert!(stats.l2_errors >= 1, "{stats:?}");
    assert!(stats.breaker_opened >= 1, "{stats:?}");
}

/// What each call against a frozen server did to the L2 counters.
#[derive(Debug, Default)]
struct CallCost {
    /// L2 operations that failed (here: timed out) during the call.
    l2_failures: u64,
    /// L2 operations the open breaker skipped during the call.
    l2_skipped: u64,
}

/// Ten calls against a frozen server (a breaker that stays open once it opens): each call's
/// cost, and the stats after them.
async fn calls_while_frozen(ns: &str) -> (Vec<CallCost>, cache_core::Stats) {
    let server = RedisServer::start();
    let a = Instance::with_layer(
        &server.url(),
        ns,
        |l| l.breaker(3, Duration::from_secs(3600)),
        |c| c,
    )
    .await;
    let loads = Loads::default();
    let _: u32 = a
        .cache
        .get_or_load("warm", &OPTS, loads.returning(0))
        .await
        .unwrap();

    server.pause();
    let mut costs = Vec::new();
    for i in 0..10u32 {
        let before = a.cache.stats();
        load_within_deadline(&a, &loads, i).await;
        let after = a.cache.stats();
        costs.push(CallCost {
            l2_failures: after.l2_errors - before.l2_errors,
            l2_skipped: after.l2_skipped - before.l2_skipped,
        });
    }
    let stats = a.cache.stats();
    server.resume();
    (costs, stats)
}

#[tokio::test]
async fn a_frozen_server_opens_the_breaker_and_then_costs_nothing() {
    let (costs, stats) = calls_while_frozen(&namespace("sigstop-breaker")).await;
    assert_eq!(stats.breaker_opened, 1, "breaker opened: {stats:?}");
    assert_eq!(stats.l2_errors, 3, "three timeouts open it: {stats:?}");
    for (i, cost) in costs.iter().enumerate().skip(3) {
        assert_eq!(
            cost.l2_failures, 0,
            "call {i}: with the breaker open a call costs only the loader: {costs:?}"
        );
        assert!(cost.l2_skipped >= 1, "call {i} skipped L2: {costs:?}");
    }
}

/// DESIGN §2/§6 and issue 4: "with Redis down, a call costs the loader plus at most one
/// timeout": a load whose L2 read just timed out does not wait for an L2 write as well.
#[tokio::test]
async fn a_frozen_server_costs_at_most_one_timeout_per_call() {
    let (costs, _) = calls_while_frozen(&namespace("sigstop-one-timeout")).await;
    for (i, cost) in costs.iter().enumerate() {
        assert!(
            cost.l2_failures <= 1,
            "call {i} waited on {} L2 timeouts: {costs:?}",
            cost.l2_failures
        );
    }
    assert_eq!(
        costs[0].l2_failures, 1,
        "the first call tried L2: {costs:?}"
    );
}

#[tokio::test]
async fn restart_reconnects_resubscribes_and_clears_what_l1_may_have_missed() {
    let mut server = RedisServer::start();
    let ns = namespace("restart-cache");
    let (a, b) = Instance::pair(&server.url(), &ns).await;
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
    let (writer, reader) = Instance::pair(&server.url(), &ns).await;
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
