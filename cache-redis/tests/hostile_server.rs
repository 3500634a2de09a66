//! A Redis that answers with errors or drops connections: every call still succeeds from the
//! loader, and the failures are counted.

mod support;

use std::time::Duration;

use cache_core::EntryOptions;
use layercache_test_support::{eventually, namespace, RedisServer};
use support::instances::{Instance, Loads};

const OPTS: EntryOptions = EntryOptions::new().ttl(Duration::from_secs(60));

#[tokio::test]
async fn out_of_memory_errors_degrade_to_the_loader_and_are_counted() {
    // `maxmemory 1` with `noeviction`: every write is refused with "OOM command not allowed".
    let server = RedisServer::start_with(
        &["--maxmemory", "1", "--maxmemory-policy", "noeviction"],
        None,
    );
    let a = Instance::new(&server.url(), &namespace("oom")).await;
    let refused = server.cli(&["SET", "probe", "x"]);
    assert!(
        refused.contains("OOM"),
        "the server refuses writes: {refused}"
    );

    let loads = Loads::default();
    for i in 0..5u32 {
        let v: u32 = a
            .cache
            .get_or_load(&format!("k{i}"), &OPTS, loads.returning(i))
            .await
            .unwrap();
        assert_eq!(v, i);
    }
    assert_eq!(loads.count(), 5);
    let s = a.cache.stats();
    assert!(s.l2_refused >= 5, "refused writes are counted: {s:?}");
    assert_eq!(s.l2_writes, 0);
    // The server answers: a refused write is about that write, not a reason to skip Redis.
    assert_eq!(s.breaker_opened, 0, "{s:?}");
    // An invalidation the server refuses is kept for replay, and the writer's instance
    // does not serve the old value meanwhile.
    a.cache.invalidate("k0").await;
    let s = a.cache.stats();
    assert!(s.pending_invalidations >= 1, "kept for replay: {s:?}");
    let v: u32 = a
        .cache
        .get_or_load("k0", &OPTS, loads.returning(100))
        .await
        .unwrap();
    assert_eq!(v, 100);
    // Once the server takes writes again, the invalidation is replayed.
    server.cli(&["CONFIG", "SET", "maxmemory", "0"]);
    eventually(
        Duration::from_secs(10),
        "the invalidation replayed",
        || async { a.cache.stats().pending_invalidations == 0 },
    )
    .await;
    let s = a.cache.stats();
    assert!(s.invalidations_replayed >= 1, "{s:?}");
}

#[tokio::test]
async fn connections_killed_by_the_server_degrade_and_recover() {
    let server = RedisServer::start();
    let a = Instance::new(&server.url(), &namespace("client-kill")).await;
    let loads = Loads::default();
    for round in 0..5u32 {
        // Drop every client connection, including the multiplexed one and the subscriber.
        server.cli(&["CLIENT", "KILL", "TYPE", "normal"]);
        server.cli(&["CLIENT", "KILL", "TYPE", "pubsub"]);
        let v: u32 = a
            .cache
            .get_or_load(&format!("r{round}"), &OPTS, loads.returning(round))
            .await
            .unwrap();
        assert_eq!(v, round, "every call succeeds");
    }
    // The layer reconnects by itself: L2 writes resume.
    eventually(
        Duration::from_secs(10),
        "L2 writes resume after the kills",
        || async {
            let key = format!("after{}", loads.count());
            let _: u32 = a
                .cache
                .get_or_load(&key, &OPTS, loads.returning(1))
                .await
                .unwrap();
            a.cache.stats().l2_writes > 0
        },
    )
    .await;
}
