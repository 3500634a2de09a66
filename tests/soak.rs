//! Soak under faults: two cache instances sharing one real Redis serve `#[cached(l2)]` reads from
//! many tasks while a fault script kills, restarts, pauses (SIGSTOP) and resumes the server, and
//! a writer updates the source of truth and invalidates through `#[invalidates]`.
//!
//! Checked: no caller-visible error except the loader errors it injects (counted at the loader:
//! callers never see more errors than were injected); no stale read on the
//! writer's instance after its invalidation returned; the other instance converges within a
//! deadline (its lag is reported); L2 hits resume after a restart. Printed: calls, errors,
//! p50/p99 latency per phase, stale reads, convergence lag, L2 recovery time.
//!
//! Short by default (a few seconds per phase, for CI). `LAYERCACHE_SOAK_SECS=60` runs each phase
//! for a minute.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use layercache::{cached, invalidates, Cache, RedisL2};
use layercache_test_support::RedisServer;
use serde::{Deserialize, Serialize};

const KEYS: u64 = 200;
const READERS: usize = 16;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
struct Item {
    id: u64,
    version: u64,
}

#[derive(Clone, Debug, PartialEq)]
enum DbError {
    /// A failure the test injects on purpose.
    Injected,
}

/// The source of truth: a version per item, and a switch that makes loads fail.
#[derive(Default)]
struct Db {
    versions: Mutex<HashMap<u64, u64>>,
    loads: AtomicU64,
    fail_one_in: AtomicU64,
    /// Failures this loader returned.
    injected: AtomicUsize,
}

impl Db {
    async fn load(&self, id: u64) -> Result<Item, DbError> {
        let n = self.loads.fetch_add(1, SeqCst);
        tokio::time::sleep(Duration::from_millis(1)).await;
        let every = self.fail_one_in.load(SeqCst);
        if every > 0 && n % every == 0 {
            self.injected.fetch_add(1, SeqCst);
            return Err(DbError::Injected);
        }
        let version = *self.versions.lock().unwrap().get(&id).unwrap_or(&0);
        Ok(Item { id, version })
    }

    fn bump(&self, id: u64) -> u64 {
        let mut v = self.versions.lock().unwrap();
        let e = v.entry(id).or_insert(0);
        *e += 1;
        *e
    }
}

struct Instance {
    cache: Cache,
    db: Arc<Db>,
}

impl Instance {
    #[cached(key = "item:<id>", ttl = "30s", l1_ttl = "300ms", stale = "1h", l2, cache = self.cache)]
    async fn get(&self, id: u64) -> Result<Item, DbError> {
        self.db.load(id).await
    }

    #[invalidates(self.get(id))]
    async fn update(&self, id: u64) -> Result<u64, DbError> {
        Ok(self.db.bump(id))
    }
}

/// Calls, caller-visible errors and latencies (µs) of one phase.
#[derive(Default)]
struct Phase {
    name: &'static str,
    latencies: Mutex<Vec<u32>>,
    calls: AtomicUsize,
    errors: AtomicUsize,
    /// Failures the loader injected during this phase (set when the phase ends).
    injected: AtomicUsize,
}

impl Phase {
    fn percentile(&self, p: f64) -> f64 {
        let mut l = self.latencies.lock().unwrap().clone();
        if l.is_empty() {
            return 0.0;
        }
        l.sort_unstable();
        l[((l.len() - 1) as f64 * p) as usize] as f64
    }
}

