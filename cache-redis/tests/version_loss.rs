//! Issue 10 point 1: the versions that guard invalidation (tag versions, the clear generation,
//! per-key tombstones and leases) are Redis keys Redis may drop. Each test makes a real
//! redis-server lose one (`allkeys-lru` eviction forced by filling memory and checked with
//! `EXISTS`, a restart without persistence, `FLUSHALL`) and asserts: no caller error, no old value
//! on the writer's instance once its invalidation returned, and the other instances converge
//! within the deadline.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use cache_core::{Cache, EntryOptions};
use cache_redis::RedisL2;
use layercache_test_support::{eventually, namespace, RedisServer};
use parking_lot::Mutex;
use support::instances::Instance;
use tokio::sync::{Notify, Semaphore};

/// Generous: the bound the layer promises is far below this (see README, reliability).
const CONVERGE: Duration = Duration::from_secs(5);
const WAIT: Duration = Duration::from_secs(20);

/// The source of truth: one string per key.
#[derive(Clone, Default)]
struct Db(Arc<Mutex<std::collections::HashMap<String, String>>>);

impl Db {
    fn put(&self, key: &str, value: &str) {
        self.0.lock().insert(key.to_owned(), value.to_owned());
    }

    fn get(&self, key: &str) -> String {
        self.0.lock().get(key).cloned().unwrap_or_default()
    }

    /// Reads `key` through `cache` (loading from this db on a miss); a caller error fails the test.
    async fn read(&self, cache: &Cache, key: &str, opts: &EntryOptions) -> String {
        let value = self.get(key);
        cache
            .get_or_load(key, opts, || async move { Ok::<_, std::io::Error>(value) })
            .await
            .expect("a cache call never fails the caller")
    }
}

fn tagged(tag: &str) -> EntryOptions {
    EntryOptions::new()
        .ttl(Duration::from_secs(60))
        .with_tags(vec![tag.to_owned()])
}

const OPTS: EntryOptions = EntryOptions::new().ttl(Duration::from_secs(60));

/// A server that evicts any key when full (the usual cache configuration).
fn lru_server() -> RedisServer {
    RedisServer::start_with(
        &[
            "--maxmemory",
            "4mb",
            "--maxmemory-policy",
            "allkeys-lru",
            "--maxmemory-samples",
            "10",
        ],
        None,
    )
}

/// Makes Redis evict `target` and nothing else of the test: fills memory with junk until
/// `allkeys-lru` evicts the target (checked with `EXISTS`), then puts back every other key the
/// filling evicted too (`DUMP`/`RESTORE`; LRU only tells keys apart by the second) and drops the
/// junk.
async fn evict(server: &RedisServer, target: &str) {
    let client = redis::Client::open(server.url()).expect("client");
    let mut con = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut con)
        .await
        .expect("KEYS");
    let mut kept = Vec::new();
    for key in keys.into_iter().filter(|k| k != target) {
        let dump: Option<Vec<u8>> = redis::cmd("DUMP")
            .arg(&key)
            .query_async(&mut con)
            .await
            .expect("DUMP");
        let ttl: i64 = redis::cmd("PTTL")
            .arg(&key)
            .query_async(&mut con)
            .await
            .expect("PTTL");
        if let Some(dump) = dump {
            kept.push((key, dump, ttl.max(0)));
        }
    }
    let junk = vec![b'x'; 32 * 1024];
    let deadline = Instant::now() + WAIT;
    let mut junk_keys = Vec::new();
    loop {
        let exists: bool = redis::cmd("EXISTS")
            .arg(target)
            .query_async(&mut con)
            .await
            .expect("EXISTS");
        if !exists {
            break;
        }
        assert!(Instant::now() < deadline, "{target} was never evicted");
        for _ in 0..8 {
            let name = format!("junk:{}", junk_keys.len());
            let _: () = redis::cmd("SET")
                .arg(&name)
                .arg(&junk)
                .query_async(&mut con)
                .await
                .expect("SET junk");
            junk_keys.push(name);
        }
    }
    let _: () = redis::cmd("DEL")
        .arg(&junk_keys)
        .query_async(&mut con)
        .await
        .expect("DEL junk");
    for (key, dump, ttl) in kept {
        let _: redis::Value = redis::cmd("RESTORE")
            .arg(&key)
            .arg(ttl)
            .arg(dump)
            .arg("REPLACE")
            .query_async(&mut con)
            .await
            .expect("RESTORE");
    }
    let exists: bool = redis::cmd("EXISTS")
        .arg(target)
        .query_async(&mut con)
        .await
        .expect("EXISTS");
    assert!(!exists, "{target} is gone");
}

/// Every key of the server whose name contains `part`.
fn keys_containing(server: &RedisServer, part: &str) -> Vec<String> {
    server
        .cli(&["KEYS", &format!("*{part}*")])
        .lines()
        .map(str::to_owned)
        .filter(|k| !k.is_empty())
        .collect()
}

