//! A cache and its Redis L2 built from configuration: the `[cache]` section of a TOML file, or
//! environment variables.
//!
//! ```text
//! cargo run --example from_config                                  # the TOML below, L1 only
//! cargo run --example from_config -- service.toml                  # your file's [cache] section
//! LAYERCACHE_REDIS_URL=redis://127.0.0.1:6379 LAYERCACHE_DEFAULT_TTL=10m \
//!     cargo run --example from_config -- --env                     # LAYERCACHE_* variables
//! ```

use layercache::config::CacheConfig;
use layercache::EntryOptions;

/// What a service's config file could hold; the cache is one section of it.
#[derive(serde::Deserialize)]
struct ServiceConfig {
    cache: CacheConfig,
}

const EXAMPLE: &str = r#"
[cache]
namespace = "example:v1"
l1_capacity = 10_000
default_ttl = "5m"
codec = "json"

# Uncomment for a Redis L2:
# [cache.redis]
# url = "redis://127.0.0.1:6379"
# timeout = "50ms"
# breaker_failures = 5
# breaker_cool_down = "2s"
"#;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = match std::env::args().nth(1).as_deref() {
        Some("--env") => CacheConfig::from_env("LAYERCACHE")?,
        Some(path) => toml::from_str::<ServiceConfig>(&std::fs::read_to_string(path)?)?.cache,
        None => toml::from_str::<ServiceConfig>(EXAMPLE)?.cache,
    };
    println!("{config:#?}");
    let cache = config.build().await?;
    let opts = EntryOptions::new();
    for _ in 0..3 {
        let answer: u64 = cache
            .get_or_load("answer", &opts, || async { Ok::<_, std::io::Error>(42) })
            .await?;
        println!("answer = {answer}");
    }
    let stats = cache.stats();
    println!(
        "namespace {}, L2 {}: {} load, {} L1 hits",
        cache.namespace(),
        if cache.has_l2() { "on" } else { "off" },
        stats.loads,
        stats.l1_hits
    );
    Ok(())
}
