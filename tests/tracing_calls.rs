//! What `RUST_LOG=layercache=…` shows of a cached call: one span `layercache.call` with the
//! function's path, the key as stored (in Redis: `ns:@:rest`) and the outcome; L1 hits
//! only at TRACE; never a value.
#![cfg(all(feature = "redis", feature = "json"))]

use std::io::Write;
use std::sync::{Arc, Mutex};

use layercache::{cached, Cache, RedisL2};
use layercache_test_support::{namespace, RedisServer};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// Everything the subscriber wrote.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("not poisoned")).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("not poisoned").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

/// Runs `body` on a runtime of this thread with a fmt subscriber filtered by `filter`; returns
/// what it logged.
fn logged<F: std::future::Future<Output = ()>>(filter: &str, body: F) -> String {
    let out = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(filter))
        .with_writer(out.clone())
        .with_ansi(false)
        .finish();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    tracing::subscriber::with_default(subscriber, || runtime.block_on(body));
    out.text()
}

const SECRET: &str = "value-that-must-never-be-logged";

#[cached(key = "user:<id>", ttl = "5m", l2, cache = cache)]
async fn get_user(cache: &Cache, id: u64) -> Result<String, std::io::Error> {
    if id == 0 {
        return Err(std::io::Error::other("no user 0"));
    }
    Ok(format!("{SECRET} {id}"))
}

/// Lines that mention `needle`.
fn lines_with<'a>(log: &'a str, needle: &str) -> Vec<&'a str> {
    log.lines().filter(|l| l.contains(needle)).collect()
}

#[test]
fn debug_shows_each_load_with_function_key_and_outcome_but_not_l1_hits() {
    let log = logged("layercache=debug", async {
        let cache = Cache::builder().namespace("trace-l1").build();
        get_user(&cache, 7).await.expect("loads");
        get_user(&cache, 7).await.expect("hits");
        get_user(&cache, 0).await.expect_err("fails");
    });
    let loaded = lines_with(&log, "outcome=loaded");
    assert_eq!(loaded.len(), 1, "one load:\n{log}");
    assert!(
        loaded[0].contains("function=tracing_calls::get_user")
            && loaded[0].contains("key=trace-l1:user:7"),
        "{log}"
    );
    assert_eq!(lines_with(&log, "outcome=error").len(), 1, "{log}");
    assert!(
        lines_with(&log, "l1_hit").is_empty(),
        "hits are TRACE:\n{log}"
    );
    assert!(!log.contains(SECRET), "a value was logged:\n{log}");
}

#[test]
fn trace_also_shows_l1_hits() {
    let log = logged("layercache=trace", async {
        let cache = Cache::builder().namespace("trace-hits").build();
        for _ in 0..3 {
            get_user(&cache, 1).await.expect("loads, then hits");
        }
    });
    let hits = lines_with(&log, "outcome=l1_hit");
    assert_eq!(hits.len(), 2, "{log}");
    assert!(hits[0].contains("key=trace-hits:user:1"), "{log}");
    assert!(!log.contains(SECRET), "a value was logged:\n{log}");
}

#[test]
fn a_bypassed_call_is_one_span_with_the_outcome_bypassed() {
    let log = logged("layercache=debug", async {
        let cache = Cache::builder().namespace("trace-bypass").build();
        get_user(&cache, 4).await.expect("loads");
        layercache::bypass(get_user(&cache, 4))
            .await
            .expect("runs the body");
    });
    let bypassed = lines_with(&log, "outcome=bypassed");
    assert_eq!(bypassed.len(), 1, "one bypassed call:\n{log}");
    assert!(
        bypassed[0].contains("function=tracing_calls::get_user")
            && bypassed[0].contains("key=trace-bypass:user:4"),
        "{log}"
    );
    assert_eq!(
        lines_with(&log, "outcome=loaded").len(),
        1,
        "the bypassed call is not a load:\n{log}"
    );
    assert!(!log.contains(SECRET), "a value was logged:\n{log}");
}

