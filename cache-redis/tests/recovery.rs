//! Redis comes back (a partition heals, a restart): L2 hits and backplane delivery resume
//! quickly, with the builder's default settings, and no caller ever sees an error.
//!
//! The partition is real: the server runs in a network namespace joined by a veth pair, and the
//! link is taken down (packets silently dropped, no reset) and up again. Needs root and `ip`.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cache_core::{Cache, EntryOptions, Invalidation, InvalidationMessage, L2};
use cache_redis::RedisL2;
use layercache_test_support::{eventually, namespace, NetworkNamespace, RedisServer};

/// The promise (issue 10): within 1 s of Redis being back. Measured ~0.1–0.2 s on the loaded
/// 2-core development machine; before the fix 1.6–1.8 s after a partition and 0.5–2.1 s after a
/// restart (the breaker's 2 s cool-down).
const RESUME_DEADLINE: Duration = Duration::from_secs(1);
const OPTS: EntryOptions = EntryOptions::new().ttl(Duration::from_secs(600));

/// A cache on a layer with the builder's defaults (50 ms timeout, breaker 5 / 2 s, 1 s health).
async fn instance(url: &str, ns: &str) -> (Cache, RedisL2) {
    let layer = RedisL2::connect(url).await.expect("connect");
    let cache = Cache::builder().namespace(ns).l2(layer.clone()).build();
    (cache, layer)
}

/// Counts caller-visible errors.
#[derive(Clone, Default)]
struct Errors(Arc<AtomicUsize>);

impl Errors {
    async fn read(&self, cache: &Cache, key: &str, opts: &EntryOptions, value: &str) -> String {
        let value = value.to_owned();
        match cache
            .get_or_load(key, opts, || async move { Ok::<_, std::io::Error>(value) })
            .await
        {
            Ok(v) => v,
            Err(_) => {
                self.0.fetch_add(1, Ordering::SeqCst);
                String::new()
            }
        }
    }

    fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// Two instances on `url`: A wrote `k` to L2 before the fault, B reads it (L1 off).
struct Scene {
    a: (Cache, RedisL2),
    b: (Cache, RedisL2),
    errors: Errors,
}

impl Scene {
    async fn new(url: &str) -> Scene {
        let ns = namespace("recovery");
        let scene = Scene {
            a: instance(url, &ns).await,
            b: instance(url, &ns).await,
            errors: Errors::default(),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !(scene.a.1.backplane_connected() && scene.b.1.backplane_connected()) {
            assert!(Instant::now() < deadline, "backplanes never subscribed");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(scene.errors.read(&scene.a.0, "k", &OPTS, "v").await, "v");
        // A's write and B's read each get the layer's 50 ms timeout: on a loaded machine one
        // can miss it (then B loads and stores its own value). Until B hits, A writes `k` again.
        eventually(
            Duration::from_secs(10),
            "B reads A's value from L2",
            || async {
                scene.a.0.set("k", &"v".to_string(), &OPTS).await;
                scene.b_hits_l2().await
            },
        )
        .await;
        scene
    }

    /// Whether B's read of `k` (L1 off) came from L2.
    async fn b_hits_l2(&self) -> bool {
        let before = self.b.0.stats().l2_hits;
        let value = self
            .errors
            .read(&self.b.0, "k", &OPTS.l1(false), "loaded")
            .await;
        value == "v" && self.b.0.stats().l2_hits > before
    }

    /// Calls on both instances for `period` while Redis is unreachable (so breakers open and
    /// the layers notice).
    async fn keep_calling(&self, period: Duration) {
        let until = Instant::now() + period;
        let mut i = 0u32;
        while Instant::now() < until {
            i += 1;
            for (cache, _) in [&self.a, &self.b] {
                let key = format!("during{i}");
                assert_eq!(self.errors.read(cache, &key, &OPTS, "x").await, "x");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// From now on: how long until B's L2 reads hit again (A stores `k` again each round, as
    /// the application would after a restart lost it), and until a message A publishes reaches
    /// B's backplane (A publishes every 20 ms through its layer).
    async fn time_to_resume(&self) -> (Duration, Duration) {
        let healed = Instant::now();
        let received = self.b.0.stats().invalidations_received;
        let (mut hit, mut delivered) = (None, None);
        let mut n = 0u64;
        while hit.is_none() || delivered.is_none() {
            let elapsed = healed.elapsed();
            assert!(
                elapsed < RESUME_DEADLINE,
                "after {elapsed:?}: L2 hits resumed after {hit:?}, backplane after {delivered:?}; \
                 A {:?}; B {:?}",
                self.a.0.stats(),
                self.b.0.stats()
            );
            if hit.is_none() {
                // A restart lost it: A writes it again (a no-op change after a partition).
                self.a.0.set("k", &"v".to_string(), &OPTS).await;
                if self.b_hits_l2().await {
                    hit = Some(healed.elapsed());
                }
            }
            if delivered.is_none() {
                n += 1;
                let message = InvalidationMessage {
                    origin: self.a.0.instance_id(),
                    invalidation: Invalidation::Key(format!("{}:probe{n}", self.a.0.namespace())),
                };
                let _ = tokio::time::timeout(Duration::from_millis(50), self.a.1.publish(&message))
                    .await;
                if self.b.0.stats().invalidations_received > received {
                    delivered = Some(healed.elapsed());
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let (hit, delivered) = (hit.unwrap_or_default(), delivered.unwrap_or_default());
        println!("L2 hits resumed after {hit:?}, backplane delivery after {delivered:?}");
        (hit, delivered)
    }
}

#[tokio::test]
async fn after_a_partition_heals_l2_hits_and_the_backplane_resume_quickly() {
    let netns = NetworkNamespace::create()
        .unwrap_or_else(|e| panic!("this test needs network namespaces (root, `ip`): {e}"));
    let server = RedisServer::start_in(&netns, &[]);
    let scene = Scene::new(&server.url()).await;

    netns.link_down();
    // Long enough for TCP's retransmission back-off to grow past a second.
    scene.keep_calling(Duration::from_secs(5)).await;
    netns.link_up();
    scene.time_to_resume().await;
    assert_eq!(scene.errors.count(), 0, "caller-visible errors");
}

#[tokio::test]
async fn after_a_restart_l2_hits_and_the_backplane_resume_quickly() {
    let mut server = RedisServer::start();
    let scene = Scene::new(&server.url()).await;

    // Three times: where the breaker's cool-down falls differs from one restart to the next.
    for _ in 0..3 {
        server.kill();
        scene.keep_calling(Duration::from_secs(2)).await;
        server.restart();
        scene.time_to_resume().await;
    }
    assert_eq!(scene.errors.count(), 0, "caller-visible errors");
}
