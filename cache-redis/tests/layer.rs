//! The layer through the `L2` trait against one real redis-server: values, TTLs, size limit,
//! generations, tags, locks, namespaces, and the end of its background work on drop.

use std::sync::Arc;
use std::time::Duration;

use cache_core::{Invalidation, InvalidationMessage, L2Error, L2};
use cache_redis::RedisL2;
use layercache_test_support::{eventually, namespace, Recorder, RedisServer};

const WAIT: Duration = Duration::from_secs(5);

async fn attached(server: &RedisServer, ns: &str, id: u64) -> (RedisL2, Arc<Recorder>) {
    let layer = RedisL2::connect(server.url()).await.expect("connect");
    let recorder = Recorder::new();
    layer.attach(ns, id, recorder.clone());
    (layer, recorder)
}

async fn subscribed(layer: &RedisL2) {
    eventually(WAIT, "backplane subscribed", || async {
        layer.backplane_connected()
    })
    .await;
}

/// A writes `old` under `k` while B (subscribed, its events recorded) shares the namespace.
async fn two_sharing_old_value(
    server: &RedisServer,
    ns: &str,
) -> (RedisL2, RedisL2, Arc<Recorder>, String) {
    let (a, _) = attached(server, ns, 1).await;
    let (b, b_events) = attached(server, ns, 2).await;
    subscribed(&b).await;
    let key = "k".to_owned();
    a.set(&key, b"old".to_vec(), Duration::from_secs(60))
        .await
        .unwrap();
    (a, b, b_events, key)
}

fn clear_message(origin: u64) -> InvalidationMessage {
    InvalidationMessage {
        origin,
        invalidation: Invalidation::Clear,
    }
}

