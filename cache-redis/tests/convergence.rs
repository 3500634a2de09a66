//! Issue 10 point 6: how long other instances keep serving a value after a writer's invalidation
//! returned. Four instances on one real redis-server (default layer settings): A invalidates
//! keys one after another; B, C and D each hold every key in L1, and a poller notes when each
//! stops serving the old value (`Cache::peek`: L1, then L2).
//!
//! Phases: steady state; right after `FLUSHALL` (every version record lost); across a restart
//! without persistence and across a SIGSTOP/SIGCONT, with invalidations made while Redis was away
//! (there the lag counts from the moment Redis answers again). Printed: p50/p99/max lag per phase.
//! Asserted: no caller error, never the old value on the writer after its invalidation returned,
//! and every instance converges within a generous deadline (the figures go to README).
//!
//! `LAYERCACHE_CONVERGENCE_ROUNDS` sets the steady-state invalidations (default 2000).

mod support;

use std::time::{Duration, Instant};

use cache_core::{Cache, EntryOptions};
use cache_redis::RedisL2;
use layercache_test_support::{namespace, RedisServer};

const OPTS: EntryOptions = EntryOptions::new().ttl(Duration::from_secs(600));
/// Generous: a bug shows as an instance that never converges, not as a slow one.
const DEADLINE: Duration = Duration::from_secs(10);
const KEYS: usize = 50;

struct Fleet {
    writer: Cache,
    others: Vec<Cache>,
    layers: Vec<RedisL2>,
}

impl Fleet {
    async fn start(url: &str, ns: &str) -> Fleet {
        let mut caches = Vec::new();
        let mut layers = Vec::new();
        for _ in 0..4 {
            let layer = RedisL2::builder(url).build().await.expect("connect");
            caches.push(Cache::builder().namespace(ns).l2(layer.clone()).build());
            layers.push(layer);
        }
        let writer = caches.remove(0);
        Fleet {
            writer,
            others: caches,
            layers,
        }
    }

