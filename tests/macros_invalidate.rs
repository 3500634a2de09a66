//! `#[invalidates]` against the runtime: the writer removes exactly what the reader cached.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use layercache::{cached, invalidates, Cache};
use layercache_test_support::eventually;

mod common;
use common::{cache, Calls};

/// A generous deadline for what happens in the background.
const WAIT: Duration = Duration::from_secs(10);

/// Readers and writers in another module, reached by path.
mod catalog {
    use super::*;

    #[cached(key = "price:<sku>:<region>", cache = cache)]
    pub async fn price(cache: &Cache, calls: &Calls, sku: &str, region: u8) -> u64 {
        calls.hit();
        sku.len() as u64 * u64::from(region)
    }
}

#[derive(Debug, PartialEq)]
struct Rejected;

#[invalidates(catalog::price(cache, calls, sku, region))]
async fn set_price(
    cache: &Cache,
    calls: &Calls,
    sku: String,
    region: u8,
    ok: bool,
) -> Result<(), Rejected> {
    if ok {
        Ok(())
    } else {
        Err(Rejected)
    }
}

#[tokio::test]
async fn invalidates_makes_the_next_call_reload() {
    let (c, calls) = (cache(), Calls::default());
    assert_eq!(catalog::price(&c, &calls, "abc", 2).await, 6);
    assert_eq!(catalog::price(&c, &calls, "abc", 2).await, 6);
    assert_eq!(catalog::price(&c, &calls, "abc", 3).await, 9);
    assert_eq!(calls.get(), 2);

    set_price(&c, &calls, "abc".to_owned(), 2, true).await.ok();
    assert_eq!(catalog::price(&c, &calls, "abc", 2).await, 6);
    assert_eq!(calls.get(), 3, "the invalidated entry reloads");
    assert_eq!(catalog::price(&c, &calls, "abc", 3).await, 9);
    assert_eq!(calls.get(), 3, "other arguments keep their entry");
}

#[tokio::test]
async fn an_err_from_the_writer_invalidates_nothing() {
    let (c, calls) = (cache(), Calls::default());
    catalog::price(&c, &calls, "x", 1).await;
    assert_eq!(
        set_price(&c, &calls, "x".to_owned(), 1, false).await,
        Err(Rejected)
    );
    catalog::price(&c, &calls, "x", 1).await;
    assert_eq!(calls.get(), 1);
}

#[cached(key = "doc:<id>", tags = ["docs", "owner:<owner>"], cache = cache)]
async fn doc(cache: &Cache, calls: &Calls, id: u32, owner: &str) -> String {
    calls.hit();
    format!("{owner}/{id}")
}

struct Doc {
    id: u32,
    owner: String,
}

/// Keys and tags as templates over the writer's own parameters; the body consumes `d`.
#[invalidates(key = ["doc:<d.id>"], tags = ["owner:<d.owner>"], cache = cache)]
async fn save_doc(cache: &Cache, d: Doc) -> usize {
    let Doc { id, owner } = d;
    id as usize + owner.len()
}

#[invalidates(tags = ["docs"], cache = cache)]
async fn reindex(cache: &Cache) {}

#[tokio::test]
async fn key_and_tag_templates_invalidate() {
    let (c, calls) = (cache(), Calls::default());
    doc(&c, &calls, 1, "ann").await;
    doc(&c, &calls, 2, "ann").await;
    doc(&c, &calls, 3, "bob").await;
    assert_eq!(calls.get(), 3);

    // The key of doc 3 and the tag of ann's docs.
    let n = save_doc(
        &c,
        Doc {
            id: 3,
            owner: "ann".into(),
        },
    )
    .await;
    assert_eq!(n, 6);
    for (id, owner) in [(1, "ann"), (2, "ann"), (3, "bob")] {
        doc(&c, &calls, id, owner).await;
    }
    assert_eq!(calls.get(), 6);

    reindex(&c).await;
    doc(&c, &calls, 3, "bob").await;
    assert_eq!(calls.get(), 7);
}

struct Inventory {
    cache: Cache,
    calls: Calls,
    stock: std::sync::Mutex<u32>,
    seen_in_body: std::sync::Mutex<Option<u32>>,
}

impl Inventory {
    #[cached(key = "stock:<sku>", cache = self.cache)]
    async fn stock(&self, sku: &str) -> u32 {
        self.calls.hit();
        let _ = sku;
        *self.stock.lock().unwrap()
    }

    #[invalidates(self.stock(sku))]
    async fn add(&self, sku: &str, n: u32) {
        *self.stock.lock().unwrap() += n;
    }

    /// Path syntax; `before` makes the body see a fresh value rather than the cached one.
    #[invalidates(Self::stock(self, sku), before)]
    async fn double(&self, sku: &str) {
        // Another change lands while this writer runs; without `before` the cached 5 would win.
        *self.stock.lock().unwrap() *= 2;
        let seen = self.stock(sku).await;
        *self.seen_in_body.lock().unwrap() = Some(seen);
    }
}

#[tokio::test]
async fn methods_invalidate_in_the_readers_cache() {
    let inv = Inventory {
        cache: cache(),
        calls: Calls::default(),
        stock: std::sync::Mutex::new(5),
        seen_in_body: std::sync::Mutex::new(None),
    };
    assert_eq!(inv.stock("a").await, 5);
    inv.add("a", 1).await;
    assert_eq!(inv.stock("a").await, 6);
    assert_eq!(inv.calls.get(), 2);
}

