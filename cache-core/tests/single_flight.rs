//! One loader call per key however many callers miss at once, and no hang when the leader goes.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use cache_core::__private::{CacheInternals, LoadPlan};
use cache_core::{Cache, EntryOptions};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

const DEADLINE: Duration = Duration::from_secs(10);

/// Waits (with a deadline) until `n` callers wait on another caller's load.
async fn waiters_joined(cache: &Cache, n: u64) {
    let start = std::time::Instant::now();
    while cache.stats().coalesced < n {
        assert!(
            start.elapsed() < DEADLINE,
            "callers never joined: {:?}",
            cache.stats()
        );
        tokio::task::yield_now().await;
    }
}

fn opts() -> EntryOptions {
    EntryOptions::new().ttl(Duration::from_secs(60))
}

type Caller = JoinHandle<Result<u32, String>>;

/// Spawns the first caller of `key` and returns once its loader runs; the loader then returns
/// what `hold` returns (`pending` for a leader that never finishes).
async fn spawn_leader<Hold>(cache: &Cache, key: &'static str, hold: Hold) -> Caller
where
    Hold: Future<Output = Result<u32, String>> + Send + 'static,
{
    let started = Arc::new(Notify::new());
    let leader = {
        let (cache, started) = (cache.clone(), started.clone());
        tokio::spawn(async move {
            cache
                .get_or_load(key, &opts(), || async move {
                    started.notify_one();
                    hold.await
                })
                .await
        })
    };
    started.notified().await;
    leader
}

/// Spawns a caller of `key` whose own loader would return `value`.
fn spawn_caller(cache: &Cache, key: &'static str, value: u32) -> Caller {
    let cache = cache.clone();
    tokio::spawn(async move {
        cache
            .get_or_load(key, &opts(), || async move { Ok::<_, String>(value) })
            .await
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_concurrent_callers_run_the_loader_once() {
    let cache = Cache::builder().build();
    let calls = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(Notify::new());
    let mut tasks = Vec::new();
    for _ in 0..10_000 {
        let (cache, calls, gate) = (cache.clone(), calls.clone(), gate.clone());
        tasks.push(tokio::spawn(async move {
            cache
                .get_or_load("cold", &opts(), || async move {
                    calls.fetch_add(1, SeqCst);
                    // Hold the load open until every caller has joined.
                    gate.notified().await;
                    Ok::<_, String>(42u64)
                })
                .await
        }));
    }
    // All but the leader wait before the leader is released.
    waiters_joined(&cache, 9_999).await;
    gate.notify_one();
    for t in tasks {
        assert_eq!(t.await.unwrap(), Ok(42));
    }
    assert_eq!(calls.load(SeqCst), 1);
    let s = cache.stats();
    assert_eq!((s.loads, s.coalesced), (1, 9_999));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_leader_hands_over_to_a_waiter() {
    let cache = Cache::builder().build();
    let leader = spawn_leader(&cache, "k", std::future::pending()).await;
    let waiter = spawn_caller(&cache, "k", 7);
    waiters_joined(&cache, 1).await;
    leader.abort();
    let got = tokio::time::timeout(DEADLINE, waiter)
        .await
        .expect("waiter hung");
    assert_eq!(got.unwrap(), Ok(7));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_loader_does_not_poison_the_key() {
    let cache = Cache::builder().build();
    let release = Arc::new(Notify::new());
    let hold = {
        let release = release.clone();
        async move {
            release.notified().await;
            panic!("loader bug")
        }
    };
    let leader = spawn_leader(&cache, "k", hold).await;
    let waiter = spawn_caller(&cache, "k", 9);
    waiters_joined(&cache, 1).await;
    release.notify_one();
    assert!(leader.await.unwrap_err().is_panic());
    let got = tokio::time::timeout(DEADLINE, waiter)
        .await
        .expect("waiter hung");
    assert_eq!(got.unwrap(), Ok(9));
    // And the next call is a plain hit.
    let hit = cache
        .get_or_load("k", &opts(), || async { Ok::<_, String>(1u32) })
        .await;
    assert_eq!(hit, Ok(9));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn different_keys_never_wait_on_each_other() {
    let cache = Cache::builder().build();
    let _slow = spawn_leader(&cache, "slow", std::future::pending()).await;
    let other = tokio::time::timeout(
        DEADLINE,
        cache.get_or_load("fast", &opts(), || async { Ok::<_, String>(1u32) }),
    )
    .await
    .expect("a different key waited on the slow one");
    assert_eq!(other, Ok(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiters_share_a_clonable_error_and_load_alone_otherwise() {
    let cache = Cache::builder().build();
    for share in [true, false] {
        let calls = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(Notify::new());
        let key = format!("err-{share}");
        let mut tasks = Vec::new();
        for _ in 0..5 {
            let (cache, calls, gate, key) =
                (cache.clone(), calls.clone(), gate.clone(), key.clone());
            tasks.push(tokio::spawn(async move {
                let mut plan = LoadPlan::<u32, String>::shared();
                if share {
                    plan = plan.share_errors(String::clone);
                }
                cache
                    .load(cache.key(&key), &opts(), plan, || async move {
                        if calls.fetch_add(1, SeqCst) == 0 {
                            gate.notified().await;
                        }
                        Err::<u32, _>("db down".to_string())
                    })
                    .await
            }));
        }
        let start = std::time::Instant::now();
        while calls.load(SeqCst) == 0 || cache.stats().coalesced < if share { 4 } else { 8 } {
            assert!(start.elapsed() < DEADLINE);
            tokio::task::yield_now().await;
        }
        gate.notify_one();
        for t in tasks {
            assert_eq!(t.await.unwrap(), Err("db down".to_string()));
        }
        let expected_calls = if share { 1 } else { 5 };
        assert_eq!(calls.load(SeqCst), expected_calls, "share={share}");
    }
}
