//! One bad key never turns L2 off: a server error about one key (wrong type, a record that does
//! not parse) is a miss or a failed write for that key, counted in `l2_refused`, and never opens
//! the breaker, so every other key keeps being served from Redis.

mod support;

use std::time::Duration;

use cache_core::EntryOptions;
use layercache_test_support::{namespace, RedisServer};
use support::instances::{Instance, Loads};

const OPTS: EntryOptions = EntryOptions::new().ttl(Duration::from_secs(60));

/// Stores `value` under `key` through `writer`, so `reader` finds it in L2 only.
async fn in_l2_only(writer: &Instance, key: &str, value: &str) {
    let loads = Loads::default();
    assert_eq!(writer.read(key, &OPTS, &loads, value).await, value);
}

/// Reads `key` on `reader` (which never loaded it) and says whether it came from L2.
async fn served_from_l2(reader: &Instance, key: &str) -> bool {
    let hits = reader.cache.stats().l2_hits;
    let loads = Loads::default();
    let value = reader.read(key, &OPTS, &loads, "loaded").await;
    value != "loaded" && reader.cache.stats().l2_hits == hits + 1
}

#[tokio::test]
async fn a_list_under_one_key_is_a_miss_for_that_key_and_never_opens_the_breaker() {
    let server = RedisServer::start();
    let ns = namespace("wrongtype");
    let writer = Instance::new(&server.url(), &ns).await;
    let reader = Instance::new(&server.url(), &ns).await;
    for i in 0..3 {
        in_l2_only(&writer, &format!("healthy{i}"), "from-l2").await;
    }
    // The value of `ns:bad` lives at `ns:@:bad`.
    server.cli(&["RPUSH", &format!("{ns}:@:bad"), "a", "b"]);

    let loads = Loads::default();
    for i in 0..10 {
        let value = reader.read("bad", &OPTS.l1(false), &loads, "fresh").await;
        assert_eq!(value, "fresh", "read {i}: the loader's value");
    }
    assert_eq!(loads.count(), 10, "every read of the bad key loads");
    let s = reader.cache.stats();
    assert_eq!(
        s.breaker_opened, 0,
        "a per-key error opened the breaker: {s:?}"
    );
    assert!(s.l2_refused >= 10, "refusals are counted: {s:?}");
    for i in 0..3 {
        assert!(
            served_from_l2(&reader, &format!("healthy{i}")).await,
            "healthy key {i} still comes from L2: {:?}",
            reader.cache.stats()
        );
    }
    // Invalidating the bad key neither fails nor turns L2 off for the writer.
    writer.cache.invalidate("bad").await;
    in_l2_only(&reader, "after", "from-l2").await;
    assert!(
        served_from_l2(&writer, "after").await,
        "{:?}",
        writer.cache.stats()
    );
    assert_eq!(writer.cache.stats().breaker_opened, 0);
}

#[tokio::test]
async fn garbage_in_every_kind_of_key_never_opens_the_breaker() {
    let server = RedisServer::start();
    let ns = namespace("garbage");
    let writer = Instance::new(&server.url(), &ns).await;
    let reader = Instance::new(&server.url(), &ns).await;
    let slot = format!("{{lc:{ns}}}");
    // Value records: a foreign string and a hash; a lock that is a list without a TTL; a tag
    // counter that is not a number.
    server.cli(&["SET", &format!("{ns}:@:text"), "not-a-record"]);
    server.cli(&["HSET", &format!("{ns}:@:hash"), "f", "v"]);
    server.cli(&["RPUSH", &format!("{ns}:@lock:locked"), "x"]);
    server.cli(&["SET", &format!("{slot}:tag:t"), "not-a-number"]);

    let tagged = OPTS.with_tags(vec!["t".into()]);
    let locked = OPTS.lock(true).l1(false);
    let loads = Loads::default();
    for round in 0..5 {
        for (key, opts) in [("text", &OPTS), ("hash", &OPTS), ("tagged", &tagged)] {
            let value = reader.read(key, &opts.clone().l1(false), &loads, "v").await;
            assert_eq!(value, "v", "round {round}, key {key}");
        }
        let value = reader.read("locked", &locked, &loads, "v").await;
        assert_eq!(value, "v", "round {round}, locked key");
        writer.cache.invalidate_tag("t").await;
        writer.cache.invalidate("hash").await;
    }
    for (name, instance) in [("reader", &reader), ("writer", &writer)] {
        let s = instance.cache.stats();
        assert_eq!(s.breaker_opened, 0, "{name}: {s:?}");
        assert_eq!(s.pending_invalidations, 0, "{name}: nothing stuck: {s:?}");
    }
    let s = reader.cache.stats();
    assert!(
        s.l2_refused >= 1,
        "the hash under a value key is refused: {s:?}"
    );
    // Healthy keys still travel through L2, to and from both instances.
    in_l2_only(&reader, "healthy", "from-l2").await;
    assert!(
        served_from_l2(&writer, "healthy").await,
        "{:?}",
        writer.cache.stats()
    );
}
