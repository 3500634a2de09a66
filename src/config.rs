//! A cache and its Redis L2 from configuration (feature `config`): a `serde` struct, so it can be
//! a section of the service's own config file, plus [`CacheConfig::from_env`] for services
//! configured through environment variables.
//!
//! Durations are humantime text (`"300ms"`, `"5m"`, `"1h30m"`). Every field is optional and
//! defaults to what [`Cache::builder`] and [`RedisL2::builder`](crate::RedisL2::builder) use;
//! unknown fields are errors, so a typo does not silently fall back to a default.
//!
//! ```
//! # #[cfg(feature = "redis")] {
//! use layercache::config::CacheConfig;
//!
//! #[derive(serde::Deserialize)]
//! struct ServiceConfig {
//!     cache: CacheConfig,
//! }
//!
//! let service: ServiceConfig = toml::from_str(r#"
//!     [cache]
//!     namespace = "shop:v1"
//!     l1_capacity = 50_000
//!     default_ttl = "5m"
//!
//!     [cache.redis]
//!     url = "redis://127.0.0.1:6379"
//!     timeout = "50ms"
//! "#)?;
//! assert_eq!(service.cache.default_ttl, Some(std::time::Duration::from_secs(300)));
//! // let cache = service.cache.build().await?;   // connects to Redis when `redis` is set
//! # }
//! # Ok::<_, toml::de::Error>(())
//! ```

use std::fmt::Display;
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;

use crate::{Cache, CacheBuilder, Codec};

/// How to build a [`Cache`]: its L1, defaults and (feature `redis`) its Redis L2.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct CacheConfig {
    /// Prefix of every key (`CacheBuilder::namespace`).
    pub namespace: Option<String>,
    /// Most entries in L1.
    pub l1_capacity: Option<usize>,
    /// Also bound L1 by this many bytes (estimated).
    pub l1_byte_budget: Option<u64>,
    /// Freshness of entries whose function names no `ttl` (humantime, e.g. `"5m"`).
    #[serde(with = "humantime_serde")]
    pub default_ttl: Option<Duration>,
    /// Codec of L2 values: `"json"`, `"bincode"` or `"msgpack"` (each needs its feature).
    pub codec: Option<CodecName>,
    /// Keys longer than this many bytes are replaced by a prefix and a hash.
    pub max_key_len: Option<usize>,
    /// Longest a distributed load lock (`lock`) is held (humantime).
    #[serde(with = "humantime_serde")]
    pub lock_ttl: Option<Duration>,
    /// Invalidations kept for replay while L2 is down.
    pub max_pending_invalidations: Option<usize>,
    /// The Redis L2; none means L1 only.
    #[cfg(feature = "redis")]
    pub redis: Option<RedisConfig>,
}

/// A codec by name, as configuration spells it.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum CodecName {
    /// [`Codec::Json`](crate::Codec).
    Json,
    /// [`Codec::Bincode`](crate::Codec).
    Bincode,
    /// [`Codec::MessagePack`](crate::Codec).
    Msgpack,
}

impl FromStr for CodecName {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        match name {
            "json" => Ok(CodecName::Json),
            "bincode" => Ok(CodecName::Bincode),
            "msgpack" => Ok(CodecName::Msgpack),
            other => Err(format!(
                "unknown codec `{other}`; expected json, bincode or msgpack"
            )),
        }
    }
}

impl CodecName {
    fn codec(self) -> Result<Codec, ConfigError> {
        match self {
            #[cfg(feature = "json")]
            CodecName::Json => Ok(Codec::Json),
            #[cfg(feature = "bincode")]
            CodecName::Bincode => Ok(Codec::Bincode),
            #[cfg(feature = "msgpack")]
            CodecName::Msgpack => Ok(Codec::MessagePack),
            #[allow(unreachable_patterns)] // reachable when a codec feature is off
            other => Err(invalid(
                "codec",
                format!("{other:?} needs the layercache feature of that codec"),
            )),
        }
    }
}

