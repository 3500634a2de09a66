//! The L2 rules of DESIGN §6 against the in-memory L2: faults degrade to the loader, bad values
//! are misses, invalidations are kept and replayed, the backplane keeps instances consistent.

use std::time::Duration;

use cache_core::__private::envelope::Envelope;
use cache_core::memory_l2::Fault;
use cache_core::{Cache, Codec, EntryOptions, L2Policy, MemoryL2, L2};

fn policy() -> L2Policy {
    L2Policy {
        timeout: Duration::from_millis(30),
        breaker_failures: 3,
        breaker_cool_down: Duration::from_millis(50),
        max_value_size: 4096,
    }
}

fn pair() -> (MemoryL2, Cache, Cache) {
    let l2 = MemoryL2::with_policy(policy());
    let a = Cache::builder().namespace("ns").l2(l2.clone()).build();
    let b = Cache::builder().namespace("ns").l2(l2.clone()).build();
    (l2, a, b)
}

fn opts() -> EntryOptions {
    EntryOptions::new().ttl(Duration::from_secs(60))
}

async fn get(cache: &Cache, key: &str, value: u32) -> u32 {
    cache
        .get_or_load(key, &opts(), || async move { Ok::<_, String>(value) })
        .await
        .unwrap()
}

#[tokio::test]
async fn a_second_instance_serves_from_l2_without_loading() {
    let (_l2, a, b) = pair();
    assert_eq!(get(&a, "k", 1).await, 1);
    assert_eq!(get(&b, "k", 2).await, 1, "B reads A's value from L2");
    assert_eq!(b.stats().l2_hits, 1);
    assert_eq!(b.stats().loads, 0);
}

/// A generous deadline: no call may hang, however slow the machine.
const WAIT: Duration = Duration::from_secs(10);

/// One cache on an L2 whose breaker, once open, stays open for the whole test.
fn with_a_breaker_that_stays_open() -> (MemoryL2, Cache) {
    let l2 = MemoryL2::with_policy(L2Policy {
        breaker_cool_down: Duration::from_secs(3600),
        ..policy()
    });
    let cache = Cache::builder().namespace("ns").l2(l2.clone()).build();
    (l2, cache)
}

#[tokio::test]
async fn failing_or_hanging_l2_degrades_to_the_loader_and_opens_the_breaker() {
    for fault in [Fault::Fail, Fault::Hang] {
        let (l2, a) = with_a_breaker_that_stays_open();
        l2.set_fault(fault);
        for i in 0..10u32 {
            let v = tokio::time::timeout(WAIT, get(&a, &format!("k{i}"), i))
                .await
                .expect("a hanging L2 blocked the caller");
            assert_eq!(v, i);
        }
        let s = a.stats();
        assert_eq!(s.l2_errors, 3, "{fault:?}: three failures open it: {s:?}");
        assert_eq!(s.breaker_opened, 1, "{fault:?}: {s:?}");
        assert_eq!(
            s.breaker_open, 1,
            "{fault:?}: the gauge shows it open: {s:?}"
        );
        assert!(s.l2_skipped >= 7, "then every call skips L2: {s:?}");
    }
}