fn tag_key(ns: &str, tag: &str) -> String {
    format!("{{lc:{ns}}}:tag:{tag}")
}

fn generation_key(ns: &str) -> String {
    format!("{{lc:{ns}}}:gen")
}

/// `instance` serves `expected` for `key` within [`CONVERGE`].
async fn converges(db: &Db, instance: &Instance, key: &str, opts: &EntryOptions, what: &str) {
    let expected = db.get(key);
    eventually(CONVERGE, what, || async {
        db.read(&instance.cache, key, opts).await == expected
    })
    .await;
}

/// Writer A and another instance B (subscribed) on `server` under a fresh namespace.
async fn writer_and_other(server: &RedisServer, test: &str) -> (String, Instance, Instance) {
    let ns = namespace(test);
    let a = Instance::new(&server.url(), &ns).await;
    let b = Instance::new(&server.url(), &ns).await;
    b.subscribed().await;
    (ns, a, b)
}

#[tokio::test]
async fn an_evicted_tag_version_still_invalidates_every_instance() {
    let server = lru_server();
    let (ns, a, b) = writer_and_other(&server, "evict-tag").await;
    let db = Db::default();
    let opts = tagged("catalog");

    db.put("k", "v1");
    a.cache.invalidate_tag("catalog").await;
    assert_eq!(db.read(&b.cache, "k", &opts).await, "v1");
    assert_eq!(db.read(&a.cache, "k", &opts).await, "v1");

    evict(&server, &tag_key(&ns, "catalog")).await;

    db.put("k", "v2");
    a.cache.invalidate_tag("catalog").await;
    assert_eq!(db.read(&a.cache, "k", &opts).await, "v2", "writer stale");
    converges(&db, &b, "k", &opts, "B drops the value of the tag").await;
    // And a new instance never takes the old value from L2.
    let c = Instance::new(&server.url(), &ns).await;
    assert_eq!(db.read(&c.cache, "k", &opts).await, "v2");
}

#[tokio::test]
async fn an_evicted_tag_version_never_revives_an_old_l2_value() {
    let server = lru_server();
    let ns = namespace("evict-tag-l2");
    let a = Instance::new(&server.url(), &ns).await;
    let db = Db::default();
    let opts = tagged("catalog");

    // A value in L2 stamped with the tag's version, then the tag is invalidated: the value in
    // L2 is dead only because of the tag's version.
    db.put("k", "v1");
    assert_eq!(db.read(&a.cache, "k", &opts).await, "v1");
    db.put("k", "v2");
    a.cache.invalidate_tag("catalog").await;
    evict(&server, &tag_key(&ns, "catalog")).await;
    assert!(
        !keys_containing(&server, ":k").is_empty(),
        "the old value is still in L2"
    );

    // A new instance knows nothing of the tag but what Redis says.
    let c = Instance::new(&server.url(), &ns).await;
    assert_eq!(db.read(&c.cache, "k", &opts).await, "v2");
    assert_eq!(db.read(&a.cache, "k", &opts).await, "v2", "writer stale");
}

#[tokio::test]
async fn an_evicted_generation_never_brings_back_values_from_before_a_clear() {
    let server = lru_server();
    let (ns, a, b) = writer_and_other(&server, "evict-gen").await;
    let db = Db::default();

    db.put("k", "v1");
    assert_eq!(db.read(&a.cache, "k", &OPTS).await, "v1");
    db.put("k", "v2");
    a.cache.clear().await;
    assert_eq!(db.read(&a.cache, "k", &OPTS).await, "v2", "writer stale");
    converges(&db, &b, "k", &OPTS, "B drops what the clear dropped").await;

    evict(&server, &generation_key(&ns)).await;

    // A new instance, and the old ones, all agree on a generation after the clear.
    let c = Instance::new(&server.url(), &ns).await;
    assert_eq!(db.read(&c.cache, "k", &OPTS).await, "v2");
    // No split either: what one group invalidates, the other stops serving.
    db.put("k2", "x1");
    assert_eq!(db.read(&a.cache, "k2", &OPTS).await, "x1");
    assert_eq!(db.read(&c.cache, "k2", &OPTS).await, "x1");
    assert_eq!(db.read(&b.cache, "k2", &OPTS).await, "x1");
    db.put("k2", "x2");
    a.cache.invalidate("k2").await;
    assert_eq!(db.read(&a.cache, "k2", &OPTS).await, "x2", "writer stale");
    converges(&db, &b, "k2", &OPTS, "B drops k2").await;
    converges(&db, &c, "k2", &OPTS, "C drops k2").await;
    db.put("k2", "x3");
    c.cache.invalidate("k2").await;
    assert_eq!(db.read(&c.cache, "k2", &OPTS).await, "x3", "writer stale");
    converges(&db, &a, "k2", &OPTS, "A drops k2").await;
    converges(&db, &b, "k2", &OPTS, "B drops k2").await;
}