/// How to reach Redis and how the cache treats it (see [`RedisL2Builder`](crate::RedisL2Builder)).
#[cfg(feature = "redis")]
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct RedisConfig {
    /// One server or a primary: `redis://[user:password@]host:port[/db]`, or `rediss://` (TLS).
    pub url: Option<String>,
    /// Nodes of a Redis Cluster (instead of `url`); the rest is discovered.
    pub cluster: Vec<String>,
    /// Upper bound on every Redis operation (humantime, default `50ms`).
    #[serde(with = "humantime_serde")]
    pub timeout: Option<Duration>,
    /// Consecutive failures that open the circuit breaker (default 5).
    pub breaker_failures: Option<u32>,
    /// How long an open breaker skips Redis (humantime, default `2s`).
    #[serde(with = "humantime_serde")]
    pub breaker_cool_down: Option<Duration>,
    /// Largest value written to Redis, in bytes (default 1 MiB).
    pub max_value_size: Option<usize>,
    /// The pub/sub backplane that evicts other instances' L1 (default on).
    pub backplane: Option<bool>,
    /// How long connecting may take (humantime, default `1s`).
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Option<Duration>,
    /// How often the backplane connection is checked (humantime, default `1s`).
    #[serde(with = "humantime_serde")]
    pub health_interval: Option<Duration>,
    /// How long a deleted key remembers its version (humantime, default `5m`).
    #[serde(with = "humantime_serde")]
    pub tombstone_ttl: Option<Duration>,
}

