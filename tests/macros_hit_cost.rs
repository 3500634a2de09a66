//! What an L1 hit of a `#[cached]` function costs: its tags and its refresh-ahead reloader are
//! built only when a value is stored or a refresh is due, so on a hit they allocate nothing.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use layercache::{cached, Cache};

/// Counts the allocations of the current thread (tests run on threads of their own).
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // `try_with`: the counter is gone while the thread exits.
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by `rounds` runs of `call`, on this thread.
fn allocations<F: Future>(rounds: u32, call: impl Fn() -> F) -> u64 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // Warm up: the first call loads, the next ones settle lazily initialised state.
    for _ in 0..10 {
        rt.block_on(call());
    }
    let before = ALLOCATIONS.with(Cell::get);
    for _ in 0..rounds {
        rt.block_on(call());
    }
    ALLOCATIONS.with(Cell::get) - before
}

#[cached(key = "a:<id>:<owner>", ttl = "1m", cache = cache)]
async fn plain(cache: &Cache, id: u64, owner: &str) -> u64 {
    id + owner.len() as u64
}

#[cached(key = "b:<id>:<owner>", ttl = "1m", refresh = "50s", tags = ["owner:<owner>", "id:<id>"], cache = cache)]
async fn tagged_and_refreshed(cache: &Cache, id: u64, owner: &str) -> u64 {
    id + owner.len() as u64
}

#[test]
fn tags_and_refresh_add_no_allocation_to_a_hit() {
    let cache = Cache::builder().namespace("hits").build();
    let plain = allocations(100, || plain(&cache, 7, "ann"));
    let tagged = allocations(100, || tagged_and_refreshed(&cache, 7, "ann"));
    assert_eq!(
        tagged, plain,
        "100 hits with tags and refresh allocate as much as 100 without"
    );
}

#[test]
fn logging_at_debug_adds_no_allocation_to_a_hit() {
    let cache = Cache::builder().namespace("hits-logged").build();
    let quiet = allocations(100, || plain(&cache, 7, "ann"));
    // What a service runs with `RUST_LOG=layercache=debug`: hits are TRACE, so no span, no key
    // rendering, no event.
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("layercache=debug"))
        .with_writer(std::io::sink)
        .finish();
    let logged = tracing::subscriber::with_default(subscriber, || {
        allocations(100, || plain(&cache, 7, "ann"))
    });
    assert_eq!(
        logged, quiet,
        "100 hits logged at DEBUG allocate as much as 100 without a subscriber"
    );
}

/// Polls `call` once, with no runtime: a hit is done in one poll.
fn poll_once<F: Future>(call: F) -> Option<F::Output> {
    let mut call = pin!(call);
    match call.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => Some(out),
        Poll::Pending => None,
    }
}

#[cached(cache = cache)]
async fn default_key(cache: &Cache, id: u64, owner: &str) -> u64 {
    id + owner.len() as u64
}

#[test]
fn a_hit_allocates_nothing() {
    let cache = Cache::builder().namespace("hits-free").build();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // An owner with characters to escape, so the key is rewritten in place.
    let owner = "ann:b/c d";
    rt.block_on(async {
        plain(&cache, 7, owner).await;
        tagged_and_refreshed(&cache, 7, owner).await;
        default_key(&cache, 7, owner).await;
    });
    let loads = cache.stats().loads;
    // A thread's first hit allocates that thread's L1 front (`l1_front.rs`): once per thread.
    let first = ALLOCATIONS.with(Cell::get);
    assert_eq!(poll_once(plain(&cache, 7, owner)), Some(16));
    let first = ALLOCATIONS.with(Cell::get) - first;
    assert!(first <= 1, "the first hit allocated {first} times");
    let before = ALLOCATIONS.with(Cell::get);
    for _ in 0..100 {
        assert_eq!(poll_once(plain(&cache, 7, owner)), Some(16));
        assert_eq!(poll_once(tagged_and_refreshed(&cache, 7, owner)), Some(16));
        assert_eq!(poll_once(default_key(&cache, 7, owner)), Some(16));
    }
    let allocated = ALLOCATIONS.with(Cell::get) - before;
    assert_eq!(cache.stats().loads, loads, "every call was a hit");
    assert_eq!(cache.stats().l1_hits, 301);
    assert_eq!(allocated, 0, "300 hits allocated {allocated} times");
}

#[test]
fn a_get_or_load_hit_allocates_nothing() {
    let cache = Cache::builder().namespace("get-or-load-free").build();
    let opts = layercache::EntryOptions::new();
    let load = || async { Ok::<_, std::convert::Infallible>(7u64) };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let _ = cache.get_or_load_local("product:7", &opts, load).await;
    });
    // The thread's first hit allocates its L1 front, once (see `a_hit_allocates_nothing`).
    assert!(matches!(
        poll_once(cache.get_or_load_local("product:7", &opts, load)),
        Some(Ok(7))
    ));
    let before = ALLOCATIONS.with(Cell::get);
    for _ in 0..100 {
        let hit = poll_once(cache.get_or_load_local("product:7", &opts, load));
        assert!(matches!(hit, Some(Ok(7))));
    }
    let allocated = ALLOCATIONS.with(Cell::get) - before;
    assert_eq!(
        cache.stats().loads,
        1,
        "every call after the first was a hit"
    );
    assert_eq!(allocated, 0, "100 hits allocated {allocated} times");
}
