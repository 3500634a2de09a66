//! `layercache::config`: a cache and its Redis L2 built from a TOML section and from environment
//! variables, against a real redis-server.
#![cfg(all(feature = "config", feature = "redis", feature = "json"))]

use std::time::Duration;

use layercache::config::{CacheConfig, ConfigError};
use layercache::EntryOptions;
use layercache_test_support::{namespace, RedisServer};

#[derive(serde::Deserialize)]
struct ServiceConfig {
    cache: CacheConfig,
}

async fn load_once(cache: &layercache::Cache, key: &str, value: &str) -> String {
    let value = value.to_owned();
    cache
        .get_or_load(key, &EntryOptions::new(), || async move {
            Ok::<_, std::io::Error>(value)
        })
        .await
        .expect("loader does not fail")
}

#[tokio::test]
async fn a_toml_section_builds_a_cache_whose_values_land_in_that_redis() {
    let server = RedisServer::start();
    let ns = namespace("config_toml");
    let text = format!(
        r#"
        [cache]
        namespace = "{ns}"
        l1_capacity = 100
        default_ttl = "90s"
        codec = "json"

        [cache.redis]
        url = "{url}"
        timeout = "200ms"
        breaker_failures = 3
        breaker_cool_down = "1s"
        backplane = false
        "#,
        url = server.url()
    );
    let config: ServiceConfig = toml::from_str(&text).expect("valid TOML");
    assert_eq!(config.cache.default_ttl, Some(Duration::from_secs(90)));
    let redis = config.cache.redis.as_ref().expect("redis section");
    assert_eq!(redis.timeout, Some(Duration::from_millis(200)));

    let cache = config.cache.build().await.expect("connects");
    assert_eq!(cache.namespace(), ns);
    assert!(cache.has_l2());
    assert_eq!(load_once(&cache, "greeting", "hello").await, "hello");
    // The value is in this server, under the configured namespace, encoded as JSON, with the
    // configured default TTL (90 s, so more than 60 s and at most 90 s remain).
    let keys = server.cli(&["--scan", "--pattern", &format!("{ns}:*greeting")]);
    let key = keys
        .lines()
        .next()
        .expect("the value is in Redis")
        .to_owned();
    let ttl: u64 = server.cli(&["PTTL", &key]).trim().parse().expect("PTTL");
    assert!((60_000..=90_000).contains(&ttl), "PTTL {ttl}");
    let stored = server.raw(&[b"GET", key.as_bytes()]);
    assert!(
        stored.windows(7).any(|w| w == b"\"hello\""),
        "JSON payload expected in {stored:?}"
    );

    // A second cache from the same configuration reads it from Redis without loading.
    let other = config.cache.build().await.expect("connects");
    assert_eq!(load_once(&other, "greeting", "not loaded").await, "hello");
    assert_eq!(other.stats().l2_hits, 1);
}

#[tokio::test]
async fn environment_variables_build_the_same_cache() {
    let server = RedisServer::start();
    let ns = namespace("config_env");
    // A prefix no other test uses, so tests running at once do not see each other's variables.
    let prefix = "LAYERCACHE_CONFIG_TEST_ENV";
    std::env::set_var(format!("{prefix}_NAMESPACE"), &ns);
    std::env::set_var(format!("{prefix}_DEFAULT_TTL"), "1h 30m");
    std::env::set_var(format!("{prefix}_REDIS_URL"), server.url());
    std::env::set_var(format!("{prefix}_REDIS_TIMEOUT"), "250ms");
    std::env::set_var(format!("{prefix}_REDIS_BACKPLANE"), "false");

    let config = CacheConfig::from_env(prefix).expect("valid variables");
    assert_eq!(config.default_ttl, Some(Duration::from_secs(5400)));
    let redis = config.redis.as_ref().expect("REDIS_URL configures Redis");
    assert_eq!(redis.url.as_deref(), Some(server.url().as_str()));
    assert_eq!(redis.backplane, Some(false));

    let cache = config.build().await.expect("connects");
    assert_eq!(load_once(&cache, "k", "v").await, "v");
    let keys = server.cli(&["--scan", "--pattern", &format!("{ns}:*k")]);
    assert_eq!(keys.lines().count(), 1, "one value under {ns}: {keys}");
}

#[test]
fn mistakes_are_errors_that_name_the_field() {
    let unknown = toml::from_str::<CacheConfig>("default_tll = \"5m\"").unwrap_err();
    assert!(unknown.to_string().contains("default_tll"), "{unknown}");

    let duration = toml::from_str::<CacheConfig>("default_ttl = \"5 parsecs\"").unwrap_err();
    assert!(duration.to_string().contains("default_ttl"), "{duration}");

    let prefix = "LAYERCACHE_CONFIG_TEST_BAD";
    std::env::set_var(format!("{prefix}_L1_CAPACITY"), "lots");
    let error = CacheConfig::from_env(prefix).unwrap_err();
    assert!(
        matches!(&error, ConfigError::Invalid { field, .. } if field == "LAYERCACHE_CONFIG_TEST_BAD_L1_CAPACITY"),
        "{error}"
    );
}

#[tokio::test]
async fn redis_without_url_or_cluster_is_refused_and_no_section_means_l1_only() {
    let config: CacheConfig = toml::from_str("[redis]\ntimeout = \"50ms\"").expect("parses");
    let error = config.build().await.unwrap_err();
    assert!(
        error.to_string().contains("needs `url` or `cluster`"),
        "{error}"
    );

    let l1_only = CacheConfig::default().build().await.expect("builds");
    assert!(!l1_only.has_l2());
}
