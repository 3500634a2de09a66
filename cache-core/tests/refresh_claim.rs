//! Refresh-ahead keeps working after a reload that panicked or whose caller was cancelled: the
//! entry's refresh claim is released by a guard, not only on normal completion.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cache_core::__private::{CacheInternals, LoadPlan};
use cache_core::{Cache, EntryOptions};

const DEADLINE: Duration = Duration::from_secs(20);

fn options() -> EntryOptions {
    EntryOptions::new()
        .ttl(Duration::from_secs(600))
        .refresh(Duration::from_millis(1))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_background_refresh_whose_loader_panicked_is_retried_by_a_later_hit() {
    let cache = Cache::builder().build();
    let opts = options();
    let refresher_calls = Arc::new(AtomicUsize::new(0));
    let plan = || {
        let calls = refresher_calls.clone();
        LoadPlan::<u32, String>::shared().refresher(Arc::new(move || {
            let call = calls.fetch_add(1, SeqCst);
            Box::pin(async move {
                if call == 0 {
                    panic!("the first background reload panics");
                }
                Ok(100)
            })
        }))
    };
    let first = cache
        .load(cache.key("k"), &opts, plan(), || async { Ok(1u32) })
        .await;
    assert_eq!(first, Ok(1));
    let start = Instant::now();
    loop {
        let v = cache
            .load(cache.key("k"), &opts, plan(), std::future::pending)
            .await;
        if v == Ok(100) {
            break;
        }
        assert_eq!(v, Ok(1), "hits serve the current value meanwhile");
        assert!(
            start.elapsed() < DEADLINE,
            "no reload after the panicked one: the refresh claim stayed set ({} refresher calls)",
            refresher_calls.load(SeqCst)
        );
        tokio::task::yield_now().await;
    }
    assert!(refresher_calls.load(SeqCst) >= 2);
}

#[tokio::test]
async fn an_in_band_refresh_whose_caller_was_cancelled_is_retried_by_a_later_hit() {
    let cache = Cache::builder().build();
    let opts = options();
    cache
        .get_or_load("k", &opts, || async { Ok::<_, String>(1u32) })
        .await
        .expect("first load");
    // Hit until one call claims the refresh; its loader never finishes and a request timeout
    // drops the call, as a web framework does.
    let start = Instant::now();
    while cache.stats().refreshes == 0 {
        let call = cache.get_or_load("k", &opts, std::future::pending::<Result<u32, String>>);
        let _ = tokio::time::timeout(Duration::from_millis(20), call).await;
        assert!(start.elapsed() < DEADLINE, "the refresh never came due");
    }
    let loads = AtomicUsize::new(0);
    loop {
        let v = cache
            .get_or_load("k", &opts, || async {
                loads.fetch_add(1, SeqCst);
                Ok::<_, String>(2u32)
            })
            .await;
        if v == Ok(2) {
            break;
        }
        assert_eq!(v, Ok(1));
        assert!(
            start.elapsed() < DEADLINE,
            "no reload after the cancelled one: the refresh claim stayed set"
        );
        tokio::task::yield_now().await;
    }
    assert_eq!(loads.load(SeqCst), 1, "one reload after the cancelled one");
}
