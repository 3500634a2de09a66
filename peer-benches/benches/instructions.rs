//! Instructions per hit, counted by callgrind through gungraun: repeatable on a noisy machine,
//! where the wall clock is not.
//!
//! Each benchmark runs [`L1_HITS`] (or [`L2_HITS`]) warm hits in a loop; its set-up (building
//! the stores, loading the 64 keys) is not counted. An empty loop over the same keys is the
//! baseline: instructions per hit = (benchmark − baseline) / hits. `benches/report.sh` does the
//! arithmetic; the hit count is in each benchmark's id (`hits_N`).
//!
//! - `l1`: an L1 hit of `async fn(u64) -> Arc<String>` over 64 warm keys, polled once with no
//!   runtime: layercache `#[cached]` and `Cache::get_or_load`, the `cached` crate's `#[cached]`,
//!   raw quick_cache with a prebuilt key and with a `format!` key; and layercache `#[cached]`
//!   over more keys than a thread's L1 front holds.
//! - `l2`: layercache with L1 off over the in-memory L2 (an L1 miss and an L2 hit: key, envelope,
//!   tag checks, bincode decode of a ~300-byte product), inside a current-thread Tokio runtime.
//! - `redis`: an L2 hit against a real `redis-server` (started here on a free loopback port;
//!   callgrind instruments only this process, the client): layercache with L1 off beside raw
//!   redis-rs (multiplexed `GET` + bincode decode), inside a current-thread Tokio runtime. The
//!   client's CPU per call is what bounds throughput at 32 and 64 tasks on a small machine.
//!   Waiting on the socket costs no instructions, so these counts are nearly repeatable (how
//!   many times a task is polled before its reply is in can vary by a few).
//!
//! Needs valgrind and `gungraun-runner` of the same version as the `gungraun` crate
//! (`cargo install gungraun-runner --version 0.20.0`), then
//! `cargo bench -p peer-benches --bench instructions`.

use std::hint::black_box;

use gungraun::{library_benchmark, library_benchmark_group, main};
use layercache::Cache;
use layercache_test_support::RedisServer;
use peer_benches::l1::{
    cached_cached, hit, layercache_cached, layercache_get_or_load, quick_format, quick_prebuilt,
    warm_all, PrebuiltKeys, KEYS,
};
use peer_benches::l2::{
    self, layercache_l2_hit, memory_l2_cache, raw_get_decode, raw_key, raw_redis, redis_l2_cache,
};

/// L1 hits per benchmark.
const L1_HITS: u64 = 10_000;
/// L2 hits per benchmark.
const L2_HITS: u64 = 1_000;
/// L2 hits against `redis-server` per benchmark.
const REDIS_HITS: u64 = 1_000;

/// The id of the `i`th hit: the loop walks the 64 keys.
fn id_of(i: u64) -> u64 {
    black_box(i % KEYS)
}

/// Every L1 contender loaded; the keys leak so that dropping them is not counted.
fn warm_l1() -> &'static PrebuiltKeys {
    let keys = Box::leak(Box::new(PrebuiltKeys::new()));
    warm_all(keys);
    keys
}

#[library_benchmark]
#[bench::hits_10000(warm_l1())]
fn l1_empty_loop(keys: &'static PrebuiltKeys) {
    for i in 0..L1_HITS {
        let id = id_of(i);
        black_box(&keys.quick[id as usize]);
    }
}

#[library_benchmark]
#[bench::hits_10000(warm_l1())]
fn l1_layercache_cached(_keys: &'static PrebuiltKeys) {
    for i in 0..L1_HITS {
        black_box(hit(layercache_cached(id_of(i))));
    }
}

#[library_benchmark]
#[bench::hits_10000(warm_l1())]
fn l1_layercache_get_or_load(keys: &'static PrebuiltKeys) {
    for i in 0..L1_HITS {
        let id = id_of(i);
        black_box(hit(layercache_get_or_load(
            id,
            &keys.get_or_load[id as usize],
        )));
    }
}

#[library_benchmark]
#[bench::hits_10000(warm_l1())]
fn l1_cached_cached(_keys: &'static PrebuiltKeys) {
    for i in 0..L1_HITS {
        black_box(hit(cached_cached(id_of(i))));
    }
}

#[library_benchmark]
#[bench::hits_10000(warm_l1())]
fn l1_quick_cache_prebuilt_key(keys: &'static PrebuiltKeys) {
    for i in 0..L1_HITS {
        let id = id_of(i);
        black_box(hit(quick_prebuilt(id, &keys.quick[id as usize])));
    }
}

#[library_benchmark]
#[bench::hits_10000(warm_l1())]
fn l1_quick_cache_format_key(_keys: &'static PrebuiltKeys) {
    for i in 0..L1_HITS {
        black_box(hit(quick_format(id_of(i))));
    }
}

/// Keys of `l1_layercache_cached_past_the_front`: more than a thread's L1 front holds (256),
/// walked in order, so that every hit misses the front.
const WIDE_KEYS: u64 = 1024;

/// [`warm_l1`], and layercache `#[cached]` loaded for [`WIDE_KEYS`] keys.
fn warm_wide() -> &'static PrebuiltKeys {
    let keys = warm_l1();
    for id in 0..WIDE_KEYS {
        assert_eq!(hit(layercache_cached(id)), peer_benches::l1::value(id));
    }
    keys
}