#[tokio::test]
async fn get_set_delete_round_trip() {
    let server = RedisServer::start();
    let ns = namespace("crud");
    let (layer, _) = attached(&server, &ns, 1).await;
    let key = "product:7".to_owned();

    assert_eq!(layer.get(&key).await.unwrap(), None);
    layer
        .set(
            &key,
            b"\x00binary\xffvalue".to_vec(),
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    assert_eq!(
        layer.get(&key).await.unwrap().as_deref(),
        Some(&b"\x00binary\xffvalue"[..])
    );
    layer.delete(&key).await.unwrap();
    assert_eq!(layer.get(&key).await.unwrap(), None);
    // Deleting what is not there is fine.
    layer.delete(&key).await.unwrap();
}

#[tokio::test]
async fn a_delete_moves_the_version_so_an_older_load_cannot_store() {
    let server = RedisServer::start();
    let ns = namespace("versions");
    let (layer, _) = attached(&server, &ns, 1).await;
    let key = "k".to_owned();
    let ttl = Duration::from_secs(60);

    let (value, v0) = layer.get_versioned(&key).await.unwrap();
    assert_eq!(value, None);
    assert!(layer
        .set_if_version(&key, b"a".to_vec(), ttl, v0)
        .await
        .unwrap());
    assert_eq!(
        layer.get_versioned(&key).await.unwrap(),
        (Some(b"a".to_vec()), v0)
    );

    // A load began at v0; the key is invalidated meanwhile: its value is refused.
    layer.delete(&key).await.unwrap();
    let (value, v1) = layer.get_versioned(&key).await.unwrap();
    assert_eq!(value, None);
    assert_ne!(v1, v0);
    assert!(!layer
        .set_if_version(&key, b"old".to_vec(), ttl, v0)
        .await
        .unwrap());
    assert_eq!(layer.get(&key).await.unwrap(), None);
    // A load that began after the delete stores.
    assert!(layer
        .set_if_version(&key, b"new".to_vec(), ttl, v1)
        .await
        .unwrap());
    // A plain write (a write-through) moves the version: a load that began before it cannot
    // overwrite it.
    layer.set(&key, b"set".to_vec(), ttl).await.unwrap();
    let (value, v2) = layer.get_versioned(&key).await.unwrap();
    assert_eq!(value, Some(b"set".to_vec()));
    assert_ne!(v2, v1);
    assert!(!layer
        .set_if_version(&key, b"older".to_vec(), ttl, v1)
        .await
        .unwrap());
    // Deleting an absent key moves its version too.
    let other = "absent".to_owned();
    let (_, a0) = layer.get_versioned(&other).await.unwrap();
    layer.delete(&other).await.unwrap();
    assert!(!layer
        .set_if_version(&other, b"x".to_vec(), ttl, a0)
        .await
        .unwrap());
}

#[tokio::test]
async fn a_clear_refuses_values_loaded_before_it() {
    let server = RedisServer::start();
    let ns = namespace("versions-clear");
    let (layer, _) = attached(&server, &ns, 1).await;
    let key = "k".to_owned();
    let ttl = Duration::from_secs(60);
    let (_, before) = layer.get_versioned(&key).await.unwrap();
    layer.clear().await.unwrap();
    assert!(!layer
        .set_if_version(&key, b"old".to_vec(), ttl, before)
        .await
        .unwrap());
    let (_, after) = layer.get_versioned(&key).await.unwrap();
    assert!(layer
        .set_if_version(&key, b"new".to_vec(), ttl, after)
        .await
        .unwrap());
}

#[tokio::test]
async fn tombstones_expire_after_their_ttl() {
    let server = RedisServer::start();
    let ns = namespace("tombstone");
    let layer = RedisL2::builder(server.url())
        .tombstone_ttl(Duration::from_secs(60))
        .build()
        .await
        .unwrap();
    layer.attach(&ns, 1, Recorder::new());
    let key = "k".to_owned();
    layer
        .set(&key, b"v".to_vec(), Duration::from_secs(60))
        .await
        .unwrap();
    layer.delete(&key).await.unwrap();
    let redis_key = format!("{ns}:@:k");
    let tombstone = server.cli(&["GET", &redis_key]);
    assert!(
        tombstone.starts_with('T') && tombstone[1..].parse::<u64>().is_ok(),
        "a tombstone: {tombstone}"
    );
    let pttl: i64 = server.cli(&["PTTL", &redis_key]).parse().unwrap();
    assert!(
        pttl > 0 && pttl <= 60_000,
        "tombstone TTL applied, got {pttl}"
    );
}

#[tokio::test]
async fn foreign_bytes_under_a_key_are_returned_as_is_and_overwritable() {
    let server = RedisServer::start();
    let ns = namespace("foreign");
    let (layer, _) = attached(&server, &ns, 1).await;
    let key = "k".to_owned();
    let redis_key = format!("{ns}:@:k");
    // The last three are this layer's records: a value of generation 0 (older than any: a
    // miss), one of a generation far in the future (garbage: a miss, never adopted) and a
    // tombstone.
    for raw in [
        &b"\xffgarbage"[..],
        b"V",
        b"T9x",
        b"V1:x",
        b"V1:0:x",
        b"V1:9007199254740991:x",
        b"T12",
    ] {
        server.raw(&[b"SET", redis_key.as_bytes(), raw]);
        let known = layer.generation_known();
        let (value, version) = layer.get_versioned(&key).await.unwrap();
        if known.is_some() {
            assert_eq!(layer.generation_known(), known, "not adopted");
        }
        if raw.starts_with(b"V1:0:") || raw.starts_with(b"V1:9") || raw.starts_with(b"T1") {
            assert_eq!(value, None);
        } else {
            assert_eq!(value.as_deref(), Some(raw), "handed over as is");
        }
        assert!(layer
            .set_if_version(&key, b"fresh".to_vec(), Duration::from_secs(60), version)
            .await
            .unwrap());
        assert_eq!(
            layer.get(&key).await.unwrap().as_deref(),
            Some(&b"fresh"[..])
        );
    }
}

#[tokio::test]
async fn values_are_stored_with_the_ttl_and_expire() {
    let server = RedisServer::start();
    let ns = namespace("ttl");
    let (layer, _) = attached(&server, &ns, 1).await;
    let key = "k".to_owned();

    // A TTL long enough that no stall of the machine lets it run out before it is read back.
    layer
        .set(&key, b"v".to_vec(), Duration::from_secs(60))
        .await
        .unwrap();
    assert!(layer.get(&key).await.unwrap().is_some());
    let pttl: i64 = server.cli(&["PTTL", &format!("{ns}:@:k")]).parse().unwrap();
    assert!(pttl > 0 && pttl <= 60_000, "PX ttl applied, got {pttl}");
    layer
        .set(&key, b"v".to_vec(), Duration::from_millis(150))
        .await
        .unwrap();
    eventually(WAIT, "value expired", || async {
        layer.get(&key).await.unwrap().is_none()
    })
    .await;
}

#[tokio::test]
async fn oversize_values_are_refused_and_not_written() {
    let server = RedisServer::start();
    let ns = namespace("size");
    let layer = RedisL2::builder(server.url())
        .max_value_size(1000)
        .build()
        .await
        .unwrap();
    layer.attach(&ns, 1, Recorder::new());
    let key = "big".to_owned();

    let err = layer
        .set(&key, vec![7u8; 1001], Duration::from_secs(60))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            L2Error::TooLarge {
                len: 1001,
                limit: 1000
            }
        ),
        "{err:?}"
    );
    assert_eq!(layer.get(&key).await.unwrap(), None);
    layer
        .set(&key, vec![7u8; 1000], Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(layer.get(&key).await.unwrap().map(|v| v.len()), Some(1000));
    assert_eq!(layer.policy().max_value_size, 1000);
}

