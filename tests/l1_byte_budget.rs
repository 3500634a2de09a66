//! A byte budget bounds L1 by what its values hold on the heap: filled with ten times the
//! budget, the sum of the weights stays within it and the entry count matches the values' sizes.
//! Deterministic: weights and entry counts, not resident memory (the memory bench measures that).

use std::convert::Infallible;
use std::sync::Arc;

use layercache::{cached, Cache, EntryOptions, Weigh};

/// The budget of every cache here.
const BUDGET: u64 = 1 << 20;

fn budgeted() -> Cache {
    Cache::builder()
        .namespace("budget")
        // More entries than any fill stores: only the byte budget bounds L1.
        .l1_capacity(1_000_000)
        .l1_byte_budget(BUDGET)
        .build()
}

/// Checks that `cache`, after a fill of ten times its budget in values of `value_bytes` heap
/// bytes each, holds within its budget, and as many values as the budget has room for.
fn assert_bounded(cache: &Cache, value_bytes: u64, stored: usize) {
    let (weight, entries) = (cache.l1_weight(), cache.l1_len() as u64);
    assert!(
        weight <= BUDGET,
        "the weights ({weight}) stay within the budget ({BUDGET})"
    );
    assert!(
        entries * value_bytes <= BUDGET,
        "{entries} values of {value_bytes} B cannot fit in {BUDGET} B"
    );
    assert!(
        entries * value_bytes >= BUDGET / 2,
        "the budget is used: {entries} of {stored} values of {value_bytes} B kept"
    );
    let per_entry = weight / entries;
    assert!(
        (value_bytes..value_bytes + 1024).contains(&per_entry),
        "an entry weighs its value's heap bytes and a bounded overhead: {per_entry}"
    );
}

/// How many values of `value_bytes` make ten times the budget.
fn ten_budgets(value_bytes: usize) -> usize {
    (10 * BUDGET as usize).div_ceil(value_bytes)
}

#[tokio::test]
async fn strings_through_the_runtime_api_are_weighed_by_their_heap_bytes() {
    let cache = budgeted();
    let opts = EntryOptions::new();
    let n = ten_budgets(4096);
    for i in 0..n {
        let s: Arc<String> = cache
            .get_or_load_local(&format!("s:{i}"), &opts, || async {
                Ok::<_, Infallible>(Arc::new("x".repeat(4096)))
            })
            .await
            .unwrap_or_else(|never| match never {});
        assert_eq!(s.len(), 4096);
    }
    assert_bounded(&cache, 4096, n);
}

#[tokio::test]
async fn get_or_load_weighs_strings_without_an_l2_too() {
    let cache = budgeted();
    let n = ten_budgets(8192);
    for i in 0..n {
        let s: String = cache
            .get_or_load(&format!("s:{i}"), &EntryOptions::new(), || async {
                Ok::<_, Infallible>("y".repeat(8192))
            })
            .await
            .unwrap_or_else(|never| match never {});
        assert_eq!(s.len(), 8192);
    }
    assert_bounded(&cache, 8192, n);
}

/// A value type of the user's, weighed through its `Weigh` impl.
#[derive(Clone)]
struct Page {
    html: String,
}

impl Weigh for Page {
    fn heap_bytes(&self) -> usize {
        self.html.heap_bytes()
    }
}

#[cached(key = "page:<id>", cache = cache)]
async fn page(cache: &Cache, id: usize) -> Page {
    let _ = id;
    Page {
        html: "p".repeat(2048),
    }
}

#[tokio::test]
async fn cached_finds_the_value_types_weigh_impl() {
    let cache = budgeted();
    let n = ten_budgets(2048);
    for id in 0..n {
        assert_eq!(page(&cache, id).await.html.len(), 2048);
    }
    assert_bounded(&cache, 2048, n);
}

#[cached(key = "page_result:<id>", cache = cache)]
async fn page_result(cache: &Cache, id: usize) -> Result<Page, std::io::Error> {
    Ok(page(cache, id + 1_000_000).await)
}

