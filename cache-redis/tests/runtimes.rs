//! A layer outlives the tokio runtime that built it: calls from another runtime keep working and
//! its backplane keeps receiving.

use std::time::Duration;

use cache_core::{Invalidation, InvalidationMessage, L2};
use cache_redis::RedisL2;
use layercache_test_support::{eventually, namespace, Recorder, RedisServer};

const WAIT: Duration = Duration::from_secs(5);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn a_layer_built_in_one_runtime_serves_another_after_the_first_shut_down() {
    let server = RedisServer::start();
    let ns = namespace("runtimes");
    let key = "k".to_owned();
    let events = Recorder::new();

    let first = runtime();
    let layer = first.block_on(async {
        let layer = RedisL2::connect(server.url()).await.expect("connect");
        layer.attach(&ns, 1, events.clone());
        layer
            .set(&key, b"from-first".to_vec(), Duration::from_secs(60))
            .await
            .unwrap();
        eventually(WAIT, "subscribed", || async { layer.backplane_connected() }).await;
        layer
    });
    first.shutdown_timeout(Duration::from_secs(1));

    let second = runtime();
    second.block_on(async {
        assert_eq!(
            layer.get(&key).await.unwrap().as_deref(),
            Some(&b"from-first"[..])
        );
        layer
            .set(&key, b"from-second".to_vec(), Duration::from_secs(60))
            .await
            .unwrap();
        assert!(layer.backplane_connected());

        // Another instance, built in this runtime, publishes: the first layer still hears it.
        let other = RedisL2::connect(server.url()).await.unwrap();
        other.attach(&ns, 2, Recorder::new());
        let message = InvalidationMessage {
            origin: 2,
            invalidation: Invalidation::Key(key.clone()),
        };
        other.publish(&message).await.unwrap();
        eventually(WAIT, "first layer's backplane still receives", || async {
            events.messages().contains(&message)
        })
        .await;
    });
    drop(second);

    // And from a multi-threaded runtime, concurrently.
    let third = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    third.block_on(async {
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let layer = layer.clone();
                let key = key.clone();
                tokio::spawn(async move { layer.get(&key).await.unwrap() })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap().as_deref(), Some(&b"from-second"[..]));
        }
    });
}

#[test]
fn a_reconnect_made_in_a_runtime_that_then_dies_does_not_break_the_layer() {
    let mut server = RedisServer::start();
    let ns = namespace("runtimes-reconnect");
    let key = "k".to_owned();
    let layer = runtime().block_on(async {
        let layer = RedisL2::builder(server.url())
            .connect_timeout(Duration::from_millis(300))
            .build()
            .await
            .unwrap();
        layer.attach(&ns, 1, Recorder::new());
        layer
    });

    server.restart();
    // This runtime's call triggers the reconnect; then the runtime goes away.
    let reconnecting = runtime();
    reconnecting.block_on(async {
        eventually(WAIT, "reconnected", || async {
            layer
                .set(&key, b"v".to_vec(), Duration::from_secs(60))
                .await
                .is_ok()
        })
        .await;
    });
    drop(reconnecting);

    runtime().block_on(async {
        assert_eq!(layer.get(&key).await.unwrap().as_deref(), Some(&b"v"[..]));
    });
}

