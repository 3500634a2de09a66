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

/// Lags in microseconds, as a `| p50 | p99 | max |` row in milliseconds.
fn summary(lags: &mut [u64]) -> String {
    lags.sort_unstable();
    let at = |p: f64| {
        lags.get(((lags.len().max(1) - 1) as f64 * p).round() as usize)
            .map_or(0.0, |us| *us as f64 / 1000.0)
    };
    format!(
        "{} | {:.2} | {:.2} | {:.2}",
        lags.len(),
        at(0.5),
        at(0.99),
        at(1.0)
    )
}

/// Issue 10 points 4 and 6 on a Cluster: a writer invalidates keys one after another while the
/// master holding the namespace's versions is SIGKILLed and its replica takes over. Measured:
/// how long the other three instances keep serving each old value, before the kill, and after
/// the cluster is healthy again (counted from then for invalidations made during the failover).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn convergence_across_a_master_failover() {
    let cluster = RedisCluster::start_with_replicas(1);
    let urls = cluster.urls();
    let ns = namespace("failover-lag");
    let mut caches = Vec::new();
    let mut layers = Vec::new();
    for _ in 0..4 {
        let layer = RedisL2::cluster(urls.clone()).await.expect("connect");
        caches.push(Cache::builder().namespace(&ns).l2(layer.clone()).build());
        layers.push(layer);
    }
    eventually(CONVERGE, "all subscribed", || async {
        layers.iter().all(cache_core::L2::backplane_connected)
    })
    .await;
    let opts = EntryOptions::new().ttl(Duration::from_secs(600));
    const KEYS: usize = 30;
    let mut writes = [0usize; KEYS];
    let value = |i: usize, w: usize| format!("k{i}@{w}");
    for cache in &caches {
        for i in 0..KEYS {
            read(cache, &format!("k{i}"), &opts, &value(i, 0)).await;
        }
    }

    let victim = cluster.master_of(&format!("{{lc:{ns}}}:gen"));
    let times = std::sync::Arc::new(parking_lot::Mutex::new((None, None)));
    let fault = {
        let times = times.clone();
        std::thread::spawn(move || {
            let mut cluster = cluster;
            std::thread::sleep(Duration::from_secs(1));
            times.lock().0 = Some(std::time::Instant::now());
            cluster.kill(victim);
            cluster.wait_ok();
            times.lock().1 = Some(std::time::Instant::now());
            cluster
        })
    };

    // (returned, converged) per invalidation and other instance.
    let mut samples = Vec::new();
    let mut round = 0usize;
    loop {
        let healthy = times.lock().1;
        if healthy.is_some_and(|h| h.elapsed() > Duration::from_secs(2)) {
            break;
        }
        let i = round % KEYS;
        round += 1;
        let key = format!("k{i}");
        let old = value(i, writes[i]);
        writes[i] += 1;
        let new = value(i, writes[i]);
        caches[0].invalidate(&key).await;
        let returned = std::time::Instant::now();
        assert_eq!(
            read(&caches[0], &key, &opts, &new).await,
            new,
            "writer stale"
        );
        let mut pending: Vec<&Cache> = caches[1..].iter().collect();
        while !pending.is_empty() {
            let mut still = Vec::new();
            for c in pending {
                if c.peek::<String>(&key).await.as_deref() == Some(old.as_str()) {
                    still.push(c);
                } else {
                    samples.push((returned, std::time::Instant::now()));
                }
            }
            pending = still;
            assert!(
                returned.elapsed() < Duration::from_secs(30),
                "an instance still serves the old {key}"
            );
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        for c in &caches[1..] {
            assert_eq!(read(c, &key, &opts, &new).await, new);
        }
    }
    let _cluster = fault.join().expect("fault thread");
    let (killed, healthy) = *times.lock();
    let (killed, healthy) = (killed.expect("killed"), healthy.expect("healthy"));
    let mut before = Vec::new();
    let mut after_healthy = Vec::new();
    for (returned, converged) in samples {
        let us = |d: Duration| d.as_micros() as u64;
        if converged < killed {
            before.push(us(converged - returned));
        } else if converged >= healthy {
            after_healthy.push(us(
                converged.saturating_duration_since(returned.max(healthy))
            ));
        }
    }
    println!(
        "\nCluster 3+3, 1 writer + 3 instances, {KEYS} keys; failover took {} ms (SIGKILL to cluster ok)",
        (healthy - killed).as_millis()
    );
    println!("| phase | lags | p50 ms | p99 ms | max ms |\n|---|---|---|---|---|");
    println!("| before the kill | {} |", summary(&mut before));
    println!(
        "| converged after the cluster was healthy (from then) | {} |",
        summary(&mut after_healthy)
    );
    for cache in &caches {
        println!("{:?}", cache.stats());
    }
}
