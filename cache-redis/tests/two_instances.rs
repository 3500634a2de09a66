//! Two `Cache` instances sharing one Redis: what one loads the other serves, what one
//! invalidates the other drops, and what cannot be decoded is a counted miss that gets replaced.

mod support;

use std::time::Duration;

use cache_core::{Codec, EntryOptions};
use layercache_test_support::{eventually, namespace, RedisServer};
use support::instances::{Instance, Loads};

const WAIT: Duration = Duration::from_secs(5);
const OPTS: EntryOptions = EntryOptions::new().ttl(Duration::from_secs(60));

#[tokio::test]
async fn b_serves_what_a_loaded_without_running_its_loader() {
    let server = RedisServer::start();
    let ns = namespace("share");
    let a = Instance::new(&server.url(), &ns).await;
    let b = Instance::new(&server.url(), &ns).await;
    let (a_loads, b_loads) = (Loads::default(), Loads::default());

    let v: String = a
        .cache
        .get_or_load("product:7", &OPTS, a_loads.returning("lamp".to_string()))
        .await
        .unwrap();
    assert_eq!(v, "lamp");
    let v: String = b
        .cache
        .get_or_load("product:7", &OPTS, b_loads.returning("other".to_string()))
        .await
        .unwrap();
    assert_eq!(v, "lamp");
    assert_eq!((a_loads.count(), b_loads.count()), (1, 0));
    let stats = b.cache.stats();
    assert_eq!(stats.l2_hits, 1);
    assert_eq!(stats.loads, 0);
    // Now in B's L1.
    b.read("product:7", &OPTS, &b_loads, "other").await;
    assert_eq!(b.cache.stats().l1_hits, 1);
}

#[tokio::test]
async fn a_key_invalidation_reaches_b_within_a_deadline() {
    let server = RedisServer::start();
    let ns = namespace("inv-key");
    let (a, b) = Instance::pair(&server.url(), &ns).await;
    let loads = Loads::default();
    a.read("k", &OPTS, &loads, "old").await;
    b.read("k", &OPTS, &loads, "unused").await;
    assert_eq!(b.cache.l1_len(), 1);

    a.cache.invalidate("k").await;
    eventually(WAIT, "B dropped k from L1", || async {
        b.cache.l1_len() == 0
    })
    .await;
    let v: String = b
        .cache
        .get_or_load("k", &OPTS, loads.returning("new".to_string()))
        .await
        .unwrap();
    assert_eq!(v, "new", "neither L1 nor L2 kept the old value");
    assert_eq!(b.cache.stats().invalidations_received, 1);
    assert_eq!(
        a.cache.stats().invalidations_received,
        0,
        "own message ignored"
    );
}

#[tokio::test]
async fn a_tag_invalidation_reaches_b_within_a_deadline() {
    let server = RedisServer::start();
    let ns = namespace("inv-tag");
    let (a, b) = Instance::pair(&server.url(), &ns).await;
    let tagged = OPTS.clone().with_tags(vec!["catalog".into()]);
    let loads = Loads::default();
    for i in 0..3 {
        let _: u32 = a
            .cache
            .get_or_load(&format!("p:{i}"), &tagged, loads.returning(i))
            .await
            .unwrap();
        let _: u32 = b
            .cache
            .get_or_load(&format!("p:{i}"), &tagged, loads.returning(99))
            .await
            .unwrap();
    }
    let _: u32 = b
        .cache
        .get_or_load("untagged", &OPTS, loads.returning(5))
        .await
        .unwrap();
    assert_eq!(loads.count(), 4);

    a.cache.invalidate_tag("catalog").await;
    eventually(WAIT, "B misses every tagged entry", || async {
        b.cache.peek::<u32>("p:0").await.is_none()
    })
    .await;
    for i in 0..3 {
        let v: u32 = b
            .cache
            .get_or_load(&format!("p:{i}"), &tagged, loads.returning(100 + i))
            .await
            .unwrap();
        assert_eq!(v, 100 + i);
    }
    assert_eq!(b.cache.peek::<u32>("untagged").await, Some(5));
}