/// A load on B (no backplane, so nothing tells it its load was overtaken) that read the source
/// of truth before A's invalidation, and ends after the tombstone of that invalidation was
/// evicted, must not store its old value in L2 for A to read.
#[tokio::test]
async fn an_evicted_tombstone_cannot_let_a_slow_load_store_an_old_value() {
    let server = lru_server();
    let ns = namespace("evict-tomb");
    let a = Instance::new(&server.url(), &ns).await;
    let b_layer = RedisL2::builder(server.url())
        .backplane(false)
        .timeout(Duration::from_millis(100))
        .build()
        .await
        .expect("connect");
    let b = Cache::builder().namespace(&ns).l2(b_layer).build();
    let db = Db::default();
    db.put("slow", "v1");

    let started = Arc::new(Notify::new());
    let gate = Arc::new(Semaphore::new(0));
    let slow = {
        let (db, started, gate, b) = (db.clone(), started.clone(), gate.clone(), b.clone());
        tokio::spawn(async move {
            b.get_or_load("slow", &OPTS, || async move {
                let read = db.get("slow");
                started.notify_one();
                let _permit = gate.acquire().await;
                Ok::<_, std::io::Error>(read)
            })
            .await
            .expect("a cache call never fails the caller")
        })
    };
    started.notified().await;

    db.put("slow", "v2");
    a.cache.invalidate("slow").await;
    let record = keys_containing(&server, ":slow");
    assert_eq!(record.len(), 1, "one record for the key: {record:?}");
    evict(&server, &record[0]).await;

    gate.add_permits(1);
    assert_eq!(slow.await.expect("load task"), "v1");
    assert_eq!(db.read(&a.cache, "slow", &OPTS).await, "v2", "writer stale");
    // B itself keeps its load in L1 (nothing told it); L2 holds no old value for anyone.
    let c = Instance::new(&server.url(), &ns).await;
    assert_eq!(db.read(&c.cache, "slow", &OPTS).await, "v2");
}

/// What a test does to make Redis lose everything.
#[derive(Clone, Copy, Debug)]
enum Loss {
    RestartEmpty,
    FlushAll,
}

async fn versions_survive(loss: Loss) {
    let mut server = RedisServer::start();
    let (ns, a, b) = writer_and_other(&server, &format!("{loss:?}")).await;
    let db = Db::default();
    let opts = tagged("catalog");
    for _ in 0..3 {
        a.cache.invalidate_tag("catalog").await;
        a.cache.clear().await;
    }
    db.put("k", "v1");
    assert_eq!(db.read(&b.cache, "k", &opts).await, "v1");

    let reconnects = b.cache.stats().backplane_reconnects;
    match loss {
        Loss::RestartEmpty => {
            server.restart();
            eventually(WAIT, "B resubscribed", || async {
                b.cache.stats().backplane_reconnects > reconnects
            })
            .await;
        }
        Loss::FlushAll => {
            assert_eq!(server.cli(&["FLUSHALL"]), "OK");
        }
    }
    b.subscribed().await;
    a.subscribed().await;

    // B loads again after the loss (its L1 may have been dropped by the reconnect).
    assert_eq!(db.read(&b.cache, "k", &opts).await, "v1");
    db.put("k", "v2");
    a.cache.invalidate_tag("catalog").await;
    assert_eq!(db.read(&a.cache, "k", &opts).await, "v2", "writer stale");
    converges(&db, &b, "k", &opts, "B drops the tagged value").await;

    // An instance started after the loss shares one generation with the others.
    let c = Instance::new(&server.url(), &ns).await;
    c.subscribed().await;
    db.put("k2", "x1");
    for instance in [&a, &b, &c] {
        assert_eq!(db.read(&instance.cache, "k2", &OPTS).await, "x1");
    }
    db.put("k2", "x2");
    a.cache.invalidate("k2").await;
    assert_eq!(db.read(&a.cache, "k2", &OPTS).await, "x2", "writer stale");
    converges(&db, &b, "k2", &OPTS, "B drops k2").await;
    converges(&db, &c, "k2", &OPTS, "C drops k2").await;
    db.put("k2", "x3");
    c.cache.clear().await;
    assert_eq!(db.read(&c.cache, "k2", &OPTS).await, "x3", "writer stale");
    converges(&db, &a, "k2", &OPTS, "A drops what C cleared").await;
    converges(&db, &b, "k2", &OPTS, "B drops what C cleared").await;
}

#[tokio::test]
async fn versions_survive_a_restart_without_persistence() {
    versions_survive(Loss::RestartEmpty).await;
}

#[tokio::test]
async fn versions_survive_flushall() {
    versions_survive(Loss::FlushAll).await;
}
