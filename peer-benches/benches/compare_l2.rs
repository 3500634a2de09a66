//! L2 hit, side by side: a ~300-byte product read from a local `redis-server` (started here on a
//! free port) by layercache with L1 off, raw redis-rs (multiplexed `GET` + bincode decode), the
//! `cached` crate's `AsyncRedisCache` and hitbox 0.2 (contenders in `peer_benches::l2`), from 1,
//! 32 and 64 concurrent tasks (one key each).
//!
//! Also counts the Redis commands one hit sends (`INFO commandstats`), printed as
//! `report: commands_per_hit ...` lines that `benches/report.sh` collects.
//!
//! `cargo bench -p peer-benches --bench compare_l2` (add `-- --measurement-time 2` for a quick run).

use std::future::Future;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use layercache_test_support::RedisServer;
use peer_benches::l2::{
    cached_product, commands_per_hit, hitbox_product, layercache_product, raw_product, Product,
    RedisContenders,
};
use peer_benches::two_worker_runtime;

/// The concurrencies measured: one task (latency) and two loads (throughput).
const TASK_COUNTS: [u64; 3] = [1, 32, 64];

/// `iters` calls split over `tasks` tasks, each on its own key; returns the wall time.
async fn spread<F, Fut>(tasks: u64, iters: u64, call: F) -> Duration
where
    F: Fn(u64) -> Fut + Copy + Send + 'static,
    Fut: Future<Output = Product> + Send,
{
    let per_task = iters.div_ceil(tasks);
    let started = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|id| {
            tokio::spawn(async move {
                for _ in 0..per_task {
                    std::hint::black_box(call(id).await);
                }
            })
        })
        .collect();
    for h in handles {
        h.await.expect("task");
    }
    started.elapsed()
}

fn bench<F, Fut>(c: &mut Criterion, tasks: u64, name: &str, call: F)
where
    F: Fn(u64) -> Fut + Copy + Send + 'static,
    Fut: Future<Output = Product> + Send,
{
    let mut g = c.benchmark_group(format!("compare_l2_hit_{tasks}_tasks"));
    g.bench_function(name, |b| {
        b.iter_custom(|iters| two_worker_runtime().block_on(spread(tasks, iters, call)))
    });
    g.finish();
}

fn l2_hit(c: &mut Criterion) {
    let server = RedisServer::start();
    two_worker_runtime().block_on(async {
        RedisContenders::connect(&server.url()).await;
        for (name, per_hit) in [
            (
                "layercache_l1_off",
                commands_per_hit(layercache_product).await,
            ),
            ("raw_redis_get_decode", commands_per_hit(raw_product).await),
            ("cached_async_redis", commands_per_hit(cached_product).await),
            ("hitbox_redis", commands_per_hit(hitbox_product).await),
        ] {
            println!("report: commands_per_hit {name} {per_hit:.2}");
        }
    });
    for tasks in TASK_COUNTS {
        // layercache and raw redis-rs side by side, so the drift of a shared machine between
        // them stays small; the other peers after.
        bench(c, tasks, "layercache_l1_off", layercache_product);
        bench(c, tasks, "raw_redis_get_decode", raw_product);
        bench(c, tasks, "cached_async_redis", cached_product);
        bench(c, tasks, "hitbox_redis", hitbox_product);
    }
    drop(server);
}

criterion_group!(benches, l2_hit);
criterion_main!(benches);
