//! `#[cached]` and `#[invalidates]` on plain functions: L1, one loader call per key across
//! threads, the same return kinds as async functions.

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use layercache::{cached, cached_impl, Cache};

mod common;
use common::{cache, Calls};

#[cached(key = "square:<n>", cache = cache)]
fn square(cache: &Cache, calls: &Calls, n: u64) -> u64 {
    calls.hit();
    thread::sleep(Duration::from_millis(20));
    n * n
}

#[test]
fn threads_missing_one_key_run_the_body_once() {
    let (c, calls) = (cache(), Calls::default());
    let barrier = Arc::new(Barrier::new(16));
    let handles: Vec<_> = (0..16)
        .map(|_| {
            let (c, calls, barrier) = (c.clone(), calls.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                square(&c, &calls, 12)
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().ok(), Some(144));
    }
    assert_eq!(calls.get(), 1, "one loader call for 16 threads");
    assert_eq!(square(&c, &calls, 12), 144);
    assert_eq!(calls.get(), 1, "then a hit");
}

#[derive(Debug, Clone, PartialEq)]
struct NotFound;

#[cached(key = "find:<n>", cache = cache, cache_none = "1m")]
fn find(cache: &Cache, calls: &Calls, n: u32) -> Option<u32> {
    calls.hit();
    (n % 2 == 0).then_some(n)
}

#[cached(key = "parse:<text>", cache = cache)]
fn parse(cache: &Cache, calls: &Calls, text: &str) -> Result<u32, NotFound> {
    calls.hit();
    let n: u32 = text.parse().map_err(|_| NotFound)?;
    if n == 0 {
        return Err(NotFound);
    }
    Ok(n)
}

#[test]
fn option_and_result_behave_as_for_async_functions() {
    let (c, calls) = (cache(), Calls::default());
    assert_eq!(find(&c, &calls, 2), Some(2));
    assert_eq!(find(&c, &calls, 3), None);
    find(&c, &calls, 2);
    find(&c, &calls, 3);
    assert_eq!(calls.get(), 2, "Some and, with cache_none, None are cached");

    let calls = Calls::default();
    assert_eq!(parse(&c, &calls, "7"), Ok(7));
    assert_eq!(parse(&c, &calls, "7"), Ok(7));
    assert_eq!(parse(&c, &calls, "x"), Err(NotFound));
    assert_eq!(parse(&c, &calls, "x"), Err(NotFound));
    assert_eq!(calls.get(), 3, "Ok is cached, Err is not");
}

struct Inventory {
    cache: Cache,
    calls: Calls,
}

#[cached_impl(cache = self.cache, ttl = "10m")]
impl Inventory {
    #[cached(key = "stock:<sku>")]
    fn stock(&self, sku: &str) -> u32 {
        self.calls.hit();
        sku.len() as u32
    }

    #[invalidates(self.stock(sku))]
    fn restock(&self, sku: &str) -> Result<(), NotFound> {
        let _ = sku;
        Ok(())
    }

    #[invalidates(key = "stock:<sku>")]
    fn fail_restock(&self, sku: &str) -> Result<(), NotFound> {
        let _ = sku;
        Err(NotFound)
    }
}

#[test]
fn invalidates_on_a_plain_fn_drops_the_entry_before_returning() {
    let inv = Inventory {
        cache: cache(),
        calls: Calls::default(),
    };
    inv.stock("ab");
    inv.stock("ab");
    assert_eq!(inv.calls.get(), 1);
    assert_eq!(inv.fail_restock("ab"), Err(NotFound));
    inv.stock("ab");
    assert_eq!(inv.calls.get(), 1, "an Err invalidates nothing");
    assert_eq!(inv.restock("ab"), Ok(()));
    inv.stock("ab");
    assert_eq!(inv.calls.get(), 2, "the next call loads again");
}
