//! The layer on a local 3-master Redis Cluster: keys on every node, tags in one slot, clear by
//! generation, the backplane across nodes, and locks.

use std::time::Duration;

use cache_core::{Invalidation, InvalidationMessage, L2};
use cache_redis::RedisL2;
use layercache_test_support::{eventually, namespace, Recorder, RedisCluster};

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn everything_works_on_a_cluster() {
    let cluster = RedisCluster::start();
    let urls = cluster.urls();
    let ns = namespace("cluster");

    // A and B reach the cluster through different seed nodes.
    let a = RedisL2::cluster([urls[0].clone()])
        .await
        .expect("cluster A");
    let b = RedisL2::cluster_builder([urls[2].clone(), urls[1].clone()])
        .build()
        .await
        .expect("cluster B");
    let a_events = Recorder::new();
    let b_events = Recorder::new();
    a.attach(&ns, 1, a_events.clone());
    b.attach(&ns, 2, b_events.clone());

    // Values spread over every master.
    for i in 0..60 {
        a.set(
            &format!("item:{i}"),
            format!("v{i}").into_bytes(),
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    }
    for i in 0..60 {
        assert_eq!(
            b.get(&format!("item:{i}")).await.unwrap(),
            Some(format!("v{i}").into_bytes())
        );
    }
    let per_node: Vec<usize> = cluster
        .nodes
        .iter()
        .map(|n| n.cli(&["DBSIZE"]).parse().unwrap_or(0))
        .collect();
    assert!(
        per_node.iter().all(|&n| n > 0),
        "keys on every node: {per_node:?}"
    );
    a.delete("item:0").await.unwrap();
    assert_eq!(b.get("item:0").await.unwrap(), None);
    // Versioned writes (check-and-set scripts on one key) work on every node too.
    for i in 0..10 {
        let key = format!("versioned:{i}");
        let (_, v) = a.get_versioned(&key).await.unwrap();
        b.delete(&key).await.unwrap();
        let ttl = Duration::from_secs(60);
        assert!(!a
            .set_if_version(&key, b"old".to_vec(), ttl, v)
            .await
            .unwrap());
        let (_, v) = a.get_versioned(&key).await.unwrap();
        assert!(a
            .set_if_version(&key, b"new".to_vec(), ttl, v)
            .await
            .unwrap());
    }

    // Tags: many of them, read in one MGET (created in one script on first use).
    let tags: Vec<String> = (0..20).map(|i| format!("tag:{i}")).collect();
    let first = a.tag_versions(&tags).await.unwrap();
    assert_eq!(
        b.tag_versions(&tags).await.unwrap(),
        first,
        "one version per tag"
    );
    let bumped = a.bump_tag("tag:3").await.unwrap();
    assert!(bumped > first[3]);
    let again = b.bump_tag("tag:3").await.unwrap();
    assert!(again > bumped);
    let versions = b.tag_versions(&tags).await.unwrap();
    assert_eq!(versions[3], again);
    for i in (0..20).filter(|&i| i != 3) {
        assert_eq!(versions[i], first[i], "tag:{i} untouched");
    }

    // Backplane across nodes (A and B subscribe wherever their seed node is).
    eventually(WAIT, "both subscribed", || async {
        a.backplane_connected() && b.backplane_connected()
    })
    .await;
    let message = InvalidationMessage {
        origin: 1,
        invalidation: Invalidation::Key("item:1".to_owned()),
    };
    a.publish(&message).await.unwrap();
    eventually(WAIT, "B heard A", || async {
        b_events.messages().contains(&message)
    })
    .await;

    // Clear: A moves to a new generation; B adopts it from the Clear message.
    a.clear().await.unwrap();
    let clear = InvalidationMessage {
        origin: 1,
        invalidation: Invalidation::Clear,
    };
    a.publish(&clear).await.unwrap();
    eventually(WAIT, "B got the clear", || async {
        b_events.messages().contains(&clear)
    })
    .await;
    for i in 1..60 {
        assert_eq!(b.get(&format!("item:{i}")).await.unwrap(), None);
    }

    // Locks.
    let lock = "item:5:__lock".to_owned();
    assert!(a
        .try_lock(&lock, "a", Duration::from_secs(10))
        .await
        .unwrap());
    assert!(!b
        .try_lock(&lock, "b", Duration::from_secs(10))
        .await
        .unwrap());
    b.unlock(&lock, "b").await.unwrap();
    assert!(!b
        .try_lock(&lock, "b", Duration::from_secs(10))
        .await
        .unwrap());
    a.unlock(&lock, "a").await.unwrap();
    assert!(b
        .try_lock(&lock, "b", Duration::from_secs(10))
        .await
        .unwrap());
}

#[tokio::test]
async fn backplane_moves_to_another_node_when_its_seed_node_freezes() {
    let cluster = RedisCluster::start();
    let urls = cluster.urls();
    let ns = namespace("cluster-failover");
    let a = RedisL2::cluster_builder([urls[0].clone()])
        .connect_timeout(Duration::from_millis(300))
        .health_interval(Duration::from_millis(100))
        .build()
        .await
        .expect("cluster A");
    let a_events = Recorder::new();
    a.attach(&ns, 1, a_events.clone());
    let b = RedisL2::cluster_builder([urls[2].clone()])
        .connect_timeout(Duration::from_millis(300))
        .build()
        .await
        .expect("cluster B");
    b.attach(&ns, 2, Recorder::new());
    eventually(WAIT, "A subscribed", || async { a.backplane_connected() }).await;

    // A only knows node 0; it freezes. A finds the other nodes and subscribes there.
    cluster.nodes[0].pause();
    eventually(WAIT, "A noticed", || async { a_events.disconnects() >= 1 }).await;
    eventually(WAIT, "A resubscribed elsewhere", || async {
        a_events.reconnects() >= 1 && a.backplane_connected()
    })
    .await;
    let message = InvalidationMessage {
        origin: 2,
        invalidation: Invalidation::Key("k".to_owned()),
    };
    eventually(WAIT, "B's message reaches A", || async {
        let _ = b.publish(&message).await;
        a_events.messages().contains(&message)
    })
    .await;
    cluster.nodes[0].resume();
}
