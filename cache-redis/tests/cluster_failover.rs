//! Issue 10 point 1 on a Redis Cluster of 3 masters + 3 replicas: the master holding the
//! namespace's tag versions and generation is SIGKILLed and its replica takes over, having missed
//! the last writes (it was frozen while they were made). The versions went backwards in Redis;
//! they must not go backwards for the caches: no caller error, no old value on the writer, and
//! the other instance converges.

use std::time::Duration;

use cache_core::{Cache, EntryOptions};
use cache_redis::RedisL2;
use layercache_test_support::{eventually, namespace, RedisCluster};

const CONVERGE: Duration = Duration::from_secs(10);

async fn instance(urls: &[String], ns: &str) -> (Cache, RedisL2) {
    let layer = RedisL2::cluster_builder(urls.to_vec())
        .timeout(Duration::from_millis(200))
        .breaker(3, Duration::from_millis(300))
        .health_interval(Duration::from_millis(100))
        .build()
        .await
        .expect("connect to the cluster");
    let cache = Cache::builder().namespace(ns).l2(layer.clone()).build();
    (cache, layer)
}

async fn read(cache: &Cache, key: &str, opts: &EntryOptions, current: &str) -> String {
    let current = current.to_owned();
    cache
        .get_or_load(
            key,
            opts,
            || async move { Ok::<_, std::io::Error>(current) },
        )
        .await
        .expect("a cache call never fails the caller")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_to_a_replica_that_missed_the_last_writes() {
    let mut cluster = RedisCluster::start_with_replicas(1);
    let urls = cluster.urls();
    let ns = namespace("failover");
    let (a, a_layer) = instance(&urls, &ns).await;
    let (b, b_layer) = instance(&urls, &ns).await;
    eventually(CONVERGE, "both subscribed", || async {
        cache_core::L2::backplane_connected(&a_layer)
            && cache_core::L2::backplane_connected(&b_layer)
    })
    .await;
    let opts = EntryOptions::new()
        .ttl(Duration::from_secs(60))
        .with_tags(vec!["catalog".to_owned()]);

    a.invalidate_tag("catalog").await;
    a.invalidate_tag("catalog").await;
    assert_eq!(read(&b, "k", &opts, "v1").await, "v1");

    // The replica of the master holding `{lc:ns}` misses the next writes.
    let victim = cluster.master_of(&format!("{{lc:{ns}}}:gen"));
    let replica = cluster.replica_of(victim);
    cluster.nodes[replica].pause();
    // Cut the replication link too: what the master wrote into the socket before would still
    // reach the replica when it thaws.
    let killed = cluster.nodes[victim].cli(&["CLIENT", "KILL", "TYPE", "replica"]);
    assert_eq!(killed, "1", "the replica's link was cut");
    a.invalidate_tag("catalog").await;
    a.clear().await;
    let catalog = vec!["catalog".to_owned()];
    let missed = cache_core::L2::tag_versions(&a_layer, &catalog)
        .await
        .unwrap()[0];
    eventually(CONVERGE, "B dropped v1", || async {
        read(&b, "k", &opts, "v2").await == "v2"
    })
    .await;

    cluster.kill(victim);
    cluster.nodes[replica].resume();
    let takeover = cluster.nodes[replica].cli(&["CLUSTER", "FAILOVER", "TAKEOVER"]);
    assert_eq!(takeover, "OK");
    let blocking = tokio::task::spawn_blocking(move || {
        cluster.wait_ok();
        cluster
    });
    let cluster = blocking.await.expect("cluster healthy");

    // The new master went back to the tag version before `missed`; the instances that saw
    // `missed` move it forward again on their own (and announce it), so even an instance that never saw it
    // reads a version above it.
    let fresh = RedisL2::cluster(urls[3..].to_vec()).await.expect("connect");
    cache_core::L2::attach(&fresh, &ns, 99, layercache_test_support::Recorder::new());
    eventually(CONVERGE, "the lost tag version is repaired", || async {
        cache_core::L2::tag_versions(&fresh, &catalog)
            .await
            .is_ok_and(|v| v[0] > missed)
    })
    .await;

    // Both instances talk to the new master again.
    eventually(CONVERGE, "A and B back on L2", || async {
        let before = (a.stats().l2_writes, b.stats().l2_writes);
        let _ = read(&a, &format!("probe-a-{}", before.0), &opts, "p").await;
        let _ = read(&b, &format!("probe-b-{}", before.1), &opts, "p").await;
        a.stats().l2_writes > before.0 && b.stats().l2_writes > before.1
    })
    .await;

    // B holds v2 stamped with the tag version the new master never saw.
    assert_eq!(read(&b, "k", &opts, "v2").await, "v2");
    a.invalidate_tag("catalog").await;
    assert_eq!(read(&a, "k", &opts, "v3").await, "v3", "writer stale");
    eventually(CONVERGE, "B drops v2", || async {
        read(&b, "k", &opts, "v3").await == "v3"
    })
    .await;
    // An instance started now agrees.
    let (c, _) = instance(&cluster.urls()[3..], &ns).await;
    assert_eq!(read(&c, "k", &opts, "v3").await, "v3");
}
