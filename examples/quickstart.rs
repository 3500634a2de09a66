//! Quickstart: one `#[cached]` loader over a slow "database", one `#[invalidates]` writer.
//!
//! ```text
//! cargo run --example quickstart                                   # L1 only, no Redis needed
//! REDIS_URL=redis://127.0.0.1:6379 cargo run --example quickstart  # with Redis as L2
//! RUST_LOG=layercache=debug cargo run --example quickstart    # each call past L1: key, outcome
//! RUST_LOG=layercache=trace cargo run --example quickstart    # L1 hits too
//! ```
//!
//! Each call prints where its value came from (L1, L2 or the loader) and how long it took.

use std::time::{Duration, Instant};

use layercache::{cached, invalidates, Cache, RedisL2, Stats};
use serde::{Deserialize, Serialize};
use tracing_subscriber::EnvFilter;

#[derive(Clone, Debug, Serialize, Deserialize)]
struct User {
    id: u64,
    name: String,
    plan: String,
}

#[derive(Clone, Debug, thiserror::Error)]
#[error("database error: {0}")]
struct DbError(String);

/// Pretend database: every query takes about 100 ms.
mod db {
    use super::{DbError, User};
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::time::Duration;

    /// Plans changed by `save_plan`; every other user is on "free".
    static PLANS: Mutex<Option<HashMap<u64, String>>> = Mutex::new(None);

    pub async fn fetch_user(id: u64) -> Result<User, DbError> {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if id == 0 {
            return Err(DbError("no user 0".into()));
        }
        let plans = PLANS.lock().map_err(|_| DbError("lock poisoned".into()))?;
        let plan = plans.as_ref().and_then(|p| p.get(&id)).cloned();
        Ok(User {
            id,
            name: format!("user {id}"),
            plan: plan.unwrap_or_else(|| "free".into()),
        })
    }

    pub async fn save_plan(id: u64, plan: &str) -> Result<(), DbError> {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut plans = PLANS.lock().map_err(|_| DbError("lock poisoned".into()))?;
        plans
            .get_or_insert_with(HashMap::new)
            .insert(id, plan.to_owned());
        tracing::debug!(id, plan, "saved");
        Ok(())
    }
}

/// Fresh for five minutes; with an L2 configured, shared with every other instance.
#[cached(key = "user:<id>", ttl = "5m", l2)]
async fn get_user(id: u64) -> Result<User, DbError> {
    db::fetch_user(id).await
}

/// After the write succeeds, `get_user(id)`'s entry is gone here, in Redis and on every instance.
#[invalidates(get_user(id))]
async fn change_plan(id: u64, plan: &str) -> Result<(), DbError> {
    db::save_plan(id, plan).await
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();

    let mut builder = Cache::builder()
        .namespace("quickstart:v1")
        .l1_capacity(10_000)
        .default_ttl(Duration::from_secs(60));
    match std::env::var("REDIS_URL") {
        Ok(url) => {
            let layer = RedisL2::connect(url.as_str()).await?;
            println!("L1 in process + L2 on Redis ({url})\n");
            builder = builder.l2(layer);
        }
        Err(_) => println!("L1 in process only (set REDIS_URL to add Redis as L2)\n"),
    }
    let cache = builder.build();
    layercache::install(cache.clone())?;

    show(&cache, "get_user(1)", get_user(1)).await;
    show(&cache, "get_user(1)", get_user(1)).await;
    show(&cache, "get_user(2)", get_user(2)).await;
    show(&cache, "get_user(1)", get_user(1)).await;
    show(&cache, "get_user(0)", get_user(0)).await;

    println!("\nchange_plan(1, \"pro\") -> invalidates get_user(1)");
    change_plan(1, "pro").await?;

    show(&cache, "get_user(1)", get_user(1)).await;
    show(&cache, "get_user(1)", get_user(1)).await;

    println!("\n{}", render_stats(&cache.stats()));
    Ok(())
}

/// Runs one call and prints where its value came from, told by the counters it moved.
async fn show<T: std::fmt::Debug, E: std::fmt::Display>(
    cache: &Cache,
    call: &str,
    fut: impl std::future::Future<Output = Result<T, E>>,
) {
    let before = cache.stats();
    let started = Instant::now();
    let result = fut.await;
    let took = started.elapsed();
    let after = cache.stats();
    let source = if after.l1_hits > before.l1_hits {
        "L1 hit "
    } else if after.l2_hits > before.l2_hits {
        "L2 hit "
    } else {
        "miss   "
    };
    match result {
        Ok(v) => println!("{call:<12} {source} {:>10.3?}  {v:?}", took),
        Err(e) => println!(
            "{call:<12} {source} {:>10.3?}  error: {e} (not cached)",
            took
        ),
    }
}

fn render_stats(stats: &Stats) -> String {
    let mut out = String::from("stats:");
    for (name, value) in stats.fields() {
        if value > 0 {
            out.push_str(&format!(" {name}={value}"));
        }
    }
    out
}
