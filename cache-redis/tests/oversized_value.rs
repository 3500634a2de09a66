//! A huge value planted under a cache key is never read into memory: the length is checked on
//! the server in the same round trip, so 16 readers cost the process far less than one copy.
//! (Alone in its test binary: it measures the process's peak RSS.)

mod support;

use std::time::Duration;

use cache_core::{Cache, EntryOptions};
use cache_redis::RedisL2;
use layercache_test_support::{namespace, RedisServer};
use support::instances::{Instance, Loads};

const PLANTED: usize = 64 * 1024 * 1024;
const READERS: usize = 16;
/// Generous: the goal is "well under one planted value"; a whole read costs 64 MB per reader.
const RSS_BOUND: u64 = 16 * 1024 * 1024;

/// A field of `/proc/self/status`, in bytes.
fn status_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map(|kb| kb * 1024)
        .unwrap_or_else(|| panic!("{field} in /proc/self/status"))
}

/// A reader whose L2 and response timeouts are long enough for a whole 64 MB reply to arrive, should the layer
/// ask for one.
async fn reader(url: &str, ns: &str) -> Instance {
    let layer = RedisL2::builder(url)
        .timeout(Duration::from_secs(20))
        .connect_timeout(Duration::from_secs(20))
        .build()
        .await
        .expect("connect");
    let cache = Cache::builder().namespace(ns).l2(layer.clone()).build();
    Instance { cache, layer }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_64_mb_planted_value_read_by_16_readers_stays_out_of_memory() {
    let server = RedisServer::start();
    let ns = namespace("oversized");
    let url = server.url();
    let readers = futures_util::future::join_all((0..READERS).map(|_| reader(&url, &ns))).await;
    // Planted on the server itself (no 64 MB argument): a record header, then zeros.
    let key = format!("{ns}:@:big");
    server.cli(&["SETRANGE", &key, &(PLANTED - 1).to_string(), "x"]);
    server.cli(&["SETRANGE", &key, "0", "V1:1:"]);
    assert_eq!(server.cli(&["STRLEN", &key]), PLANTED.to_string());

    // Resets the peak RSS to the current RSS (Linux >= 4.0).
    std::fs::write("/proc/self/clear_refs", "5").expect("reset VmHWM");
    let before = status_bytes("VmRSS:");
    let opts = EntryOptions::new().ttl(Duration::from_secs(60)).l1(false);
    let loads = Loads::default();
    let reads = readers.iter().map(|reader| {
        let (opts, loads) = (opts.clone(), loads.clone());
        async move {
            for _ in 0..3 {
                assert_eq!(reader.read("big", &opts, &loads, "small").await, "small");
            }
        }
    });
    futures_util::future::join_all(reads).await;
    let growth = status_bytes("VmHWM:").saturating_sub(before);
    println!(
        "RSS before {:.1} MB, peak growth with {READERS} readers of a {} MB value: {:.1} MB",
        before as f64 / 1e6,
        PLANTED >> 20,
        growth as f64 / 1e6
    );
    assert!(
        growth < RSS_BOUND,
        "peak RSS grew by {growth} bytes reading a {PLANTED}-byte planted value"
    );
    // The value was never served, and the first load overwrote it with its own.
    assert!(loads.count() >= 1);
    let len: usize = server.cli(&["STRLEN", &key]).parse().unwrap();
    assert!(len < 1024, "the planted value was replaced: {len} bytes");
}