#[tokio::test]
async fn builder_settings_feed_the_policy() {
    let server = RedisServer::start();
    let layer = RedisL2::builder(server.url())
        .timeout(Duration::from_millis(20))
        .breaker(3, Duration::from_millis(700))
        .build()
        .await
        .unwrap();
    let policy = layer.policy();
    assert_eq!(policy.timeout, Duration::from_millis(20));
    assert_eq!(policy.breaker_failures, 3);
    assert_eq!(policy.breaker_cool_down, Duration::from_millis(700));
    let default = RedisL2::connect(server.url()).await.unwrap().policy();
    assert_eq!(default.timeout, Duration::from_millis(50));
}

#[tokio::test]
async fn clear_drops_every_value_in_one_step() {
    let server = RedisServer::start();
    let ns = namespace("clear");
    let (layer, _) = attached(&server, &ns, 1).await;
    for i in 0..50 {
        layer
            .set(&format!("k{i}"), b"v".to_vec(), Duration::from_secs(60))
            .await
            .unwrap();
    }
    let before = layer.generation_known().expect("known after a write");
    layer.clear().await.unwrap();
    for i in 0..50 {
        assert_eq!(layer.get(&format!("k{i}")).await.unwrap(), None);
    }
    assert!(layer.generation_known().unwrap() > before);
    layer
        .set("k0", b"new".to_vec(), Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(layer.get("k0").await.unwrap().as_deref(), Some(&b"new"[..]));
}

#[tokio::test]
async fn clear_is_adopted_by_another_instance_through_the_backplane() {
    let server = RedisServer::start();
    let ns = namespace("clear-bp");
    let (a, b, b_events, key) = two_sharing_old_value(&server, &ns).await;
    assert!(b.get(&key).await.unwrap().is_some(), "B shares A's value");

    a.clear().await.unwrap();
    a.publish(&clear_message(1)).await.unwrap();

    eventually(WAIT, "B received the clear", || async {
        b_events.messages().contains(&clear_message(1))
    })
    .await;
    // Adopted before the listener heard of it: no read of the old generation after that.
    assert_eq!(b.generation_known(), a.generation_known());
    assert_eq!(b.get(&key).await.unwrap(), None);
}

#[tokio::test]
async fn generation_is_cached_and_reread_when_the_backplane_reconnects() {
    let server = RedisServer::start();
    let ns = namespace("clear-reconnect");
    let (a, b, b_events, key) = two_sharing_old_value(&server, &ns).await;
    assert!(b.get(&key).await.unwrap().is_some());

    // A clear whose message B never gets: B keeps its cached generation (no round trip per
    // read), until its subscription drops and comes back.
    a.clear().await.unwrap();
    assert!(b.get(&key).await.unwrap().is_some());
    server.cli(&["CLIENT", "KILL", "TYPE", "pubsub"]);

    eventually(WAIT, "B resubscribed", || async {
        b_events.reconnects() >= 1 && b.backplane_connected()
    })
    .await;
    assert!(b_events.disconnects() >= 1);
    assert_eq!(b.generation_known(), a.generation_known());
    assert_eq!(b.get(&key).await.unwrap(), None);
}

#[tokio::test]
async fn a_new_instance_reads_the_current_generation_before_its_first_read() {
    let server = RedisServer::start();
    let ns = namespace("gen-first");
    let (a, _) = attached(&server, &ns, 1).await;
    a.clear().await.unwrap();
    a.clear().await.unwrap();
    let key = "k".to_owned();
    a.set(&key, b"v2".to_vec(), Duration::from_secs(60))
        .await
        .unwrap();

    let (b, _) = attached(&server, &ns, 2).await;
    // Straight after attach, before any background task ran.
    assert_eq!(b.get(&key).await.unwrap().as_deref(), Some(&b"v2"[..]));
    assert_eq!(b.generation_known(), a.generation_known());
}

#[tokio::test]
async fn clear_after_the_server_lost_its_data_never_reuses_a_generation() {
    let mut server = RedisServer::start();
    let ns = namespace("gen-floor");
    let (a, _) = attached(&server, &ns, 1).await;
    for _ in 0..3 {
        a.clear().await.unwrap();
    }
    let before = a.generation_known().expect("known after a clear");
    server.restart();
    eventually(WAIT, "reconnected", || async { a.clear().await.is_ok() }).await;
    assert!(a.generation_known().unwrap() > before);
}

#[tokio::test]
async fn tag_versions_are_created_once_and_bump_in_order() {
    let server = RedisServer::start();
    let ns = namespace("tags");
    let (layer, _) = attached(&server, &ns, 1).await;
    let tags = vec![
        "catalog".to_owned(),
        "category:books".to_owned(),
        "x".to_owned(),
    ];

    // A tag never seen is created as "now" on its first read, and then stays put.
    let first = layer.tag_versions(&tags).await.unwrap();
    assert!(first.iter().all(|&v| v > 0), "{first:?}");
    assert_eq!(layer.tag_versions(&tags).await.unwrap(), first);
    assert_eq!(layer.tag_versions(&[]).await.unwrap(), Vec::<u64>::new());
    let catalog = layer.bump_tag("catalog").await.unwrap();
    assert!(catalog > first[0]);
    let catalog = {
        let again = layer.bump_tag("catalog").await.unwrap();
        assert!(again > catalog);
        again
    };
    let x = layer.bump_tag("x").await.unwrap();
    assert!(x > first[2]);
    let now = vec![catalog, first[1], x];
    assert_eq!(layer.tag_versions(&tags).await.unwrap(), now);

    // Tag versions survive a clear: entries stamped before it stay invalid.
    layer.clear().await.unwrap();
    assert_eq!(layer.tag_versions(&tags).await.unwrap(), now);
}

#[tokio::test]
async fn lock_is_exclusive_and_only_the_holder_releases_it() {
    let server = RedisServer::start();
    let ns = namespace("lock");
    let (a, _) = attached(&server, &ns, 1).await;
    let (b, _) = attached(&server, &ns, 2).await;
    let key = "product:7".to_owned();
    let ttl = Duration::from_secs(30);

    assert!(a.try_lock(&key, "token-a", ttl).await.unwrap());
    assert!(!b.try_lock(&key, "token-b", ttl).await.unwrap());
    assert!(!a.try_lock(&key, "token-a2", ttl).await.unwrap());

    // The wrong token releases nothing.
    b.unlock(&key, "token-b").await.unwrap();
    assert!(!b.try_lock(&key, "token-b", ttl).await.unwrap());

    a.unlock(&key, "token-a").await.unwrap();
    assert!(b.try_lock(&key, "token-b", ttl).await.unwrap());

    // A lock is not data: a clear does not free it, and it does not shadow the value.
    a.clear().await.unwrap();
    assert!(!a.try_lock(&key, "token-a", ttl).await.unwrap());
    assert_eq!(a.get(&key).await.unwrap(), None);
}

#[tokio::test]
async fn lock_expires_after_its_ttl() {
    let server = RedisServer::start();
    let ns = namespace("lock-ttl");
    let (layer, _) = attached(&server, &ns, 1).await;
    let key = "k".to_owned();

    assert!(layer
        .try_lock(&key, "crashed-holder", Duration::from_millis(100))
        .await
        .unwrap());
    eventually(WAIT, "lock expired", || async {
        layer
            .try_lock(&key, "next", Duration::from_secs(30))
            .await
            .unwrap()
    })
    .await;
    // The expired holder's late release does not free the new holder's lock.
    layer.unlock(&key, "crashed-holder").await.unwrap();
    assert!(!layer
        .try_lock(&key, "third", Duration::from_secs(30))
        .await
        .unwrap());
}

#[tokio::test]
async fn backplane_delivers_every_message_to_every_instance() {
    let server = RedisServer::start();
    let ns = namespace("bp");
    let (a, a_events) = attached(&server, &ns, 1).await;
    let (b, b_events) = attached(&server, &ns, 2).await;
    let (other, other_events) = attached(&server, &namespace("bp-other"), 3).await;
    subscribed(&a).await;
    subscribed(&b).await;
    subscribed(&other).await;

    let sent = vec![
        InvalidationMessage {
            origin: 1,
            invalidation: Invalidation::Key("product:7".to_owned()),
        },
        InvalidationMessage {
            origin: 1,
            invalidation: Invalidation::Tag {
                tag: "catalog".into(),
                version: 4,
            },
        },
        clear_message(1),
    ];
    for m in &sent {
        a.publish(m).await.unwrap();
    }
    eventually(WAIT, "both instances got all messages in order", || async {
        a_events.messages() == sent && b_events.messages() == sent
    })
    .await;
    assert!(
        other_events.messages().is_empty(),
        "other namespaces hear nothing"
    );
    assert_eq!(
        b_events.reconnects(),
        0,
        "the first subscription is not a reconnect"
    );
}

#[tokio::test]
async fn garbage_on_the_channel_is_ignored() {
    let server = RedisServer::start();
    let ns = namespace("bp-garbage");
    let (a, a_events) = attached(&server, &ns, 1).await;
    subscribed(&a).await;
    server.raw(&[
        b"PUBLISH",
        format!("{{lc:{ns}}}:bp").as_bytes(),
        b"\xff not json",
    ]);
    a.publish(&clear_message(9)).await.unwrap();
    eventually(WAIT, "the valid message after the garbage", || async {
        a_events.messages() == vec![clear_message(9)]
    })
    .await;
    assert!(a.backplane_connected());
}

#[tokio::test]
async fn without_backplane_publish_is_a_no_op_and_clears_are_polled() {
    let server = RedisServer::start();
    let ns = namespace("no-bp");
    let a = RedisL2::builder(server.url())
        .backplane(false)
        .health_interval(Duration::from_millis(50))
        .build()
        .await
        .unwrap();
    let a_events = Recorder::new();
    a.attach(&ns, 1, a_events.clone());
    let (b, _) = attached(&server, &ns, 2).await;
    assert!(a.backplane_connected(), "no backplane counts as connected");
    a.publish(&clear_message(1)).await.unwrap();

    let key = "k".to_owned();
    b.set(&key, b"v".to_vec(), Duration::from_secs(60))
        .await
        .unwrap();
    assert!(a.get(&key).await.unwrap().is_some());
    b.clear().await.unwrap();
    eventually(WAIT, "A polled the new generation", || async {
        a.get(&key).await.unwrap().is_none()
    })
    .await;
    assert!(a_events.messages().is_empty());
}

#[tokio::test]
async fn namespaces_are_isolated_and_the_builder_can_fix_one() {
    let server = RedisServer::start();
    let (a, _) = attached(&server, "shop", 1).await;
    let (b, _) = attached(&server, "blog", 2).await;
    a.set("k", b"a".to_vec(), Duration::from_secs(60))
        .await
        .unwrap();
    b.set("k", b"b".to_vec(), Duration::from_secs(60))
        .await
        .unwrap();
    a.clear().await.unwrap();
    assert_eq!(a.get("k").await.unwrap(), None);
    assert_eq!(b.get("k").await.unwrap().as_deref(), Some(&b"b"[..]));

    let fixed = RedisL2::builder(server.url())
        .namespace("blog")
        .build()
        .await
        .unwrap();
    assert_eq!(fixed.namespace(), Some("blog"));
    // Usable before any attach, and an attach under another name keeps the configured one.
    assert_eq!(fixed.get("k").await.unwrap().as_deref(), Some(&b"b"[..]));
    fixed.attach("shop", 3, Recorder::new());
    assert_eq!(fixed.namespace(), Some("blog"));
}

#[tokio::test]
async fn an_unattached_layer_refuses_keyed_operations() {
    let server = RedisServer::start();
    let layer = RedisL2::connect(server.url()).await.unwrap();
    assert!(matches!(layer.get("k").await, Err(L2Error::Backend(_))));
    assert_eq!(layer.namespace(), None);
}

#[tokio::test]
async fn dropping_the_last_handle_closes_every_connection() {
    let server = RedisServer::start();
    let ns = namespace("drop");
    let (layer, _) = attached(&server, &ns, 1).await;
    subscribed(&layer).await;
    let clone = layer.clone();
    clone
        .set("k", b"v".to_vec(), Duration::from_secs(60))
        .await
        .unwrap();
    // The data connection, the subscription, and redis-cli itself.
    assert!(server.connected_clients() >= 3);
    drop(layer);
    assert!(clone.get("k").await.unwrap().is_some());
    drop(clone);
    eventually(WAIT, "all layer connections closed", || async {
        server.connected_clients() == 1
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_share_one_connection() {
    let server = RedisServer::start();
    let ns = namespace("multiplex");
    let (layer, _) = attached(&server, &ns, 1).await;
    subscribed(&layer).await;
    let mut tasks = Vec::new();
    for t in 0..32 {
        let layer = layer.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..20 {
                let key = format!("{t}:{i}");
                layer
                    .set(&key, vec![t as u8; 64], Duration::from_secs(60))
                    .await
                    .unwrap();
                assert_eq!(layer.get(&key).await.unwrap(), Some(vec![t as u8; 64]));
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    // The layer's own data connection, the one this runtime's callers share (opened in the
    // background on their first call), the subscription and redis-cli: 32 callers, one
    // connection.
    eventually(WAIT, "this runtime's connection is open", || async {
        server.connected_clients() == 4
    })
    .await;
    assert_eq!(server.connected_clients(), 4);
}

/// Calls of `command` the server has run (from `INFO commandstats`).
fn calls_of(server: &RedisServer, command: &str) -> u64 {
    let stats = server.cli(&["INFO", "commandstats"]);
    stats
        .lines()
        .find_map(|l| l.strip_prefix(&format!("cmdstat_{command}:calls=")))
        .and_then(|rest| rest.split(',').next()?.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_read_is_one_plain_command_unless_the_record_is_long() {
    let server = RedisServer::start();
    let ns = namespace("one-command");
    // Nothing in the background: the permission check runs at connect (namespace known), no
    // subscription, no generation polling during the test.
    let layer = RedisL2::builder(server.url())
        .namespace(ns.as_str())
        .backplane(false)
        .health_interval(Duration::from_secs(600))
        .build()
        .await
        .unwrap();
    layer.attach(&ns, 1, Recorder::new());
    layer
        .set("small", vec![7; 300], Duration::from_secs(60))
        .await
        .unwrap();
    let long = vec![8; 20 * 1024];
    layer
        .set("long", long.clone(), Duration::from_secs(60))
        .await
        .unwrap();
    let (getrange, evalsha) = (calls_of(&server, "getrange"), calls_of(&server, "evalsha"));
    let (value, _) = layer.get_versioned("small").await.unwrap();
    assert_eq!(value, Some(vec![7; 300]));
    assert_eq!(calls_of(&server, "getrange"), getrange + 1);
    assert_eq!(calls_of(&server, "evalsha"), evalsha, "no script on a hit");
    // A record longer than the first read is read again, bounded on the server, and whole.
    let (value, _) = layer.get_versioned("long").await.unwrap();
    assert_eq!(value, Some(long));
    // (More than once the first time: the script is loaded on its first use.)
    assert!(calls_of(&server, "evalsha") > evalsha);
}
