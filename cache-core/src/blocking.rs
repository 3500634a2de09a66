//! The synchronous front door: [`load_blocking`] for `#[cached]` on a plain `fn`.
//!
//! It runs the ordinary read path (the same single-flight, so one loader call per key across
//! threads and across sync and async callers) on the calling thread, parking it while it waits
//! for another caller's load. Only the parts that need no async runtime take part: L1 and the
//! in-process single-flight; L2, the distributed lock, loader timeouts and background refresh
//! are turned off for the call.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;

use crate::cache::Cache;
use crate::key::CacheKey;
use crate::load_plan::LoadPlan;
use crate::options::EntryOptions;

/// Gets `key` from L1, or runs `loader` once per key however many threads miss at once (the
/// others block until it is done), and stores its `Ok` value in L1. For synchronous code; the
/// options' `timeout`, `lock` and `l2`, and the plan's L2 codec and refresher, are not used.
pub fn load_blocking<V, E, F>(
    cache: &Cache,
    key: CacheKey,
    opts: &EntryOptions,
    mut plan: LoadPlan<'_, V, E>,
    loader: F,
) -> Result<V, E>
where
    V: Clone + Send + Sync + 'static,
    E: Send + 'static,
    F: FnOnce() -> Result<V, E>,
{
    plan.io = None;
    plan.refresher = None;
    plan.make_refresher = None;
    let mut opts = opts.clone();
    opts.timeout = None;
    opts.lock = false;
    opts.l2 = false;
    block_on(cache.load(key, &opts, plan, move || std::future::ready(loader())))
}

/// Wakes a parked thread.
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs `fut` to completion on this thread, parking it while the future waits.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        // A spurious wake-up only costs another poll.
        std::thread::park();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::__private::CacheInternals;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Barrier;
    use std::time::Duration;

    #[test]
    fn threads_missing_one_key_share_one_load() {
        let cache = Cache::builder().build();
        let loads = Arc::new(AtomicUsize::new(0));
        let barrier = Arc::new(Barrier::new(8));
        let (done, results) = std::sync::mpsc::channel();
        for _ in 0..8 {
            let (cache, loads, barrier, done) =
                (cache.clone(), loads.clone(), barrier.clone(), done.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let key = cache.finish_key({
                    let mut k = cache.key_builder();
                    k.literal("k");
                    k
                });
                let out = load_blocking(
                    &cache,
                    key,
                    &EntryOptions::new(),
                    LoadPlan::<u32, ()>::local(),
                    || {
                        loads.fetch_add(1, Ordering::SeqCst);
                        // Keeps the load in flight so the other threads wait on it; a late
                        // thread hits L1 instead, and the count below holds either way.
                        std::thread::sleep(Duration::from_millis(50));
                        Ok(7)
                    },
                );
                let _ = done.send(out);
            });
        }
        drop(done);
        for _ in 0..8 {
            // A generous deadline instead of `join`: a lost wake-up fails the test rather than
            // parking its threads (and the suite) forever.
            let out = results.recv_timeout(Duration::from_secs(60));
            assert_eq!(out, Ok(Ok(7)), "every thread gets the one load's value");
        }
        assert_eq!(loads.load(Ordering::SeqCst), 1);
    }
}