#[test]
fn a_bypassed_call_builds_no_span_when_debug_is_off() {
    let log = logged("layercache=info", async {
        let cache = Cache::builder().namespace("trace-bypass-off").build();
        layercache::bypass(get_user(&cache, 4))
            .await
            .expect("runs the body");
    });
    assert!(lines_with(&log, "bypassed").is_empty(), "{log}");
}

#[test]
fn the_logged_key_is_the_key_in_redis() {
    let server = RedisServer::start();
    let ns = namespace("trace_redis");
    let url = server.url();
    let log = logged("layercache=debug", async {
        let l2 = RedisL2::builder(url)
            .backplane(false)
            .build()
            .await
            .expect("connects");
        let a = Cache::builder()
            .namespace(ns.clone())
            .l2(l2.clone())
            .build();
        get_user(&a, 5).await.expect("loads");
        // Another instance on the same Redis: an L2 hit.
        let b = Cache::builder().namespace(ns.clone()).l2(l2).build();
        get_user(&b, 5).await.expect("L2 hit");
    });
    let stored = server.cli(&["--scan", "--pattern", &format!("{ns}*user:5")]);
    let stored = stored.lines().next().expect("the value is in Redis");
    assert_ne!(
        stored,
        format!("{ns}:user:5"),
        "Redis keys have a layout of their own"
    );
    for outcome in ["outcome=loaded", "outcome=l2_hit"] {
        let line = lines_with(&log, outcome);
        assert_eq!(line.len(), 1, "{outcome}:\n{log}");
        assert!(
            line[0].contains(&format!("key={stored} "))
                || line[0].contains(&format!("key={stored}}}")),
            "{outcome} names the Redis key {stored}:\n{log}"
        );
    }
    assert!(!log.contains(SECRET), "a value was logged:\n{log}");
}

#[test]
fn no_event_comes_from_outside_the_layercache_target() {
    // Everything on, but only targets outside layercache: nothing of the cache may show.
    let log = logged("trace,layercache=off", async {
        let cache = Cache::builder().namespace("trace-targets").build();
        get_user(&cache, 3).await.expect("loads");
        get_user(&cache, 3).await.expect("hits");
        get_user(&cache, 0).await.expect_err("fails");
        cache.invalidate("user:3").await;
    });
    let ours: Vec<&str> = log
        .lines()
        .filter(|l| {
            l.contains("cache_core") || l.contains("cache_redis") || l.contains("layercache")
        })
        .collect();
    assert!(
        ours.is_empty(),
        "events outside the target `layercache`:\n{log}"
    );
}

#[test]
fn an_outage_logs_one_warning_per_kind_not_one_per_call() {
    // The only test of this binary with L2 failures: the warnings' rate limits are per process.
    let mut server = RedisServer::start();
    let url = server.url();
    let log = logged("layercache=warn", async move {
        let l2 = RedisL2::builder(url)
            .backplane(false)
            .timeout(std::time::Duration::from_millis(50))
            // Never opens during the test: every call really tries Redis and fails.
            .breaker(10_000, std::time::Duration::from_secs(1))
            .build()
            .await
            .expect("connects");
        let cache = Cache::builder()
            .namespace(namespace("trace_outage"))
            .l2(l2)
            .build();
        server.kill();
        for id in 1..=20 {
            get_user(&cache, id)
                .await
                .expect("the loader serves every call");
        }
        assert!(cache.stats().l2_errors >= 20, "{:?}", cache.stats());
    });
    let warnings = lines_with(&log, "L2 operation failed");
    assert_eq!(warnings.len(), 1, "20 failing calls, one warning:\n{log}");
    assert!(
        warnings[0].contains("WARN") && warnings[0].contains("Check that Redis"),
        "{log}"
    );
    assert!(!log.contains(SECRET), "a value was logged:\n{log}");
}