#[tokio::test]
async fn before_invalidates_before_the_body_runs() {
    let inv = Inventory {
        cache: cache(),
        calls: Calls::default(),
        stock: std::sync::Mutex::new(5),
        seen_in_body: std::sync::Mutex::new(None),
    };
    assert_eq!(inv.stock("a").await, 5);
    inv.double("a").await;
    assert_eq!(
        *inv.seen_in_body.lock().unwrap(),
        Some(10),
        "the body read through a fresh load"
    );
    assert_eq!(inv.stock("a").await, 10);
    assert_eq!(
        inv.calls.get(),
        3,
        "loaded at first, in the body, and after the writer"
    );
}

#[derive(Clone)]
struct Feed {
    cache: Cache,
    version: Arc<AtomicUsize>,
}

impl Feed {
    #[cached(key = "feed:<name>", ttl = "10s", refresh = "100ms", cache = self.cache)]
    async fn headline(&self, name: &str) -> String {
        format!("{name} v{}", self.version.load(Ordering::SeqCst))
    }
}

#[tokio::test]
async fn refresh_reloads_in_the_background_with_owned_copies() {
    let feed = Feed {
        cache: cache(),
        version: Arc::default(),
    };
    assert_eq!(feed.headline("news").await, "news v0");
    feed.version.store(1, Ordering::SeqCst);
    // Until the refresh is due, and on the call that finds it due, the current value comes back.
    eventually(WAIT, "a refresh started", || async {
        assert_eq!(feed.headline("news").await, "news v0");
        feed.cache.stats().refreshes >= 1
    })
    .await;
    // ...and the reload lands in the background.
    eventually(WAIT, "the refreshed value is served", || async {
        feed.headline("news").await == "news v1"
    })
    .await;
}

struct Library {
    cache: Cache,
    shelf: &'static str,
    calls: Calls,
}

impl Library {
    /// Tags rendered when the value is stored: from `self`, a reference and an integer.
    #[cached(key = "book:<id>", tags = ["shelf:<self.shelf>", "author:<author>", "book:<id>"], cache = self.cache)]
    async fn book(&self, id: u64, author: &str) -> String {
        self.calls.hit();
        format!("{author}#{id}")
    }

    /// A tag over an argument taken by value, which the body consumes: rendered before the call.
    #[cached(key = "notes:<id>", tags = ["author:<author>"], cache = self.cache)]
    async fn notes(&self, id: u64, author: String) -> String {
        self.calls.hit();
        author + "'s notes"
    }
}

async fn read_all(lib: &Library) {
    lib.book(1, "ann").await;
    lib.book(2, "bob").await;
    lib.notes(1, "ann".to_owned()).await;
}

#[tokio::test]
async fn tags_rendered_when_the_value_is_stored_still_invalidate() {
    let lib = Library {
        cache: cache(),
        shelf: "north",
        calls: Calls::default(),
    };
    read_all(&lib).await;
    read_all(&lib).await;
    assert_eq!(lib.calls.get(), 3, "hits do not reload");

    lib.cache.invalidate_tag("author:ann").await;
    read_all(&lib).await;
    assert_eq!(
        lib.calls.get(),
        5,
        "ann's book and notes reload, bob's book does not"
    );

    lib.cache.invalidate_tag("book:2").await;
    read_all(&lib).await;
    assert_eq!(lib.calls.get(), 6, "only book 2 reloads");

    lib.cache.invalidate_tag("shelf:north").await;
    read_all(&lib).await;
    assert_eq!(lib.calls.get(), 8, "both books reload");
}

#[derive(Clone)]
struct Quotes {
    cache: Cache,
    version: Arc<AtomicUsize>,
    loads: Calls,
    /// Holds every load after the first until the test adds a permit.
    gate: Arc<tokio::sync::Semaphore>,
}

impl Quotes {
    /// `symbol` is taken by value, so the body gets a copy while the reloader's recipe reads it.
    #[cached(key = "quote:<symbol>", ttl = "10s", refresh = "100ms", tags = ["market:<market>"], cache = self.cache)]
    async fn quote(&self, symbol: String, market: &str) -> String {
        if self.loads.hit() > 1 {
            self.gate.acquire().await.map(|p| p.forget()).ok();
        }
        format!("{symbol}@{market} v{}", self.version.load(Ordering::SeqCst))
    }
}

#[tokio::test]
async fn refresh_reloads_in_the_background_and_keeps_the_tags() {
    let q = Quotes {
        cache: cache(),
        version: Arc::default(),
        loads: Calls::default(),
        gate: Arc::new(tokio::sync::Semaphore::new(0)),
    };
    let quote = || q.quote("ACME".to_owned(), "xnys");
    assert_eq!(quote().await, "ACME@xnys v0");
    q.version.store(1, Ordering::SeqCst);

    // Once due for refresh, the reload waits on the gate: the calls return (within a generous
    // deadline) only because it runs in the background.
    eventually(WAIT, "the reload started on its own", || async {
        let current = tokio::time::timeout(WAIT, quote()).await;
        assert_eq!(current.as_deref(), Ok("ACME@xnys v0"));
        q.loads.get() == 2
    })
    .await;
    q.gate.add_permits(1);
    eventually(WAIT, "the refreshed value is served", || async {
        quote().await == "ACME@xnys v1"
    })
    .await;

    // The refreshed entry carries the function's tags.
    q.version.store(2, Ordering::SeqCst);
    q.gate.add_permits(1);
    q.cache.invalidate_tag("market:xnys").await;
    assert_eq!(quote().await, "ACME@xnys v2");
    assert_eq!(q.loads.get(), 3);
}