/// A cache outlives the runtime of its first callers (a globally installed cache, or one built in
/// a `#[tokio::test]`). Its background replay of failed invalidations must too: issue 4 says an
/// invalidation that failed during an outage reaches L2 when Redis is back, even when no call
/// touches L2 afterwards. Guards against the "a retry task is running" flag staying set when
/// that task's runtime shuts down with it (then no later outage would be replayed).
#[test]
fn replay_of_failed_invalidations_survives_the_runtime_that_started_it() {
    use cache_core::{Cache, EntryOptions};
    const OPTS: EntryOptions = EntryOptions::new().ttl(Duration::from_secs(60));

    let server = RedisServer::start();
    let ns = namespace("runtimes-replay");
    // A long health interval: the backplane must not notice the short pauses, so nothing but
    // the cache's own retry task can replay.
    let layer_for = |url: String| async move {
        RedisL2::builder(url)
            .timeout(Duration::from_millis(100))
            .breaker(100, Duration::from_millis(50))
            .health_interval(Duration::from_secs(60))
            .build()
            .await
            .unwrap()
    };
    let first = runtime();
    let writer = first.block_on(async {
        let cache = Cache::builder()
            .namespace(ns.as_str())
            .l2(layer_for(server.url()).await)
            .build();
        let _: String = cache
            .get_or_load("A", &OPTS, || async { Ok::<_, std::io::Error>("a".into()) })
            .await
            .unwrap();
        server.pause();
        cache.invalidate("A").await;
        cache
    });
    // The retry task started above dies with this runtime, Redis still paused.
    first.shutdown_timeout(Duration::from_secs(1));
    server.resume();

    let second = runtime();
    second.block_on(async {
        // Recovers here: the next L2 call starts the background replay of "A" (never inline).
        let _: String = writer
            .get_or_load("K", &OPTS, || async {
                Ok::<_, std::io::Error>("old".into())
            })
            .await
            .unwrap();
        eventually(WAIT, "A replayed in the background", || async {
            writer.stats().pending_invalidations == 0
        })
        .await;
        // K's first load skipped L2 while A was pending: store K in L2 now.
        writer.invalidate("K").await;
        let _: String = writer
            .get_or_load("K", &OPTS, || async {
                Ok::<_, std::io::Error>("old".into())
            })
            .await
            .unwrap();

        // A second outage: "K" is invalidated while Redis is paused, then nothing touches L2.
        server.pause();
        writer.invalidate("K").await;
        server.resume();
        eventually(
            WAIT,
            "the failed delete of K is replayed in the background",
            || async { writer.stats().pending_invalidations == 0 },
        )
        .await;
        let reader = Cache::builder()
            .namespace(ns.as_str())
            .l2(layer_for(server.url()).await)
            .build();
        let v: String = reader
            .get_or_load("K", &OPTS, || async {
                Ok::<_, std::io::Error>("new".into())
            })
            .await
            .unwrap();
        assert_eq!(v, "new", "the old K came back from L2");
    });
}

/// A caller's runtime gets a connection of its own (its driver runs next to the callers, with
/// no hop to the layer's thread), opened on its first call; when that runtime shuts down, the
/// connection closes and the layer serves the next runtime as before.
#[test]
fn a_callers_runtime_gets_its_own_connection_until_it_shuts_down() {
    let server = RedisServer::start();
    let ns = namespace("runtimes-own");
    let key = "k".to_owned();
    let layer = runtime().block_on(async {
        let layer = RedisL2::builder(server.url())
            .backplane(false)
            .build()
            .await
            .unwrap();
        layer.attach(&ns, 1, Recorder::new());
        // The layer's own connection and redis-cli.
        eventually(WAIT, "only the layer's connection", || async {
            server.connected_clients() == 2
        })
        .await;
        layer
    });

    let callers = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    callers.block_on(async {
        layer
            .set(&key, b"v".to_vec(), Duration::from_secs(60))
            .await
            .unwrap();
        eventually(WAIT, "this runtime's own connection", || async {
            server.connected_clients() == 3
        })
        .await;
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let (layer, key) = (layer.clone(), key.clone());
                tokio::spawn(async move { layer.get(&key).await.unwrap() })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap().as_deref(), Some(&b"v"[..]));
        }
        assert_eq!(server.connected_clients(), 3, "16 callers, one connection");
    });
    callers.shutdown_timeout(Duration::from_secs(1));

    runtime().block_on(async {
        eventually(WAIT, "the dead runtime's connection closed", || async {
            server.connected_clients() == 2
        })
        .await;
        assert_eq!(layer.get(&key).await.unwrap().as_deref(), Some(&b"v"[..]));
    });
}