async fn instance(url: &str, db: Arc<Db>) -> Instance {
    let layer = RedisL2::builder(url)
        .timeout(Duration::from_millis(50))
        .breaker(3, Duration::from_millis(250))
        .build()
        .await
        .expect("connect to the test redis-server");
    Instance {
        cache: Cache::builder().namespace("soak").l2(layer).build(),
        db,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn soak_under_kill_pause_and_restart() {
    let secs: u64 = std::env::var("LAYERCACHE_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let phase_len = Duration::from_secs(secs);
    let mut server = RedisServer::start();
    let db = Arc::new(Db::default());
    let a = Arc::new(instance(&server.url(), db.clone()).await);
    let b = Arc::new(instance(&server.url(), db.clone()).await);

    let names = ["baseline", "killed", "restarted", "paused", "resumed"];
    let phases: Arc<Vec<Phase>> = Arc::new(
        names
            .iter()
            .map(|n| Phase {
                name: n,
                ..Default::default()
            })
            .collect(),
    );
    let current = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writer_stale = Arc::new(AtomicUsize::new(0));
    let other_stale = Arc::new(AtomicUsize::new(0));
    let max_lag_ms = Arc::new(AtomicU64::new(0));
    let writes = Arc::new(AtomicUsize::new(0));

    // Readers: half on each instance.
    let mut tasks = Vec::new();
    for r in 0..READERS {
        let inst = if r % 2 == 0 { a.clone() } else { b.clone() };
        let (phases, current, stop) = (phases.clone(), current.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut id = r as u64;
            while !stop.load(SeqCst) {
                id = (id * 31 + 7) % KEYS;
                let started = Instant::now();
                let result = inst.get(id).await;
                let phase = &phases[current.load(SeqCst)];
                phase.calls.fetch_add(1, SeqCst);
                phase
                    .latencies
                    .lock()
                    .unwrap()
                    .push(started.elapsed().as_micros() as u32);
                match result {
                    Ok(item) => assert_eq!(item.id, id, "another key's value was served"),
                    Err(DbError::Injected) => {
                        phase.errors.fetch_add(1, SeqCst);
                    }
                }
                tokio::task::yield_now().await;
            }
        }));
    }

    // Writer: update on A, then read on A (must be new) and watch B converge.
    {
        let (a, b, stop) = (a.clone(), b.clone(), stop.clone());
        let (phases, current) = (phases.clone(), current.clone());
        let caller_error = move || {
            phases[current.load(SeqCst)].errors.fetch_add(1, SeqCst);
        };
        let (writer_stale, other_stale, max_lag_ms, writes) = (
            writer_stale.clone(),
            other_stale.clone(),
            max_lag_ms.clone(),
            writes.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut id = 3u64;
            while !stop.load(SeqCst) {
                id = (id * 17 + 11) % KEYS;
                let Ok(version) = a.update(id).await else {
                    continue;
                };
                writes.fetch_add(1, SeqCst);
                let written = Instant::now();
                // The writer's own instance never serves the old value.
                loop {
                    match a.get(id).await {
                        Ok(item) if item.version < version => {
                            writer_stale.fetch_add(1, SeqCst);
                            break;
                        }
                        Ok(_) => break,
                        Err(DbError::Injected) => caller_error(),
                    }
                }
                // The other instance converges within a deadline.
                loop {
                    match b.get(id).await {
                        Ok(item) if item.version >= version => break,
                        Ok(_) => {
                            other_stale.fetch_add(1, SeqCst);
                        }
                        Err(DbError::Injected) => caller_error(),
                    }
                    assert!(
                        written.elapsed() < Duration::from_secs(20),
                        "instance B never saw the write of item {id}"
                    );
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                max_lag_ms.fetch_max(written.elapsed().as_millis() as u64, SeqCst);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }));
    }

    // The fault script.
    db.fail_one_in.store(50, SeqCst);
    // Ends the current phase (recording the loader's failures in it) and starts `next`.
    let mut injected_before = 0;
    let mut next_phase = |next: usize| {
        let injected = db.injected.load(SeqCst);
        phases[current.load(SeqCst)]
            .injected
            .store(injected - injected_before, SeqCst);
        injected_before = injected;
        current.store(next, SeqCst);
    };
    tokio::time::sleep(phase_len).await; // baseline
    next_phase(1);
    server.kill();
    tokio::time::sleep(phase_len).await;
    next_phase(2);
    server.restart();
    let restarted = Instant::now();
    let hits_at_restart = a.cache.stats().l2_hits + b.cache.stats().l2_hits;
    let mut recovered = None;
    let phase_end = Instant::now() + phase_len;
    while Instant::now() < phase_end || recovered.is_none() {
        if recovered.is_none()
            && a.cache.stats().l2_hits + b.cache.stats().l2_hits > hits_at_restart
        {
            recovered = Some(restarted.elapsed());
        }
        assert!(
            restarted.elapsed() < Duration::from_secs(30),
            "L2 hits never resumed after restart"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    next_phase(3);
    server.pause();
    tokio::time::sleep(phase_len).await;
    next_phase(4);
    server.resume();
    tokio::time::sleep(phase_len).await;
    stop.store(true, SeqCst);
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(30), t)
            .await
            .expect("a task hung")
            .expect("a task failed");
    }
    next_phase(4);

    println!(
        "\nsoak: {} s per phase, {READERS} readers on 2 instances, {KEYS} keys, 1 writer",
        secs
    );
    println!("| phase | calls | caller errors | injected loader errors | p50 µs | p99 µs |");
    println!("|---|---|---|---|---|---|");
    for p in phases.iter() {
        println!(
            "| {} | {} | {} | {} | {:.0} | {:.0} |",
            p.name,
            p.calls.load(SeqCst),
            p.errors.load(SeqCst),
            p.injected.load(SeqCst),
            p.percentile(0.50),
            p.percentile(0.99)
        );
    }
    let recovered = recovered.expect("recovery measured");
    println!(
        "writes: {}, stale reads on the writer's instance: {}, stale reads on the other: {}, \
         max convergence lag: {} ms, L2 hits resumed {} ms after restart",
        writes.load(SeqCst),
        writer_stale.load(SeqCst),
        other_stale.load(SeqCst),
        max_lag_ms.load(SeqCst),
        recovered.as_millis()
    );
    println!(
        "stats A: {:?}\nstats B: {:?}",
        a.cache.stats(),
        b.cache.stats()
    );

    assert_eq!(
        writer_stale.load(SeqCst),
        0,
        "the writer's instance served an old value"
    );
    for p in phases.iter() {
        assert!(p.calls.load(SeqCst) > 0, "no calls in phase {}", p.name);
    }
    // `#[cached]` never shares a failed load's error with its waiters (each runs its own
    // loader), so every caller-visible error is one failure the loader injected; a cache fault
    // surfacing as an error, or an error kept and served again, shows up as one too many.
    let caller_errors: usize = phases.iter().map(|p| p.errors.load(SeqCst)).sum();
    let injected = db.injected.load(SeqCst);
    assert!(injected > 0, "the loader never failed: nothing was tested");
    assert!(
        caller_errors <= injected,
        "{caller_errors} caller-visible errors, only {injected} injected at the loader"
    );
    assert!(writes.load(SeqCst) > 0);
}
