//! Return kinds, fail-safe (stale on error or timeout), refresh-ahead, jitter and L1 TTL.
//!
//! L1 time is moved by hand (`test_clock`, per thread: every test runs on a current-thread
//! runtime), so no test sleeps for a TTL or depends on the machine being fast.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use cache_core::__private::{CacheInternals, LoadPlan};
use cache_core::clock::test_clock;
use cache_core::{Cache, EntryOptions, MemoryL2};

/// Moves L1 time just past `d`.
fn past(d: Duration) {
    test_clock::advance(d + Duration::from_millis(1));
}

/// `key` loaded as 1 with a refresh point at `SHORT`, now past it; returns its options.
async fn loaded_and_due_for_refresh(cache: &Cache, key: &str) -> EntryOptions {
    let opts = EntryOptions::new()
        .ttl(Duration::from_secs(60))
        .refresh(SHORT);
    cache
        .get_or_load(key, &opts, || async { Ok::<_, String>(1u32) })
        .await
        .unwrap();
    past(SHORT);
    opts
}

/// A TTL, stale window or refresh point that only `past` gets through: far longer than any
/// stall of a loaded machine, far shorter than the 60 s of values meant to stay fresh.
const SHORT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn hits_do_not_run_the_loader_and_err_is_never_cached() {
    let cache = Cache::builder().build();
    let opts = EntryOptions::new();
    let calls = AtomicUsize::new(0);
    for _ in 0..3 {
        let r = cache
            .get_or_load("e", &opts, || async {
                calls.fetch_add(1, SeqCst);
                Err::<u32, _>("no")
            })
            .await;
        assert_eq!(r, Err("no"));
    }
    assert_eq!(calls.load(SeqCst), 3, "errors are not cached");
    for _ in 0..3 {
        let r = cache
            .get_or_load("v", &opts, || async {
                calls.fetch_add(1, SeqCst);
                Ok::<u32, &str>(5)
            })
            .await;
        assert_eq!(r, Ok(5));
    }
    assert_eq!(calls.load(SeqCst), 4);
    assert_eq!(cache.stats().l1_hits, 2);
}

#[tokio::test]
async fn none_is_cached_only_with_cache_none() {
    let cache = Cache::builder().build();
    let calls = AtomicUsize::new(0);
    let load = |opts: EntryOptions, key: &'static str| {
        let cache = cache.clone();
        let calls = &calls;
        async move {
            cache
                .load(
                    cache.key(key),
                    &opts,
                    LoadPlan::<Option<u32>, ()>::shared().empty_when(Option::is_none),
                    || async {
                        calls.fetch_add(1, SeqCst);
                        Ok(None)
                    },
                )
                .await
        }
    };
    load(EntryOptions::new(), "a").await.unwrap();
    load(EntryOptions::new(), "a").await.unwrap();
    assert_eq!(calls.load(SeqCst), 2, "None not cached by default");
    let with = EntryOptions::new().cache_none(Duration::from_secs(60));
    load(with.clone(), "b").await.unwrap();
    load(with, "b").await.unwrap();
    assert_eq!(calls.load(SeqCst), 3, "None cached with cache_none");
}

#[tokio::test]
async fn unless_returns_the_value_without_storing_it() {
    let cache = Cache::builder().build();
    let calls = AtomicUsize::new(0);
    let big = |v: &u32| *v > 10;
    for _ in 0..2 {
        let v = cache
            .load(
                cache.key("u"),
                &EntryOptions::new(),
                LoadPlan::<u32, ()>::local().unless(&big),
                || async {
                    calls.fetch_add(1, SeqCst);
                    Ok(99)
                },
            )
            .await;
        assert_eq!(v, Ok(99));
    }
    assert_eq!(calls.load(SeqCst), 2);
}

#[tokio::test]
async fn an_expired_value_is_served_stale_when_the_loader_fails() {
    let cache = Cache::builder().build();
    let opts = EntryOptions::new()
        .ttl(SHORT)
        .stale(Duration::from_secs(3600));
    let v = cache
        .get_or_load("p", &opts, || async { Ok::<_, String>(1u32) })
        .await;
    assert_eq!(v, Ok(1));
    past(SHORT);
    let v = cache
        .get_or_load("p", &opts, || async {
            Err::<u32, _>("db down".to_string())
        })
        .await;
    assert_eq!(v, Ok(1), "stale value served");
    let s = cache.stats();
    assert_eq!((s.stale_served, s.load_errors), (1, 1));
    // Without a stale window the error reaches the caller.
    let plain = EntryOptions::new().ttl(SHORT);
    cache
        .get_or_load("q", &plain, || async { Ok::<_, String>(1u32) })
        .await
        .unwrap();
    past(SHORT);
    let v = cache
        .get_or_load("q", &plain, || async {
            Err::<u32, _>("db down".to_string())
        })
        .await;
    assert_eq!(v, Err("db down".to_string()));
}