#[tokio::test]
async fn an_open_breaker_probes_after_its_cool_down_and_closes_when_l2_answers() {
    let (l2, a, _) = pair();
    l2.set_fault(Fault::Fail);
    for i in 0..3u32 {
        get(&a, &format!("k{i}"), i).await;
    }
    assert_eq!(a.stats().breaker_open, 1, "{:?}", a.stats());
    // Recovery: the probe after the cool-down closes the breaker.
    l2.set_fault(Fault::None);
    let before = a.stats().l2_writes;
    let start = std::time::Instant::now();
    for i in 100.. {
        get(&a, &format!("r{i}"), i).await;
        if a.stats().l2_writes > before {
            break;
        }
        assert!(start.elapsed() < WAIT, "L2 never used again");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(a.stats().breaker_open, 0, "closed: {:?}", a.stats());
}

#[tokio::test]
async fn a_replay_stops_at_the_first_failure_while_the_breaker_is_open() {
    const PENDING: u64 = 10;
    let (l2, a) = with_a_breaker_that_stays_open();
    l2.set_fault(Fault::Fail);
    for i in 0..PENDING {
        a.invalidate(&format!("k{i}")).await;
    }
    let s = a.stats();
    assert_eq!(s.pending_invalidations, PENDING, "{s:?}");
    assert_eq!(s.breaker_open, 1, "{s:?}");
    // The background replay probes L2 with the first item; once that fails with the breaker
    // open, the other nine wait for the next round instead of each paying a failure. (On this
    // current-thread runtime a round runs whole between two polls of the test.)
    let before = s.l2_errors;
    let start = std::time::Instant::now();
    while a.stats().l2_errors == before {
        assert!(start.elapsed() < WAIT, "no replay round ran");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let s = a.stats();
    let failures = s.l2_errors - before;
    assert!(
        failures < PENDING,
        "the replay went on after the breaker opened ({failures} failures): {s:?}"
    );
    assert_eq!(s.pending_invalidations, PENDING, "nothing lost: {s:?}");
}

#[tokio::test]
async fn wrong_codec_corrupt_and_future_version_are_misses_then_overwritten() {
    let l2 = MemoryL2::with_policy(policy());
    let json = Cache::builder()
        .namespace("ns")
        .codec(Codec::Json)
        .l2(l2.clone())
        .build();
    let bin = Cache::builder()
        .namespace("ns")
        .codec(Codec::Bincode)
        .l2(l2.clone())
        .build();
    assert_eq!(get(&json, "k", 1).await, 1);
    assert_eq!(
        get(&bin, "k", 2).await,
        2,
        "a JSON value is a miss for bincode"
    );
    assert_eq!(bin.stats().decode_errors, 1);
    let raw = l2.raw_get(bin.key("k").as_str()).unwrap();
    assert_eq!(
        Envelope::decode(&raw, 1 << 20).unwrap().codec_id,
        Codec::Bincode.id(),
        "overwritten"
    );

    let c = Cache::builder().namespace("ns").l2(l2.clone()).build();
    l2.raw_set(c.key("corrupt").as_str(), b"\x00garbage".to_vec());
    assert_eq!(get(&c, "corrupt", 3).await, 3);
    let mut future = l2.raw_get(bin.key("k").as_str()).unwrap();
    future[2] = 99;
    l2.raw_set(c.key("future").as_str(), future);
    assert_eq!(get(&c, "future", 4).await, 4);
    // A valid envelope whose payload does not decode as the requested type.
    let d = Cache::builder().namespace("ns").l2(l2.clone()).build();
    d.get_or_load("typed", &opts(), || async {
        Ok::<_, String>("text".to_string())
    })
    .await
    .unwrap();
    assert_eq!(get(&c, "typed", 5).await, 5);
    assert_eq!(c.stats().decode_errors, 3);
}

#[tokio::test]
async fn oversize_values_stay_in_l1_only() {
    let (l2, a, _) = pair();
    let big = "x".repeat(10_000);
    let v = a
        .get_or_load("big", &opts(), || async { Ok::<_, String>(big.clone()) })
        .await
        .unwrap();
    assert_eq!(v.len(), 10_000);
    assert_eq!(a.stats().l2_oversize, 1);
    assert!(l2.raw_get(a.key("big").as_str()).is_none());
    assert_eq!(a.peek::<String>("big").await.map(|s| s.len()), Some(10_000));
}

#[tokio::test]
async fn invalidation_reaches_the_other_instance_for_key_tag_and_clear() {
    let (_l2, a, b) = pair();
    let tagged = opts().with_tags(vec!["catalog".into()]);
    for (key, value) in [("k", 1u32), ("t", 2), ("c", 3)] {
        let o = if key == "t" { tagged.clone() } else { opts() };
        a.get_or_load(key, &o, || async move { Ok::<_, String>(value) })
            .await
            .unwrap();
        b.get_or_load(key, &o, || async move { Ok::<_, String>(value) })
            .await
            .unwrap();
    }
    assert_eq!(b.peek::<u32>("k").await, Some(1));
    a.invalidate("k").await;
    assert_eq!(
        b.peek::<u32>("k").await,
        None,
        "B's L1 and L2 copy are gone"
    );
    a.invalidate_tag("catalog").await;
    let v = b
        .get_or_load("t", &tagged, || async { Ok::<_, String>(20u32) })
        .await
        .unwrap();
    assert_eq!(v, 20, "tagged entry reloaded on B");
    a.clear().await;
    assert_eq!(b.peek::<u32>("c").await, None);
    assert!(b.stats().invalidations_received >= 3);
    assert_eq!(
        a.stats().invalidations_received,
        0,
        "an instance ignores its own messages"
    );
    assert_eq!(
        a.stats().invalidations_replayed,
        0,
        "nothing failed, nothing replayed"
    );
}

#[tokio::test]
async fn tag_invalidation_covers_l2_values_loaded_elsewhere() {
    let l2 = MemoryL2::with_policy(policy());
    let a = Cache::builder().namespace("ns").l2(l2.clone()).build();
    let tagged = opts().with_tags(vec!["cat:1".into()]);
    for i in 0..100u32 {
        a.get_or_load(
            &format!("p{i}"),
            &tagged,
            || async move { Ok::<_, String>(i) },
        )
        .await
        .unwrap();
    }
    a.invalidate_tag("cat:1").await;
    // A fresh instance that never saw the backplane message must not trust the old L2 values.
    let c = Cache::builder().namespace("ns").l2(l2.clone()).build();
    for i in 0..100u32 {
        let v = c
            .get_or_load(&format!("p{i}"), &tagged, || async move {
                Ok::<_, String>(i + 1000)
            })
            .await
            .unwrap();
        assert_eq!(v, i + 1000);
    }
    assert_eq!(c.stats().l2_hits, 0);
}

#[tokio::test]
async fn a_load_racing_an_invalidation_is_not_stored() {
    let cache = Cache::builder().build();
    let c2 = cache.clone();
    let v = cache
        .get_or_load("k", &opts(), || async move {
            c2.invalidate("k").await;
            Ok::<_, String>(1u32)
        })
        .await
        .unwrap();
    assert_eq!(v, 1);
    assert_eq!(
        cache.peek::<u32>("k").await,
        None,
        "the racing value was not stored"
    );
}

#[tokio::test]
async fn an_invalidation_during_an_outage_is_replayed_before_l2_is_read_again() {
    let (l2, a, b) = pair();
    assert_eq!(get(&a, "k", 1).await, 1);
    assert_eq!(get(&b, "k", 1).await, 1);
    l2.set_fault(Fault::Hang);
    a.invalidate("k").await; // the L2 delete times out: kept for replay
    assert_eq!(a.stats().pending_invalidations, 1);
    // While pending, A never reads L2: it loads the new value.
    assert_eq!(get(&a, "k", 2).await, 2);
    l2.set_fault(Fault::None);
    // No further calls are needed: a background task retries until L2 answers.
    let start = std::time::Instant::now();
    while a.stats().pending_invalidations > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "replay never ran: {:?}",
            a.stats()
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(a.stats().invalidations_replayed, 1);
    assert!(
        l2.raw_get(a.key("k").as_str()).is_none(),
        "old value deleted from L2"
    );
    // B got the replayed message and reloads.
    assert_eq!(get(&b, "k", 3).await, 3);
}

#[tokio::test]
async fn a_backplane_reconnect_clears_l1() {
    let (l2, a, _) = pair();
    get(&a, "k", 1).await;
    assert_eq!(a.l1_len(), 1);
    l2.bounce_backplane();
    assert_eq!(a.l1_len(), 0);
    assert_eq!(a.stats().backplane_reconnects, 1);
}

#[tokio::test]
async fn set_writes_through_and_evicts_other_instances() {
    let (_l2, a, b) = pair();
    assert_eq!(get(&b, "k", 1).await, 1);
    a.set("k", &5u32, &opts()).await;
    assert_eq!(a.peek::<u32>("k").await, Some(5));
    assert_eq!(
        b.peek::<u32>("k").await,
        Some(5),
        "B dropped its L1 copy and read L2"
    );
}

#[tokio::test]
async fn distributed_lock_loads_once_across_instances() {
    let l2 = MemoryL2::with_policy(policy());
    let caches: Vec<Cache> = (0..4)
        .map(|_| Cache::builder().namespace("ns").l2(l2.clone()).build())
        .collect();
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let o = opts().lock(true);
    let mut tasks = Vec::new();
    for c in &caches {
        for _ in 0..50 {
            let (c, calls, o) = (c.clone(), calls.clone(), o.clone());
            tasks.push(tokio::spawn(async move {
                c.get_or_load("cold", &o, || async move {
                    calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    Ok::<_, String>(7u32)
                })
                .await
            }));
        }
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), Ok(7));
    }
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[tokio::test]
async fn long_keys_are_hashed_consistently() {
    let (l2, a, _) = pair();
    let long = "k".repeat(5000);
    assert_eq!(get(&a, &long, 1).await, 1);
    let stored = a.key(&long);
    // The limit bounds the key as stored, with the namespace the L2 adds (`ns:`).
    assert_eq!(L2::stored_key(&l2, stored.as_str()).len(), 1024);
    assert!(l2.raw_get(stored.as_str()).is_some());
    let other = format!("{}x", "k".repeat(4999));
    assert_eq!(
        get(&a, &other, 2).await,
        2,
        "keys sharing a long prefix do not collide"
    );
}

#[tokio::test]
async fn a_call_pays_at_most_one_l2_failure() {
    let (l2, a, _) = pair();
    l2.set_fault(Fault::Hang);
    let tagged = opts().with_tags(vec!["t".into()]);
    let v = a
        .get_or_load("k", &tagged, || async { Ok::<_, String>(1u32) })
        .await
        .unwrap();
    assert_eq!(v, 1);
    // The read timed out; the tag read and the write were not attempted.
    assert_eq!(a.stats().l2_errors, 1, "{:?}", a.stats());
}

#[tokio::test]
async fn a_load_that_started_before_an_invalidation_elsewhere_cannot_write_l2() {
    let (l2, a, b) = pair();
    let release = std::sync::Arc::new(tokio::sync::Notify::new());
    let entered = std::sync::Arc::new(tokio::sync::Notify::new());
    let slow_b = {
        let (b, release, entered) = (b.clone(), release.clone(), entered.clone());
        tokio::spawn(async move {
            b.get_or_load("k", &opts(), || async move {
                entered.notify_one();
                release.notified().await;
                Ok::<_, String>(1u32) // read from the source before A's write
            })
            .await
        })
    };
    entered.notified().await;
    a.invalidate("k").await; // A wrote version 2 to the source, then invalidated
    release.notify_one();
    assert_eq!(
        slow_b.await.unwrap(),
        Ok(1),
        "B's caller still gets what B read"
    );
    assert!(
        l2.raw_get(a.key("k").as_str()).is_none(),
        "the old value never reached L2"
    );
    assert_eq!(get(&a, "k", 2).await, 2, "A loads the new value");
}

#[tokio::test]
async fn a_caller_arriving_after_an_invalidation_does_not_join_the_older_load() {
    let cache = Cache::builder().build();
    let release = std::sync::Arc::new(tokio::sync::Notify::new());
    let entered = std::sync::Arc::new(tokio::sync::Notify::new());
    let old = {
        let (cache, release, entered) = (cache.clone(), release.clone(), entered.clone());
        tokio::spawn(async move {
            cache
                .get_or_load("k", &opts(), || async move {
                    entered.notify_one();
                    release.notified().await;
                    Ok::<_, String>(1u32)
                })
                .await
        })
    };
    entered.notified().await;
    cache.invalidate("k").await;
    let new = cache
        .get_or_load("k", &opts(), || async { Ok::<_, String>(2u32) })
        .await;
    assert_eq!(new, Ok(2), "the caller after the invalidation loaded anew");
    release.notify_one();
    assert_eq!(old.await.unwrap(), Ok(1));
    assert_eq!(
        cache.peek::<u32>("k").await,
        Some(2),
        "the older load did not overwrite"
    );
}

/// Issue 10 point 4: a reader never runs the replay of pending invalidations in its own call
/// (the background task does), so it pays no L2 call for them: here L2 hangs, and the reader's
/// call makes no L2 call at all (an inline replay would wait out a timeout in it).
#[tokio::test]
async fn a_reader_never_replays_pending_invalidations_in_its_call() {
    // A breaker that stays closed: only the journal keeps the reader off L2.
    let l2 = MemoryL2::with_policy(L2Policy {
        breaker_failures: 1000,
        ..policy()
    });
    let a = Cache::builder().namespace("ns").l2(l2.clone()).build();
    assert_eq!(get(&a, "k", 1).await, 1);
    l2.set_fault(Fault::Hang);
    a.invalidate("k").await;
    assert!(a.stats().pending_invalidations >= 1);
    let before = a.stats();
    assert_eq!(get(&a, "k", 2).await, 2);
    let after = a.stats();
    assert_eq!(
        after.l2_errors, before.l2_errors,
        "no L2 call in the reader's call: {after:?}"
    );
    assert!(
        after.l2_skipped > before.l2_skipped,
        "L2 skipped while pending"
    );
}

/// Issue 10 point 4: once L2 answers again, the pending invalidations reach it and the other
/// instances without waiting for the breaker's cool-down (here a minute) or for any call.
#[tokio::test]
async fn pending_invalidations_reach_everyone_soon_after_l2_is_back_whatever_the_cool_down() {
    let l2 = MemoryL2::with_policy(L2Policy {
        breaker_cool_down: Duration::from_secs(60),
        ..policy()
    });
    let a = Cache::builder().namespace("ns").l2(l2.clone()).build();
    let b = Cache::builder().namespace("ns").l2(l2.clone()).build();
    assert_eq!(get(&a, "k", 1).await, 1);
    assert_eq!(get(&b, "k", 1).await, 1);
    l2.set_fault(Fault::Fail);
    for i in 0..5 {
        a.invalidate(&format!("other:{i}")).await;
    }
    a.invalidate("k").await;
    assert!(a.stats().breaker_open == 1, "breaker open: {:?}", a.stats());
    l2.set_fault(Fault::None);
    let start = std::time::Instant::now();
    while a.stats().pending_invalidations > 0 || get(&b, "k", 2).await != 2 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "recovery waited for the cool-down: {:?}",
            a.stats()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(a.stats().breaker_open, 0, "the replay closed the breaker");
    assert_eq!(get(&a, "k", 3).await, 2, "A reads L2 again at once");
}
