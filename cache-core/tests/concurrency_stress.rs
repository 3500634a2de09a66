//! Stress of the single-flight and L1 code under many threads and random cancellation.
//!
//! Invariants checked:
//! - at most one loader of a key runs at any moment (a cancelled leader's loader is dropped
//!   before a waiter takes over);
//! - no lost wake-up: every caller that is not cancelled finishes, within a deadline;
//! - every caller gets the value of its key, never another key's.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use cache_core::{Cache, EntryOptions};

const KEYS: usize = 16;

struct Running<'a>(&'a AtomicUsize);
impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, SeqCst);
    }
}
const CALLERS: usize = 4_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_loader_per_key_and_no_lost_wakeups_under_random_cancellation() {
    for round in 0..5u64 {
        // A tiny TTL so keys keep expiring and new flights keep starting during the round.
        let cache = Cache::builder().l1_capacity(KEYS / 2).build();
        let opts = EntryOptions::new().ttl(Duration::from_millis(2));
        let active: Arc<Vec<AtomicUsize>> =
            Arc::new((0..KEYS).map(|_| AtomicUsize::new(0)).collect());
        let overlaps = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::with_capacity(CALLERS);
        for i in 0..CALLERS {
            let (cache, opts, active, overlaps) = (
                cache.clone(),
                opts.clone(),
                active.clone(),
                overlaps.clone(),
            );
            let key = (i * 7 + round as usize) % KEYS;
            tasks.push(tokio::spawn(async move {
                let v = cache
                    .get_or_load(&format!("k{key}"), &opts, || async {
                        if active[key].fetch_add(1, SeqCst) != 0 {
                            overlaps.fetch_add(1, SeqCst);
                        }
                        // Leaves `active` when the loader ends or is dropped (cancelled).
                        let _running = Running(&active[key]);
                        // Give cancellation and other callers a chance to interleave.
                        for _ in 0..(i % 3) {
                            tokio::task::yield_now().await;
                        }
                        Ok::<_, String>(key)
                    })
                    .await;
                (key, v)
            }));
        }
        // Cancel a pseudo-random tenth of the callers, wherever they are.
        let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ round;
        let mut cancelled = 0;
        for t in &tasks {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if x % 10 == 0 {
                t.abort();
                cancelled += 1;
            }
        }
        let mut finished = 0;
        for t in tasks {
            match tokio::time::timeout(Duration::from_secs(20), t).await {
                Err(_) => panic!("a caller never woke up (round {round})"),
                Ok(Err(e)) => assert!(e.is_cancelled(), "caller panicked: {e}"),
                Ok(Ok((key, v))) => {
                    assert_eq!(v, Ok(key), "a caller got another key's value");
                    finished += 1;
                }
            }
        }
        assert_eq!(
            overlaps.load(SeqCst),
            0,
            "two loaders of one key ran at once"
        );
        assert!(
            finished >= CALLERS - cancelled,
            "{finished} finished, {cancelled} cancelled"
        );
    }
}
