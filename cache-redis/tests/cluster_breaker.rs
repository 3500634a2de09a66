//! A Cluster node that dies turns L2 off only for the keys it serves: the cache keeps one
//! circuit breaker per master (slot range), so keys on healthy nodes keep coming from Redis.

mod support;

use std::time::Duration;

use cache_core::{Cache, EntryOptions};
use cache_redis::RedisL2;
use layercache_test_support::{namespace, RedisCluster};
use support::instances::Loads;

const OPTS: EntryOptions = EntryOptions::new().ttl(Duration::from_secs(600));

/// A cache on the cluster. The breaker's cool-down is long, so a key served from L2 after the
/// kill was never behind an open breaker (it was not let through by a probe).
async fn instance(cluster: &RedisCluster, ns: &str) -> Cache {
    let layer = RedisL2::cluster_builder(cluster.urls())
        .timeout(Duration::from_millis(100))
        .breaker(3, Duration::from_secs(600))
        .connect_timeout(Duration::from_millis(300))
        .build()
        .await
        .expect("connect");
    Cache::builder().namespace(ns).l2(layer).build()
}

#[tokio::test]
async fn a_killed_master_turns_l2_off_only_for_its_own_keys() {
    // Without full coverage the healthy masters keep serving while one is down.
    let mut cluster = RedisCluster::start_with(&["--cluster-require-full-coverage", "no"]);
    let ns = namespace("per-node-breaker");
    // The node to kill: not the seed the backplane subscribes through, and not the one holding
    // the namespace's shared records (generation, tags: one slot, one node by design).
    let shared = cluster.slot(&format!("{{lc:{ns}}}"));
    let dead = (1..3)
        .find(|&n| !cluster.serves(n, shared))
        .expect("a node");
    // The dead node's keys first in every round: with one breaker for all, their failures open
    // it and the healthy keys after them skip L2.
    let mut keys: Vec<(String, bool)> = (0..30)
        .map(|i| {
            let key = format!("k{i}");
            let on_dead = cluster.serves(dead, cluster.slot(&format!("{ns}:@:{key}")));
            (key, on_dead)
        })
        .collect();
    keys.sort_by_key(|(_, on_dead)| !on_dead);
    let (keys, on_dead): (Vec<String>, Vec<bool>) = keys.into_iter().unzip();
    assert!(on_dead.iter().any(|d| *d) && on_dead.iter().any(|d| !*d));

    let writer = instance(&cluster, &ns).await;
    let reader = instance(&cluster, &ns).await;
    let loads = Loads::default();
    for key in &keys {
        let v: String = writer
            .get_or_load(key, &OPTS, loads.returning("from-l2".to_string()))
            .await
            .unwrap();
        assert_eq!(v, "from-l2");
    }

    cluster.nodes[dead].kill();
    let opts = OPTS.l1(false);
    for round in 0..5 {
        let hits_before = reader.stats().l2_hits;
        let mut healthy_hits = 0;
        for (key, dead_node) in keys.iter().zip(&on_dead) {
            let before = reader.stats().l2_hits;
            // Every call succeeds: from L2, or from the loader for the dead node's keys.
            let v: String = reader
                .get_or_load(key, &opts, loads.returning("loaded".to_string()))
                .await
                .unwrap();
            let hit = reader.stats().l2_hits > before;
            assert_eq!(hit, v == "from-l2", "round {round}, {key}");
            if !dead_node && hit {
                healthy_hits += 1;
            }
        }
        let healthy = on_dead.iter().filter(|d| !**d).count();
        assert_eq!(
            healthy_hits,
            healthy,
            "round {round}: every key on a healthy node came from L2 ({} hits): {:?}",
            reader.stats().l2_hits - hits_before,
            reader.stats()
        );
    }
    let s = reader.stats();
    assert!(
        s.breaker_opened >= 1,
        "the dead node's breaker opened: {s:?}"
    );
    assert_eq!(s.breaker_open, 1, "{s:?}");
}