// Paused: the runtime jumps to the loader timeout as soon as everything waits on it.
#[tokio::test(start_paused = true)]
async fn a_slow_loader_is_cut_short_by_timeout_when_stale_exists() {
    let cache = Cache::builder().build();
    let opts = EntryOptions::new()
        .ttl(SHORT)
        .stale(Duration::from_secs(3600))
        .timeout(Duration::from_millis(50));
    cache
        .get_or_load("t", &opts, || async { Ok::<_, String>(1u32) })
        .await
        .unwrap();
    past(SHORT);
    let v = tokio::time::timeout(
        Duration::from_secs(10),
        cache.get_or_load("t", &opts, std::future::pending::<Result<u32, String>>),
    )
    .await
    .expect("timeout did not cut the loader short");
    assert_eq!(v, Ok(1));
    assert_eq!(cache.stats().stale_served, 1);
}

#[tokio::test]
async fn the_stale_window_ends() {
    let cache = Cache::builder().build();
    let opts = EntryOptions::new().ttl(SHORT).stale(SHORT);
    cache
        .get_or_load("w", &opts, || async { Ok::<_, String>(1u32) })
        .await
        .unwrap();
    past(SHORT * 2);
    let v = cache
        .get_or_load("w", &opts, || async { Err::<u32, _>("down".to_string()) })
        .await;
    assert_eq!(v, Err("down".to_string()));
}

// Current-thread: the background reload runs on this thread, under the same L1 clock.
#[tokio::test]
async fn refresh_ahead_with_a_refresher_returns_at_once_and_reloads_once_in_background() {
    let cache = Cache::builder().build();
    let opts = EntryOptions::new()
        .ttl(Duration::from_secs(60))
        .refresh(SHORT);
    let calls = Arc::new(AtomicUsize::new(0));
    let plan = || {
        let calls = calls.clone();
        LoadPlan::<u32, String>::shared().refresher(Arc::new(move || {
            let calls = calls.clone();
            Box::pin(async move { Ok(calls.fetch_add(1, SeqCst) as u32 + 100) })
        }))
    };
    let first = cache
        .load(cache.key("r"), &opts, plan(), || async { Ok(1u32) })
        .await;
    assert_eq!(first, Ok(1));
    past(SHORT);
    // Many hits after the refresh point: all return the current value at once, one reload runs.
    for _ in 0..20 {
        let v = cache
            .load(cache.key("r"), &opts, plan(), std::future::pending)
            .await;
        assert!(v == Ok(1) || v == Ok(100), "{v:?}");
    }
    let start = std::time::Instant::now();
    loop {
        let v = cache
            .load(cache.key("r"), &opts, plan(), std::future::pending)
            .await;
        if v == Ok(100) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "refresh never landed"
        );
        tokio::task::yield_now().await;
    }
    assert_eq!(calls.load(SeqCst), 1, "exactly one background reload");
    assert_eq!(cache.stats().refreshes, 1);
}

#[tokio::test]
async fn refresh_ahead_without_a_refresher_reloads_in_band() {
    let cache = Cache::builder().build();
    let opts = loaded_and_due_for_refresh(&cache, "r").await;
    let v = cache
        .get_or_load("r", &opts, || async { Ok::<_, String>(2u32) })
        .await;
    assert_eq!(v, Ok(2));
    let v = cache
        .get_or_load("r", &opts, || async { Ok::<_, String>(3u32) })
        .await;
    assert_eq!(v, Ok(2), "the refreshed value is a fresh hit");
}

#[tokio::test]
async fn a_failed_refresh_is_tried_again_by_a_later_hit() {
    let cache = Cache::builder().build();
    let opts = loaded_and_due_for_refresh(&cache, "r").await;
    let calls = AtomicUsize::new(0);
    let failing = || async {
        calls.fetch_add(1, SeqCst);
        Err::<u32, _>("db down".to_string())
    };
    for attempt in 1..=2 {
        let v = cache.get_or_load("r", &opts, failing).await;
        assert_eq!(v, Ok(1), "the current value while the refresh fails");
        assert_eq!(
            calls.load(SeqCst),
            attempt,
            "each hit tries the refresh again"
        );
    }
    let v = cache
        .get_or_load("r", &opts, || async { Ok::<_, String>(2u32) })
        .await;
    assert_eq!(v, Ok(2), "a refresh that works replaces the value");
    assert_eq!(cache.stats().refreshes, 3);
}