/// Why a configuration could not be read or could not build a cache.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A value that does not parse, or a combination that cannot work.
    #[error("cache configuration: `{field}`: {reason}")]
    Invalid {
        /// The field (or environment variable) at fault.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Redis refused or could not be reached.
    #[cfg(feature = "redis")]
    #[error("cache configuration: cannot connect the Redis L2: {0}")]
    Redis(#[from] crate::RedisL2Error),
}

impl CacheConfig {
    /// A builder with everything but the L2 applied, for settings this struct does not cover.
    pub fn builder(&self) -> Result<CacheBuilder, ConfigError> {
        let mut builder = Cache::builder();
        if let Some(namespace) = &self.namespace {
            builder = builder.namespace(namespace.clone());
        }
        if let Some(entries) = self.l1_capacity {
            builder = builder.l1_capacity(entries);
        }
        if let Some(bytes) = self.l1_byte_budget {
            builder = builder.l1_byte_budget(bytes);
        }
        if let Some(ttl) = self.default_ttl {
            builder = builder.default_ttl(ttl);
        }
        if let Some(codec) = self.codec {
            builder = builder.codec(codec.codec()?);
        }
        if let Some(bytes) = self.max_key_len {
            builder = builder.max_key_len(bytes);
        }
        if let Some(ttl) = self.lock_ttl {
            builder = builder.lock_ttl(ttl);
        }
        if let Some(n) = self.max_pending_invalidations {
            builder = builder.max_pending_invalidations(n);
        }
        Ok(builder)
    }

    /// Builds the cache, connecting its Redis L2 first when one is configured.
    pub async fn build(&self) -> Result<Cache, ConfigError> {
        let builder = self.builder()?;
        #[cfg(feature = "redis")]
        if let Some(redis) = &self.redis {
            return Ok(builder.l2(redis.connect().await?).build());
        }
        Ok(builder.build())
    }

    /// Reads the configuration from environment variables named `{prefix}_{FIELD}`, e.g. with
    /// prefix `LAYERCACHE`: `LAYERCACHE_NAMESPACE`, `LAYERCACHE_DEFAULT_TTL=5m`,
    /// `LAYERCACHE_REDIS_URL`, `LAYERCACHE_REDIS_CLUSTER` (comma-separated nodes),
    /// `LAYERCACHE_REDIS_TIMEOUT=50ms`. Unset or empty variables keep the default; the Redis L2
    /// is configured when `_REDIS_URL` or `_REDIS_CLUSTER` is set.
    pub fn from_env(prefix: &str) -> Result<CacheConfig, ConfigError> {
        let env = Env { prefix };
        Ok(CacheConfig {
            namespace: env.text("NAMESPACE"),
            l1_capacity: env.parsed("L1_CAPACITY")?,
            l1_byte_budget: env.parsed("L1_BYTE_BUDGET")?,
            default_ttl: env.duration("DEFAULT_TTL")?,
            codec: env.parsed("CODEC")?,
            max_key_len: env.parsed("MAX_KEY_LEN")?,
            lock_ttl: env.duration("LOCK_TTL")?,
            max_pending_invalidations: env.parsed("MAX_PENDING_INVALIDATIONS")?,
            #[cfg(feature = "redis")]
            redis: RedisConfig::from_env(&env)?,
        })
    }
}

#[cfg(feature = "redis")]
impl RedisConfig {
    /// Connects the layer this section describes.
    pub async fn connect(&self) -> Result<crate::RedisL2, ConfigError> {
        let mut builder = match (&self.url, self.cluster.is_empty()) {
            (Some(url), true) => crate::RedisL2::builder(url.clone()),
            (None, false) => crate::RedisL2::cluster_builder(self.cluster.clone()),
            (Some(_), false) => return Err(invalid("redis", "set `url` or `cluster`, not both")),
            (None, true) => return Err(invalid("redis", "needs `url` or `cluster`")),
        };
        if let Some(timeout) = self.timeout {
            builder = builder.timeout(timeout);
        }
        if self.breaker_failures.is_some() || self.breaker_cool_down.is_some() {
            builder = builder.breaker(
                self.breaker_failures.unwrap_or(5),
                self.breaker_cool_down.unwrap_or(Duration::from_secs(2)),
            );
        }
        if let Some(bytes) = self.max_value_size {
            builder = builder.max_value_size(bytes);
        }
        if let Some(on) = self.backplane {
            builder = builder.backplane(on);
        }
        if let Some(timeout) = self.connect_timeout {
            builder = builder.connect_timeout(timeout);
        }
        if let Some(interval) = self.health_interval {
            builder = builder.health_interval(interval);
        }
        if let Some(ttl) = self.tombstone_ttl {
            builder = builder.tombstone_ttl(ttl);
        }
        Ok(builder.build().await?)
    }

    fn from_env(env: &Env<'_>) -> Result<Option<RedisConfig>, ConfigError> {
        let url = env.text("REDIS_URL");
        let cluster: Vec<String> = env
            .text("REDIS_CLUSTER")
            .map(|nodes| nodes.split(',').map(|n| n.trim().to_owned()).collect())
            .unwrap_or_default();
        if url.is_none() && cluster.is_empty() {
            return Ok(None);
        }
        Ok(Some(RedisConfig {
            url,
            cluster,
            timeout: env.duration("REDIS_TIMEOUT")?,
            breaker_failures: env.parsed("REDIS_BREAKER_FAILURES")?,
            breaker_cool_down: env.duration("REDIS_BREAKER_COOL_DOWN")?,
            max_value_size: env.parsed("REDIS_MAX_VALUE_SIZE")?,
            backplane: env.parsed("REDIS_BACKPLANE")?,
            connect_timeout: env.duration("REDIS_CONNECT_TIMEOUT")?,
            health_interval: env.duration("REDIS_HEALTH_INTERVAL")?,
            tombstone_ttl: env.duration("REDIS_TOMBSTONE_TTL")?,
        }))
    }
}

fn invalid(field: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

/// Environment variables under one prefix.
struct Env<'a> {
    prefix: &'a str,
}

impl Env<'_> {
    fn name(&self, field: &str) -> String {
        format!("{}_{field}", self.prefix)
    }

    /// The variable's text; unset, empty or not UTF-8 is `None`.
    fn text(&self, field: &str) -> Option<String> {
        std::env::var(self.name(field))
            .ok()
            .filter(|v| !v.is_empty())
    }

    fn parsed<T: FromStr>(&self, field: &str) -> Result<Option<T>, ConfigError>
    where
        T::Err: Display,
    {
        self.text(field)
            .map(|text| {
                text.trim()
                    .parse()
                    .map_err(|e: T::Err| invalid(&self.name(field), format!("`{text}`: {e}")))
            })
            .transpose()
    }

    fn duration(&self, field: &str) -> Result<Option<Duration>, ConfigError> {
        self.text(field)
            .map(|text| {
                humantime::parse_duration(text.trim()).map_err(|e| {
                    invalid(
                        &self.name(field),
                        format!("`{text}`: {e} (write e.g. `50ms`, `5m`, `1h30m`)"),
                    )
                })
            })
            .transpose()
    }
}
