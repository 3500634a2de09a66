//! Cache instances on a shared Redis, the way an application runs several of them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cache_core::{Cache, CacheBuilder, EntryOptions};
use cache_redis::{RedisL2, RedisL2Builder};
use layercache_test_support::eventually;

/// One application instance: its cache and (a handle to) its Redis layer.
pub struct Instance {
    pub cache: Cache,
    pub layer: RedisL2,
}

impl Instance {
    /// A cache on `url` under `namespace`, with short timeouts so faults show quickly.
    pub async fn new(url: &str, namespace: &str) -> Instance {
        Instance::with(url, namespace, |b| b).await
    }

    /// Two instances on `url` under one `namespace`, the second subscribed to the backplane
    /// (it is the one that must hear what the first invalidates).
    pub async fn pair(url: &str, namespace: &str) -> (Instance, Instance) {
        let first = Instance::new(url, namespace).await;
        let second = Instance::new(url, namespace).await;
        second.subscribed().await;
        (first, second)
    }

    /// Like [`new`](Self::new), with changes to the cache builder.
    pub async fn with(
        url: &str,
        namespace: &str,
        configure: impl FnOnce(CacheBuilder) -> CacheBuilder,
    ) -> Instance {
        Instance::with_layer(url, namespace, |l| l, configure).await
    }

    /// Like [`with`](Self::with), with changes to the Redis layer's builder too.
    pub async fn with_layer(
        url: &str,
        namespace: &str,
        configure_layer: impl FnOnce(RedisL2Builder) -> RedisL2Builder,
        configure: impl FnOnce(CacheBuilder) -> CacheBuilder,
    ) -> Instance {
        let layer = RedisL2::builder(url)
            .timeout(Duration::from_millis(100))
            .breaker(3, Duration::from_millis(300))
            .connect_timeout(Duration::from_millis(300))
            .health_interval(Duration::from_millis(100));
        let layer = configure_layer(layer).build().await.expect("connect");
        let cache = configure(Cache::builder().namespace(namespace))
            .l2(layer.clone())
            .build();
        Instance { cache, layer }
    }

    /// Reads the string under `key`, loading `value` on a miss (counted in `loads`).
    pub async fn read(&self, key: &str, opts: &EntryOptions, loads: &Loads, value: &str) -> String {
        self.cache
            .get_or_load(key, opts, loads.returning(value.to_string()))
            .await
            .unwrap()
    }

    /// Waits until the backplane subscription is up.
    pub async fn subscribed(&self) {
        eventually(Duration::from_secs(5), "backplane subscribed", || async {
            cache_core::L2::backplane_connected(&self.layer)
        })
        .await;
    }
}

/// Counts loader runs.
#[derive(Clone, Default)]
pub struct Loads(Arc<AtomicUsize>);

impl Loads {
    pub fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }

    /// A loader returning `value` and counting the call.
    pub fn returning<T: Send + 'static>(
        &self,
        value: T,
    ) -> impl FnOnce() -> std::future::Ready<Result<T, std::io::Error>> {
        let counter = Arc::clone(&self.0);
        move || {
            counter.fetch_add(1, Ordering::SeqCst);
            std::future::ready(Ok(value))
        }
    }
}
