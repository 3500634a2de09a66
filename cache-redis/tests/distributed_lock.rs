//! `lock`: one load across every instance, and a crashed holder blocks nobody for long.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cache_core::EntryOptions;
use layercache_test_support::{eventually, namespace, RedisServer};
use support::instances::Instance;

/// A generous deadline for what other instances do.
const WAIT: Duration = Duration::from_secs(10);
const LOCKED: EntryOptions = EntryOptions::new().ttl(Duration::from_secs(60)).lock(true);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_instances_times_250_callers_on_a_cold_key_load_once() {
    let server = RedisServer::start();
    let ns = namespace("lock-once");
    let mut instances = Vec::new();
    for _ in 0..4 {
        instances.push(Arc::new(
            Instance::with(&server.url(), &ns, |b| b.lock_ttl(Duration::from_secs(60))).await,
        ));
    }
    let loads = Arc::new(AtomicUsize::new(0));
    // Holds the one load open until another instance waits on its lock.
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let mut tasks = Vec::new();
    for i in 0..1000 {
        let instance = Arc::clone(&instances[i % 4]);
        let (loads, gate) = (Arc::clone(&loads), Arc::clone(&gate));
        tasks.push(tokio::spawn(async move {
            instance
                .cache
                .get_or_load("cold", &LOCKED, || async move {
                    loads.fetch_add(1, Ordering::SeqCst);
                    gate.acquire().await.map(|p| p.forget()).ok();
                    Ok::<_, std::io::Error>("value".to_string())
                })
                .await
                .unwrap()
        }));
    }
    let lock_waits = || {
        instances
            .iter()
            .map(|i| i.cache.stats().lock_waits)
            .sum::<u64>()
    };
    eventually(WAIT, "another instance waits on the lock", || async {
        lock_waits() >= 1
    })
    .await;
    gate.add_permits(1000);
    for t in tasks {
        assert_eq!(t.await.unwrap(), "value");
    }
    assert_eq!(
        loads.load(Ordering::SeqCst),
        1,
        "the loader ran exactly once"
    );
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

    // Blocked by the dead holder's lock until it expires: a generous deadline of many lock
    // TTLs (how long exactly depends on the machine's speed; a latency bound is a bench's job).
    let v: String = tokio::time::timeout(
        lock_ttl * 10,
        other.cache.get_or_load("k", &LOCKED, || async move {
            Ok::<_, std::io::Error>("loaded".to_string())
        }),
    )
    .await
    .expect("the dead holder's lock blocked the other instance for ten lock TTLs")
    .unwrap();
    assert_eq!(v, "loaded");
    assert_eq!(other.cache.stats().lock_waits, 1, "it waited on the lock");
}