    /// Waits until every backplane subscription is up.
    async fn subscribed(&self) {
        let since = Instant::now();
        while !self.layers.iter().all(cache_core::L2::backplane_connected) {
            assert!(since.elapsed() < DEADLINE, "backplanes never subscribed");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

fn key(i: usize) -> String {
    format!("k{}", i % KEYS)
}

/// The value of key `i` after `round` writes.
fn value(i: usize, round: usize) -> String {
    format!("{}@{round}", key(i))
}

async fn read(cache: &Cache, key: &str, current: &str) -> String {
    let current = current.to_owned();
    cache
        .get_or_load(
            key,
            &OPTS,
            || async move { Ok::<_, std::io::Error>(current) },
        )
        .await
        .expect("a cache call never fails the caller")
}

/// Lags in microseconds.
#[derive(Default)]
struct Lags(Vec<u64>);

impl Lags {
    fn percentile(&mut self, p: f64) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        self.0.sort_unstable();
        self.0[((self.0.len() - 1) as f64 * p).round() as usize] as f64 / 1000.0
    }

    fn row(&mut self, phase: &str, invalidations: usize) -> String {
        format!(
            "| {phase} | {invalidations} | {} | {:.2} | {:.2} | {:.2} |",
            self.0.len(),
            self.percentile(0.50),
            self.percentile(0.99),
            self.percentile(1.0)
        )
    }
}

/// Polls every other instance until none serves `old` for `key` any more; one lag per instance,
/// counted from `since`.
async fn wait_converged(fleet: &Fleet, key: &str, old: &str, since: Instant, lags: &mut Lags) {
    let mut pending: Vec<&Cache> = fleet.others.iter().collect();
    while !pending.is_empty() {
        let mut still = Vec::new();
        for cache in pending {
            if cache.peek::<String>(key).await.as_deref() == Some(old) {
                still.push(cache);
            } else {
                lags.0.push(since.elapsed().as_micros() as u64);
            }
        }
        pending = still;
        assert!(
            since.elapsed() < DEADLINE,
            "{} instance(s) still serve the old value of {key}",
            pending.len()
        );
        std::thread::sleep(Duration::from_micros(50));
    }
}

/// Every instance holds the current value of every key in L1.
async fn warm(fleet: &Fleet, round: &[usize]) {
    for cache in std::iter::once(&fleet.writer).chain(&fleet.others) {
        for (i, &r) in round.iter().enumerate() {
            assert_eq!(read(cache, &key(i), &value(i, r)).await, value(i, r));
        }
    }
}

/// `count` invalidations in a row, each awaited until every instance converged.
async fn steady(fleet: &Fleet, writes: &mut [usize], first: usize, count: usize) -> Lags {
    let mut lags = Lags::default();
    for n in first..first + count {
        let i = n % KEYS;
        let old = value(i, writes[i]);
        writes[i] += 1;
        let new = value(i, writes[i]);
        fleet.writer.invalidate(&key(i)).await;
        let returned = Instant::now();
        assert_eq!(
            read(&fleet.writer, &key(i), &new).await,
            new,
            "writer stale"
        );
        wait_converged(fleet, &key(i), &old, returned, &mut lags).await;
        for cache in &fleet.others {
            assert_eq!(read(cache, &key(i), &new).await, new);
        }
    }
    lags
}

/// Invalidates every key while Redis is away (`fault` done, `heal` undoes it), then measures how
/// long after Redis answers again each instance stops serving each old value.
async fn across(
    fleet: &Fleet,
    writes: &mut [usize],
    server: &mut RedisServer,
    fault: fn(&mut RedisServer),
    heal: fn(&mut RedisServer),
) -> Lags {
    fault(server);
    let mut old = Vec::new();
    for (i, w) in writes.iter_mut().enumerate() {
        old.push(value(i, *w));
        *w += 1;
        fleet.writer.invalidate(&key(i)).await;
        let new = value(i, *w);
        assert_eq!(
            read(&fleet.writer, &key(i), &new).await,
            new,
            "writer stale"
        );
    }
    heal(server);
    let healthy = Instant::now();
    let mut lags = Lags::default();
    for (i, old) in old.iter().enumerate() {
        wait_converged(fleet, &key(i), old, healthy, &mut lags).await;
    }
    for (i, &w) in writes.iter().enumerate() {
        assert_eq!(
            read(&fleet.writer, &key(i), &value(i, w)).await,
            value(i, w)
        );
    }
    warm(fleet, writes).await;
    lags
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn convergence_lag_in_steady_state_and_across_faults() {
    let rounds: usize = std::env::var("LAYERCACHE_CONVERGENCE_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    let mut server = RedisServer::start();
    let ns = namespace("convergence");
    let fleet = Fleet::start(&server.url(), &ns).await;
    fleet.subscribed().await;
    let mut writes = vec![0usize; KEYS];
    warm(&fleet, &writes).await;

    let mut rows = Vec::new();
    let mut lags = steady(&fleet, &mut writes, 0, rounds).await;
    rows.push(lags.row("steady state", rounds));

    assert_eq!(server.cli(&["FLUSHALL"]), "OK");
    let after_flush = rounds / 4;
    let mut lags = steady(&fleet, &mut writes, rounds, after_flush).await;
    rows.push(lags.row("after FLUSHALL", after_flush));

    let mut lags = across(
        &fleet,
        &mut writes,
        &mut server,
        |s| s.pause(),
        |s| s.resume(),
    )
    .await;
    rows.push(lags.row("SIGSTOP, then SIGCONT (from SIGCONT)", KEYS));
    fleet.subscribed().await;

    let mut lags = across(
        &fleet,
        &mut writes,
        &mut server,
        RedisServer::kill,
        RedisServer::restart,
    )
    .await;
    rows.push(lags.row("killed, restarted empty (from restart)", KEYS));
    fleet.subscribed().await;

    let mut lags = steady(&fleet, &mut writes, rounds + after_flush, rounds / 4).await;
    rows.push(lags.row("steady after the faults", rounds / 4));

    println!("\nconvergence: 1 writer + 3 instances, {KEYS} keys, one redis-server, default layer settings");
    println!("| phase | invalidations | lags measured | p50 ms | p99 ms | max ms |");
    println!("|---|---|---|---|---|---|");
    for row in rows {
        println!("{row}");
    }
    for cache in std::iter::once(&fleet.writer).chain(&fleet.others) {
        println!("{:?}", cache.stats());
    }
}
