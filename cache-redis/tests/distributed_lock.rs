//! `lock`: one load across every instance, and a crashed holder blocks nobody for long.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cache_core::EntryOptions;
use layercache_test_support::{eventually, namespace, RedisServer};
use support::instances::Instance;

const LOCKED: EntryOptions = EntryOptions::new().ttl(Duration::from_secs(60)).lock(true);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_instances_times_250_callers_on_a_cold_key_load_once() {
    let server = RedisServer::start();
    let ns = namespace("lock-once");
    let mut instances = Vec::new();
    for _ in 0..4 {
        instances.push(Arc::new(
            Instance::with(&server.url(), &ns, |b| b.lock_ttl(Duration::from_secs(5))).await,
        ));
    }
    let loads = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..1000 {
        let instance = Arc::clone(&instances[i % 4]);
        let loads = Arc::clone(&loads);
        tasks.push(tokio::spawn(async move {
            instance
                .cache
                .get_or_load("cold", &LOCKED, || async move {
                    loads.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    Ok::<_, std::io::Error>("value".to_string())
                })
                .await
                .unwrap()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), "value");
    }
    assert_eq!(
        loads.load(Ordering::SeqCst),
        1,
        "the loader ran exactly once"
    );
    let waits: u64 = instances.iter().map(|i| i.cache.stats().lock_waits).sum();
    assert!(waits >= 1, "other instances waited on the lock");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aborted_lock_holder_blocks_others_at_most_the_lock_ttl() {
    let server = RedisServer::start();
    let ns = namespace("lock-abort");
    let lock_ttl = Duration::from_millis(800);
    let holder = Arc::new(Instance::with(&server.url(), &ns, |b| b.lock_ttl(lock_ttl)).await);
    let other = Instance::with(&server.url(), &ns, |b| b.lock_ttl(lock_ttl)).await;

    let task = {
        let holder = Arc::clone(&holder);
        tokio::spawn(async move {
            holder
                .cache
                .get_or_load("k", &LOCKED, || async {
                    std::future::pending::<()>().await;
                    Ok::<_, std::io::Error>("never".to_string())
                })
                .await
        })
    };
    let lock_key = format!("{ns}:@lock:k");
    eventually(Duration::from_secs(5), "holder took the lock", || async {
        server.cli(&["EXISTS", &lock_key]) == "1"
    })
    .await;
    task.abort();
    let _ = task.await;

    let loader_time = Duration::from_millis(50);
    let started = Instant::now();
    let v: String = other
        .cache
        .get_or_load("k", &LOCKED, || async move {
            tokio::time::sleep(loader_time).await;
            Ok::<_, std::io::Error>("loaded".to_string())
        })
        .await
        .unwrap();
    assert_eq!(v, "loaded");
    let took = started.elapsed();
    assert!(
        took <= lock_ttl + loader_time + Duration::from_millis(400),
        "waited {took:?} for a lock of {lock_ttl:?}"
    );
}
