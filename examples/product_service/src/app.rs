//! Assembles one instance: the SQLite file, the cache (with Redis when configured), the routes.

use std::path::PathBuf;
use std::time::Duration;

use axum::Router;
use layercache::{Cache, RedisL2};

use crate::catalog::ProductService;
use crate::db::Db;

/// What an instance needs to start.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Shared by every instance; created and seeded when missing.
    pub db_path: PathBuf,
    /// The L2 shared by every instance; `None` runs on L1 alone (then instances do not see each
    /// other's writes until their L1 copies expire).
    pub redis_url: Option<String>,
    /// Prefix of every cache key; bump it to start from an empty cache.
    pub namespace: String,
}

/// Opens the database, connects the cache, and returns the routes.
pub async fn build(settings: &Settings) -> anyhow::Result<Router> {
    let path = settings.db_path.clone();
    let db = tokio::task::spawn_blocking(move || Db::open(&path)).await??;

    // The metrics recorder first, so the cache's figures are recorded from its first call.
    crate::http::prometheus_handle();
    let mut cache = Cache::builder()
        .namespace(settings.namespace.clone())
        .l1_capacity(50_000)
        .default_ttl(Duration::from_secs(300));
    let mut layer = None;
    if let Some(url) = &settings.redis_url {
        let redis = RedisL2::connect(url.as_str()).await?;
        cache = cache.l2(redis.clone());
        layer = Some(redis);
    }
    let cache = cache.build();
    tracing::info!(
        namespace = cache.namespace(),
        l2 = cache.has_l2(),
        db = %settings.db_path.display(),
        "cache ready"
    );
    Ok(crate::http::router(ProductService::new(db, cache), layer))
}