#[tokio::test]
async fn a_clear_reaches_b_within_a_deadline() {
    let server = RedisServer::start();
    let ns = namespace("inv-clear");
    let (a, b) = Instance::pair(&server.url(), &ns).await;
    let loads = Loads::default();
    for i in 0..5u32 {
        let _: u32 = a
            .cache
            .get_or_load(&format!("k{i}"), &OPTS, loads.returning(i))
            .await
            .unwrap();
        let _: u32 = b
            .cache
            .get_or_load(&format!("k{i}"), &OPTS, loads.returning(i))
            .await
            .unwrap();
    }
    assert_eq!(b.cache.l1_len(), 5);

    a.cache.clear().await;
    eventually(WAIT, "B's L1 emptied", || async { b.cache.l1_len() == 0 }).await;
    for i in 0..5u32 {
        assert_eq!(b.cache.peek::<u32>(&format!("k{i}")).await, None);
    }
    // A fresh instance sees the cleared namespace too.
    let c = Instance::new(&server.url(), &ns).await;
    assert_eq!(c.cache.peek::<u32>("k0").await, None);
}

#[tokio::test]
async fn a_value_written_with_another_codec_is_a_counted_miss_then_overwritten() {
    let server = RedisServer::start();
    let ns = namespace("codec");
    let json = Instance::with(&server.url(), &ns, |b| b.codec(Codec::Json)).await;
    let bincode = Instance::with(&server.url(), &ns, |b| b.codec(Codec::Bincode)).await;
    let loads = Loads::default();

    json.read("k", &OPTS, &loads, "from-json").await;
    let v: String = bincode
        .cache
        .get_or_load("k", &OPTS, loads.returning("from-bincode".to_string()))
        .await
        .unwrap();
    assert_eq!(v, "from-bincode");
    assert_eq!(bincode.cache.stats().decode_errors, 1);
    assert_eq!(loads.count(), 2);

    // The bincode value replaced it: another bincode instance gets an L2 hit.
    let other = Instance::with(&server.url(), &ns, |b| b.codec(Codec::Bincode)).await;
    let v: String = other
        .cache
        .get_or_load("k", &OPTS, loads.returning("unused".to_string()))
        .await
        .unwrap();
    assert_eq!(v, "from-bincode");
    assert_eq!(other.cache.stats().l2_hits, 1);
    assert_eq!(other.cache.stats().decode_errors, 0);
}