#[tokio::test]
async fn a_result_is_weighed_by_its_ok_value() {
    let cache = budgeted();
    let n = ten_budgets(2048);
    for id in 0..n {
        page_result(&cache, id).await.expect("no error");
    }
    // Each call stores two pages (its own and the inner call's).
    assert!(cache.l1_weight() <= BUDGET);
    assert!(cache.l1_len() as u64 * 2048 <= BUDGET);
}

/// A value type that does not implement `Weigh`.
#[derive(Clone)]
struct Blob(Vec<u8>);

#[cached(key = "blob:<id>", cache = cache, weigh = |b| b.0.capacity())]
async fn blob(cache: &Cache, id: usize) -> Blob {
    let _ = id;
    Blob(vec![7; 3000])
}

#[tokio::test]
async fn weigh_names_the_heap_bytes_of_a_type_without_weigh() {
    let cache = budgeted();
    let n = ten_budgets(3000);
    for id in 0..n {
        assert_eq!(blob(&cache, id).await.0.len(), 3000);
    }
    assert_bounded(&cache, 3000, n);
}

#[cached(key = "opaque:<id>", cache = cache)]
async fn opaque(cache: &Cache, id: usize) -> Blob {
    let _ = id;
    Blob(vec![1; 3000])
}

#[tokio::test]
async fn a_type_without_weigh_still_caches_by_the_fallback_estimate() {
    let cache = budgeted();
    for id in 0..100 {
        opaque(&cache, id).await;
    }
    assert_eq!(
        cache.l1_len(),
        100,
        "no new bound on values: they are cached"
    );
    assert!(
        cache.l1_weight() / 100 < 1024,
        "without a weigher, a value's heap is unknown (the fallback)"
    );
}

#[tokio::test]
async fn options_weigh_and_weigh_by_reach_the_runtime_api() {
    let cache = budgeted();
    let by_trait = EntryOptions::new().weigh::<Page>();
    let n = ten_budgets(2048);
    for i in 0..n {
        cache
            .get_or_load_local(&format!("p:{i}"), &by_trait, || async {
                Ok::<_, Infallible>(Page {
                    html: "q".repeat(2048),
                })
            })
            .await
            .unwrap_or_else(|never| match never {});
    }
    assert_bounded(&cache, 2048, n);

    let cache = budgeted();
    let by_closure = EntryOptions::new().weigh_by(|b: &Blob| b.0.capacity());
    let n = ten_budgets(5000);
    for i in 0..n {
        cache
            .get_or_load_local(&format!("b:{i}"), &by_closure, || async {
                Ok::<_, Infallible>(Blob(vec![0; 5000]))
            })
            .await
            .unwrap_or_else(|never| match never {});
    }
    assert_bounded(&cache, 5000, n);
}

/// A value that goes through L2.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct Doc {
    body: String,
}

impl Weigh for Doc {
    fn heap_bytes(&self) -> usize {
        self.body.heap_bytes()
    }
}

#[cached(key = "doc:<id>", cache = cache, l2)]
async fn doc(cache: &Cache, id: usize) -> Doc {
    let _ = id;
    Doc {
        body: "d".repeat(4000),
    }
}

#[tokio::test]
async fn l2_hits_fill_a_budgeted_l1_within_its_budget() {
    let l2 = layercache::MemoryL2::new();
    let writer = Cache::builder().namespace("docs").l2(l2.clone()).build();
    let reader = Cache::builder()
        .namespace("docs")
        .l1_capacity(1_000_000)
        .l1_byte_budget(BUDGET)
        .l2(l2)
        .build();
    let n = ten_budgets(4000);
    for id in 0..n {
        doc(&writer, id).await;
    }
    for id in 0..n {
        assert_eq!(doc(&reader, id).await.body.len(), 4000);
    }
    assert_eq!(reader.stats().loads, 0, "every read was an L2 hit");
    assert_bounded(&reader, 4000, n);
}