// layercache `#[cached]` when the thread's L1 front cannot help: each hit goes to quick_cache
// and replaces an entry of the front (the cost of a hit on a large, evenly read key space).
// (gungraun takes no doc comment on a benchmark.)
#[library_benchmark]
#[bench::hits_10000(warm_wide())]
fn l1_layercache_cached_past_the_front(_keys: &'static PrebuiltKeys) {
    for i in 0..L1_HITS {
        black_box(hit(layercache_cached(black_box(i % WIDE_KEYS))));
    }
}

/// A current-thread runtime and a cache whose 64 products sit in the in-memory L2 only.
struct L2Fixture {
    runtime: tokio::runtime::Runtime,
    cache: Cache,
    keys: Vec<String>,
}

/// The L2 fixture, every key read once; leaked so that its drop is not counted.
fn warm_l2() -> &'static L2Fixture {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let cache = runtime.block_on(memory_l2_cache());
    let keys: Vec<String> = (0..KEYS).map(l2::layercache_key).collect();
    runtime.block_on(async {
        for (id, key) in (0..KEYS).zip(&keys) {
            assert_eq!(layercache_l2_hit(&cache, key).await, l2::product(id));
        }
    });
    assert_eq!(cache.stats().loads, 0, "every read was an L2 hit");
    Box::leak(Box::new(L2Fixture {
        runtime,
        cache,
        keys,
    }))
}

#[library_benchmark]
#[bench::hits_1000(warm_l2())]
fn l2_empty_loop(f: &'static L2Fixture) {
    f.runtime.block_on(async {
        for i in 0..L2_HITS {
            black_box(&f.keys[id_of(i) as usize]);
        }
    });
}

#[library_benchmark]
#[bench::hits_1000(warm_l2())]
fn l2_layercache_l1_off(f: &'static L2Fixture) {
    f.runtime.block_on(async {
        for i in 0..L2_HITS {
            let key = &f.keys[id_of(i) as usize];
            black_box(layercache_l2_hit(&f.cache, key).await);
        }
    });
}

/// A current-thread runtime, layercache (L1 off) and a raw redis-rs connection to one
/// `redis-server`, 64 products stored through each.
struct RedisFixture {
    runtime: tokio::runtime::Runtime,
    cache: Cache,
    raw: redis::aio::MultiplexedConnection,
    keys: Vec<String>,
    raw_keys: Vec<String>,
    _server: RedisServer,
}

/// The Redis fixture, every key read through both contenders; leaked so that neither its drop
/// nor the server's shutdown is counted.
fn warm_redis() -> &'static RedisFixture {
    let server = RedisServer::start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (cache, raw) = runtime.block_on(async {
        let url = server.url();
        (redis_l2_cache(&url).await, raw_redis(&url).await)
    });
    let keys: Vec<String> = (0..KEYS).map(l2::layercache_key).collect();
    let raw_keys: Vec<String> = (0..KEYS).map(raw_key).collect();
    runtime.block_on(async {
        // The first call opens this runtime's own connection in the background (calls go over
        // the layer's until it is open); the pause lets it open, the second round uses it.
        for _ in 0..2 {
            for (id, (key, raw_key)) in (0..KEYS).zip(keys.iter().zip(&raw_keys)) {
                assert_eq!(layercache_l2_hit(&cache, key).await, l2::product(id));
                assert_eq!(raw_get_decode(&raw, raw_key).await, l2::product(id));
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    });
    let stats = cache.stats();
    assert_eq!(stats.loads, 0, "every read was an L2 hit");
    assert_eq!(stats.l2_errors, 0, "Redis answered every read");
    Box::leak(Box::new(RedisFixture {
        runtime,
        cache,
        raw,
        keys,
        raw_keys,
        _server: server,
    }))
}

#[library_benchmark]
#[bench::hits_1000(warm_redis())]
fn redis_empty_loop(f: &'static RedisFixture) {
    f.runtime.block_on(async {
        for i in 0..REDIS_HITS {
            let id = id_of(i) as usize;
            black_box((&f.keys[id], &f.raw_keys[id]));
        }
    });
}

#[library_benchmark]
#[bench::hits_1000(warm_redis())]
fn redis_layercache_l1_off(f: &'static RedisFixture) {
    f.runtime.block_on(async {
        for i in 0..REDIS_HITS {
            let key = &f.keys[id_of(i) as usize];
            black_box(layercache_l2_hit(&f.cache, key).await);
        }
    });
}

#[library_benchmark]
#[bench::hits_1000(warm_redis())]
fn redis_raw_get_decode(f: &'static RedisFixture) {
    f.runtime.block_on(async {
        for i in 0..REDIS_HITS {
            let key = &f.raw_keys[id_of(i) as usize];
            black_box(raw_get_decode(&f.raw, key).await);
        }
    });
}

library_benchmark_group!(
    name = l1_hit,
    benchmarks = [
        l1_empty_loop,
        l1_layercache_cached,
        l1_layercache_cached_past_the_front,
        l1_layercache_get_or_load,
        l1_cached_cached,
        l1_quick_cache_prebuilt_key,
        l1_quick_cache_format_key
    ]
);

library_benchmark_group!(
    name = l2_hit,
    benchmarks = [l2_empty_loop, l2_layercache_l1_off]
);

library_benchmark_group!(
    name = redis_hit,
    benchmarks = [
        redis_empty_loop,
        redis_layercache_l1_off,
        redis_raw_get_decode
    ]
);

main!(library_benchmark_groups = l1_hit, l2_hit, redis_hit);