#[tokio::test]
async fn corrupt_bytes_in_redis_are_a_counted_miss_then_overwritten() {
    let server = RedisServer::start();
    let ns = namespace("corrupt");
    let a = Instance::new(&server.url(), &ns).await;
    let loads = Loads::default();
    let redis_key = format!("{ns}:@:k");
    for garbage in [
        &b"\x00\xffnot an envelope"[..],
        b"LC\x01",
        b"",
        b"LC\x01\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff",
    ] {
        server.raw(&[b"SET", redis_key.as_bytes(), garbage]);
        a.cache.invalidate("k").await;
        server.raw(&[b"SET", redis_key.as_bytes(), garbage]);
        let before = a.cache.stats().decode_errors;
        let v: String = a
            .cache
            .get_or_load("k", &OPTS, loads.returning("fresh".to_string()))
            .await
            .unwrap();
        assert_eq!(v, "fresh");
        assert_eq!(a.cache.stats().decode_errors, before + 1, "garbage {garbage:?}");
    }
    let stored = server.raw(&[b"GET", redis_key.as_bytes()]);
    assert!(
        stored.windows(2).any(|w| w == b"LC"),
        "overwritten with an envelope"
    );
    let b = Instance::new(&server.url(), &ns).await;
    let v: String = b
        .cache
        .get_or_load("k", &OPTS, loads.returning("unused".to_string()))
        .await
        .unwrap();
    assert_eq!(v, "fresh");
    assert_eq!(b.cache.stats().l2_hits, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_load_that_read_the_source_before_an_invalidation_elsewhere_cannot_store_it() {
    let server = RedisServer::start();
    let ns = namespace("load-race");
    // No backplane for A: only the key's version in Redis can stop its write.
    let a_layer = cache_redis::RedisL2::builder(server.url())
        .backplane(false)
        .build()
        .await
        .unwrap();
    let a = Instance {
        cache: cache_core::Cache::builder()
            .namespace(ns.as_str())
            .l2(a_layer.clone())
            .build(),
        layer: a_layer,
    };
    let writer = Instance::new(&server.url(), &ns).await;
    let (read_source, source_read) = tokio::sync::oneshot::channel::<()>();
    let (release, released) = tokio::sync::oneshot::channel::<()>();

    let slow_load = {
        let cache = a.cache.clone();
        tokio::spawn(async move {
            cache
                .get_or_load("K", &OPTS, || async move {
                    let old = "old".to_string(); // read from the source of truth
                    let _ = read_source.send(());
                    let _ = released.await;
                    Ok::<_, std::io::Error>(old)
                })
                .await
        })
    };
    source_read.await.unwrap();
    // Another instance writes the source and invalidates K, while A's load is in flight.
    writer.cache.invalidate("K").await;
    release.send(()).unwrap();
    assert_eq!(slow_load.await.unwrap().unwrap(), "old");

    let loads = Loads::default();
    let fresh = Instance::new(&server.url(), &ns).await;
    let v: String = fresh
        .cache
        .get_or_load("K", &OPTS, loads.returning("new".to_string()))
        .await
        .unwrap();
    assert_eq!(v, "new", "the old value did not reach L2");
    assert_eq!(loads.count(), 1);
}

/// The Redis layout of a namespaced cache's keys is pinned: the namespace (applied by the layer,
/// not part of the cache's key) then `@:` for a value, `@lock:` for a lock, exactly as in the
/// releases whose cache keys held the namespace, so an upgrade starts warm.
#[tokio::test]
async fn a_namespaced_cache_stores_under_the_same_redis_keys_as_before() {
    let server = RedisServer::start();
    let ns = namespace("layout");
    let a = Instance::new(&server.url(), &ns).await;
    let loads = Loads::default();
    assert_eq!(a.cache.key("product:7").as_str(), "product:7");
    a.read("product:7", &OPTS, &loads, "lamp").await;
    let value_key = format!("{ns}:@:product:7");
    assert_eq!(server.cli(&["EXISTS", &value_key]), "1");
    assert_eq!(cache_core::L2::stored_key(&a.layer, "product:7"), value_key);
    let in_redis = server.cli(&["--scan", "--pattern", &format!("{ns}:*")]);
    assert_eq!(
        in_redis.trim(),
        value_key,
        "nothing else under the namespace"
    );

    let lock_key = format!("{ns}:@lock:product:8");
    let held_while_loading: String = a
        .cache
        .get_or_load("product:8", &OPTS.lock(true), || async {
            Ok::<_, String>(server.cli(&["EXISTS", &lock_key]))
        })
        .await
        .unwrap();
    assert_eq!(held_while_loading, "1", "the lock lives at {lock_key}");
    assert_eq!(server.cli(&["EXISTS", &lock_key]), "0", "released");

    // A long key is bounded as stored, `ns:` included: Redis gets `ns:@:` and 1024 - `ns:` bytes
    // (the rule is unchanged, so its hash names the same Redis key as before too).
    let long = "x".repeat(2000);
    a.read(&long, &OPTS, &loads, "long").await;
    let stored = server.cli(&["--scan", "--pattern", &format!("{ns}:@:xxx*")]);
    let stored = stored.trim();
    assert_eq!(stored.len(), 1024 + "@:".len(), "{stored}");
    assert_eq!(
        cache_core::L2::stored_key(&a.layer, a.cache.key(&long).as_str()),
        stored
    );
}