#[tokio::test]
async fn l1_ttl_is_never_longer_than_ttl_and_l2_serves_after_l1_expires() {
    let l2 = MemoryL2::new();
    let cache = Cache::builder().l2(l2.clone()).build();
    let opts = EntryOptions::new()
        .ttl(Duration::from_secs(60))
        .l1_ttl(SHORT);
    cache
        .get_or_load("x", &opts, || async { Ok::<_, String>(1u32) })
        .await
        .unwrap();
    past(SHORT);
    let v = cache
        .get_or_load("x", &opts, || async { Ok::<_, String>(2u32) })
        .await;
    assert_eq!(v, Ok(1), "L1 expired, L2 still fresh");
    assert_eq!(cache.stats().l2_hits, 1);
    // l1_ttl longer than ttl is capped at ttl.
    let capped = EntryOptions::new()
        .ttl(SHORT)
        .l1_ttl(Duration::from_secs(3600))
        .l2(false);
    cache
        .get_or_load("y", &capped, || async { Ok::<_, String>(1u32) })
        .await
        .unwrap();
    past(SHORT);
    let v = cache
        .get_or_load("y", &capped, || async { Ok::<_, String>(2u32) })
        .await;
    assert_eq!(v, Ok(2));
}

#[tokio::test]
async fn jitter_spreads_expiry() {
    let l2 = MemoryL2::new();
    let cache = Cache::builder().l2(l2.clone()).build();
    let opts = EntryOptions::new()
        .ttl(Duration::from_secs(60))
        .jitter(Duration::from_secs(60));
    let mut fresh_untils = std::collections::HashSet::new();
    for i in 0..20 {
        let key = format!("j{i}");
        cache
            .get_or_load(&key, &opts, || async { Ok::<_, String>(1u32) })
            .await
            .unwrap();
        let raw = l2.raw_get(cache.key(&key).as_str()).unwrap();
        let env = cache_core::__private::envelope::Envelope::decode(&raw, 1 << 20).unwrap();
        let ttl = env.fresh_until.0 - env.created.0;
        assert!((60_000..=120_000).contains(&ttl), "ttl {ttl}");
        fresh_untils.insert(ttl / 1000);
    }
    assert!(
        fresh_untils.len() > 3,
        "jitter did not vary TTLs: {fresh_untils:?}"
    );
}

#[tokio::test]
async fn lazy_tags_and_refresher_are_built_only_when_needed() {
    let cache = Cache::builder().build();
    let opts = EntryOptions::new()
        .ttl(Duration::from_secs(60))
        .refresh(SHORT);
    let tag_calls = AtomicUsize::new(0);
    let refresher_calls = AtomicUsize::new(0);
    let make_tags = || {
        tag_calls.fetch_add(1, SeqCst);
        vec!["catalog".to_string()]
    };
    let make_refresher = || -> cache_core::__private::Refresher<u32, String> {
        refresher_calls.fetch_add(1, SeqCst);
        Arc::new(|| Box::pin(async { Ok(2u32) }))
    };
    for _ in 0..5 {
        let plan = LoadPlan::<u32, String>::shared()
            .tags(&make_tags)
            .refresher_with(&make_refresher);
        let v = cache
            .load(cache.key("k"), &opts, plan, || async { Ok(1u32) })
            .await;
        assert_eq!(v, Ok(1));
    }
    assert_eq!(
        tag_calls.load(SeqCst),
        1,
        "tags rendered once, when the value was stored"
    );
    assert_eq!(
        refresher_calls.load(SeqCst),
        0,
        "no refresher built on plain hits"
    );
    cache.invalidate_tag("catalog").await;
    let plan = LoadPlan::<u32, String>::shared().tags(&make_tags);
    let v = cache
        .load(cache.key("k"), &opts, plan, || async { Ok(3u32) })
        .await;
    assert_eq!(v, Ok(3), "the lazily rendered tag was stamped on the entry");
}

#[tokio::test]
async fn get_fresh_serves_only_fresh_hits_without_a_due_refresh() {
    let cache = Cache::builder().build();
    let opts = EntryOptions::new()
        .ttl(Duration::from_secs(60))
        .refresh(SHORT);
    let key = cache.key("f");
    assert_eq!(cache.get_fresh::<u32>(&key, &opts), None);
    cache
        .get_or_load("f", &opts, || async { Ok::<_, String>(1u32) })
        .await
        .unwrap();
    assert_eq!(cache.get_fresh::<u32>(&key, &opts), Some(1));
    assert_eq!(
        cache.get_fresh::<String>(&key, &opts),
        None,
        "another type is a miss"
    );
    past(SHORT);
    assert_eq!(
        cache.get_fresh::<u32>(&key, &opts),
        None,
        "a due refresh goes through load"
    );
    assert_eq!(cache.stats().l1_hits, 1);
}
