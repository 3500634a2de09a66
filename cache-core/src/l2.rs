//! The `L2` trait: a shared layer (Redis in production) behind the in-process L1.
//!
//! `Cache` holds it as `Arc<dyn L2>`. It only moves bytes: the cache encodes values into
//! [`Envelope`](crate::envelope::Envelope)s, bounds every call by [`L2Policy::timeout`], and opens a
//! circuit breaker after repeated failures, so an implementation needs none of that logic.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Why an L2 operation failed. Never surfaced to a caller of a cached function: the cache
/// degrades to the loader and counts it in `l2_errors`.
#[derive(Debug, thiserror::Error)]
pub enum L2Error {
    /// The operation did not finish within the layer's timeout.
    #[error("L2 operation timed out after {0:?}")]
    Timeout(Duration),
    /// The circuit breaker is open: L2 is being skipped for a cool-down.
    #[error("L2 circuit breaker is open")]
    BreakerOpen,
    /// The layer could not be reached or answered in a way that says the server (or node) is
    /// unwell: a connection or protocol error, a server that is loading, read-only or failing
    /// over. Counts towards the circuit breaker.
    #[error("L2 backend error: {0}")]
    Backend(String),
    /// The server answered but refused this one operation: the key holds something this layer
    /// did not write (wrong type, a record that does not parse), the user may not touch this key,
    /// or the server is out of memory for a write. A miss or a failed write for that key,
    /// counted in `l2_refused`; it says the server is reachable, so it never opens the breaker.
    #[error("L2 refused the operation: {0}")]
    Refused(String),
    /// The value is over the size limit and was not written.
    #[error("value of {len} bytes is over the L2 limit of {limit} bytes")]
    TooLarge {
        /// Encoded size.
        len: usize,
        /// The limit.
        limit: usize,
    },
}

/// What an L2 operation touches, so the cache can pick the circuit breaker of the part of the
/// layer that serves it (see [`L2::fault_domain`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L2Target<'a> {
    /// The value of this cache key (without the namespace, as the `L2` methods receive it).
    Value(&'a str),
    /// The distributed lock named after this cache key (without the namespace).
    Lock(&'a str),
    /// The layer's shared records: tag versions, the namespace generation, the backplane.
    Shared,
}

/// What an instance tells the others after an invalidation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Invalidation {
    /// One key, without the namespace (as `Cache::invalidate` takes it and L1 holds it): the
    /// backplane is the namespace's own.
    Key(String),
    /// Every entry carrying `tag` whose stamp is older than `version`.
    Tag {
        /// The rendered tag.
        tag: String,
        /// The tag's new version.
        version: u64,
    },
    /// Every entry of the namespace.
    Clear,
}

/// A backplane message: an [`Invalidation`] and the instance that sent it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvalidationMessage {
    /// The sending cache's instance id; an instance ignores its own messages.
    pub origin: u64,
    /// What to evict.
    pub invalidation: Invalidation,
}

/// Receives backplane events. Implemented by `Cache`; called by the L2 from its own task.
pub trait BackplaneListener: Send + Sync + 'static {
    /// Another (or this) instance invalidated something.
    fn on_message(&self, message: InvalidationMessage);
    /// The subscription came back after a drop: messages may have been missed, so the listener
    /// must drop whatever they could have covered (the cache clears its L1).
    fn on_reconnect(&self);
    /// The subscription dropped.
    fn on_disconnect(&self) {}
}

/// Timeouts, breaker thresholds and limits the cache applies to an L2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct L2Policy {
    /// Upper bound on every operation.
    pub timeout: Duration,
    /// Consecutive failures that open the circuit breaker.
    pub breaker_failures: u32,
    /// How long an open breaker skips L2 before one probe is allowed.
    pub breaker_cool_down: Duration,
    /// Largest envelope written to or accepted from L2, in bytes.
    pub max_value_size: usize,
}

impl Default for L2Policy {
    fn default() -> Self {
        L2Policy {
            timeout: Duration::from_millis(50),
            breaker_failures: 5,
            breaker_cool_down: Duration::from_secs(2),
            max_value_size: 1024 * 1024,
        }
    }
}

/// The shared second layer.
///
/// # Keys
///
/// The namespace belongs to the cache and is applied once, by the layer. The layer is bound to
/// the cache's namespace by [`attach`](L2::attach), which the cache calls once when it is built;
/// every key passed in afterwards is a cache key *without* the namespace (`product:7` for a cache
/// in namespace `shop`: what L1 holds and `Cache::invalidate` takes), already bounded by the
/// cache's key-length rule (which counts `namespace:`). The layer stores it wherever it keeps that
/// namespace's entries (`RedisL2`: `shop:@:product:7`) and never parses the key. Lock names
/// ([`try_lock`](L2::try_lock)) are cache keys too, undecorated: the layer keeps locks apart
/// from values. Tags are rendered tag strings, also without the namespace; the layer keeps tags
/// of different namespaces apart.
///
/// The cache calls every method below, each bounded by [`L2Policy::timeout`] and the circuit
/// breaker (one place: `l2_client.rs`); an error never reaches a caller, it only makes the cache
/// skip L2 for the rest of that call. The methods come in five groups: binding, values (with
/// per-key versions), tags, the namespace, the load lock, and the backplane.
#[async_trait::async_trait]
pub trait L2: Send + Sync + std::fmt::Debug + 'static {
    // --- binding ---

    /// Binds the layer to the cache's namespace and instance, and starts delivering backplane
    /// events to `listener`. Called once by `CacheBuilder::build`.
    fn attach(&self, namespace: &str, instance_id: u64, listener: Arc<dyn BackplaneListener>);

    /// The policy the cache applies to this layer (read once, when the cache is built).
    fn policy(&self) -> L2Policy {
        L2Policy::default()
    }

    // --- values ---

    /// Reads `key` and its version: a counter that every [`delete`](L2::delete) of the key (and
    /// every [`clear`](L2::clear)) moves forward. A load remembers the version it started under
    /// and stores its value with [`set_if_version`](L2::set_if_version), so a load that read the
    /// source of truth before an invalidation can never put its old value into L2 after that
    /// invalidation.
    ///
    /// Contract: read-your-writes for one instance; a version never repeats for a key while a
    /// load that read it may still be running, even when the layer loses the key's record
    /// (evicted, flushed, failed over): a lost record is never read as an old version again
    /// (`RedisL2` leases a missing key before the load). A layer without versions returns 0 and
    /// the race stays open.
    async fn get_versioned(&self, key: &str) -> Result<(Option<Vec<u8>>, u64), L2Error>;

    /// Reads the bytes stored under `key` (not called by the cache: a convenience for tests and
    /// tools).
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, L2Error> {
        Ok(self.get_versioned(key).await?.0)
    }

    /// Stores `value` under `key` for `ttl` (a write-through by `Cache::set`, or a load that
    /// had no version to go by).
    ///
    /// Contract: last writer wins; the value is gone after `ttl`; the key's version moves, so a
    /// load that began before the write cannot overwrite it.
    async fn set(&self, key: &str, value: Vec<u8>, ttl: Duration) -> Result<(), L2Error>;

    /// Stores `value` only if the key's version is still `version`; returns whether it stored.
    ///
    /// Contract: atomic with respect to [`delete`](L2::delete) and [`clear`](L2::clear): once
    /// either returned, a `set_if_version` with an older version stores nothing.
    /// The default stores unconditionally (no versions).
    async fn set_if_version(
        &self,
        key: &str,
        value: Vec<u8>,
        ttl: Duration,
        version: u64,
    ) -> Result<bool, L2Error> {
        let _ = version;
        self.set(key, value, ttl).await.map(|()| true)
    }

    /// Deletes `key` and moves its version forward (see [`get_versioned`](L2::get_versioned)).
    ///
    /// Contract: after it returns, no instance reads the old value from L2.
    async fn delete(&self, key: &str) -> Result<(), L2Error>;

    // --- tags ---

    /// Current versions of `tags`, in order (0, or any version below the next bump, for a tag
    /// never invalidated).
    ///
    /// Contract: a version never goes below one [`bump_tag`](L2::bump_tag) returned, even when
    /// the layer lost the tag's record: a lost record reads as "invalidated as of now".
    async fn tag_versions(&self, tags: &[String]) -> Result<Vec<u64>, L2Error>;

    /// Invalidates `tag`: moves its version forward and returns the new one.
    ///
    /// Contract: atomic, shared by every instance, above every version of the tag handed out
    /// before (also after the layer lost the record); entries stamped with an older version are
    /// misses from then on.
    async fn bump_tag(&self, tag: &str) -> Result<u64, L2Error>;

    // --- the namespace ---

    /// Drops every entry of the namespace, in O(1) (e.g. by moving to a new generation).
    ///
    /// Contract: after it returns, no instance reads a value written before it, and a
    /// [`set_if_version`](L2::set_if_version) with a version read before it stores nothing.
    async fn clear(&self) -> Result<(), L2Error>;

    // --- the load lock ---

    /// Takes the lock named after cache key `key` for `ttl` if nobody holds it; `token`
    /// identifies the holder. The layer keeps locks apart from values (a
    /// [`clear`](L2::clear) does not free a held lock).
    ///
    /// Contract: at most one holder per name until `ttl` passes or the holder unlocks.
    async fn try_lock(&self, key: &str, token: &str, ttl: Duration) -> Result<bool, L2Error>;

    /// Releases the lock `key` only if `token` still holds it.
    async fn unlock(&self, key: &str, token: &str) -> Result<(), L2Error>;

    // --- the backplane ---

    /// Sends `message` to every instance attached to this namespace (including the sender,
    /// which ignores its own).
    ///
    /// Contract: at most once, no order across senders; a receiver that may have missed
    /// messages is told so by [`BackplaneListener::on_reconnect`].
    async fn publish(&self, message: &InvalidationMessage) -> Result<(), L2Error>;

    /// The key this layer stores cache key `key` (no namespace) under, as operators see it (e.g.
    /// in `redis-cli`, with the namespace); logs name it. Default: `key` itself.
    fn stored_key(&self, key: &str) -> String {
        key.to_owned()
    }

    /// Whether [`get_versioned`](L2::get_versioned) ends within [`L2Policy::timeout`] on its own,
    /// failing (with an error) when the layer does not answer in time. The cache then sets no
    /// timer of its own around it: a read is the call on every L2 hit, and a layer that already
    /// bounds each command (a Redis connection's response timeout) would otherwise pay for two
    /// timers per hit. Every other call the cache still bounds itself. Read once when the cache is
    /// built. The default is `false`.
    fn bounds_reads(&self) -> bool {
        false
    }

    /// How many independent parts serve the layer (e.g. the masters of a Redis Cluster). The
    /// cache keeps one circuit breaker per part, so a part that fails turns L2 off only for what
    /// it serves. Read once when the cache is built. The default is 1.
    fn fault_domains(&self) -> usize {
        1
    }

    /// Which part (below [`fault_domains`](L2::fault_domains)) serves `target`. The default is 0.
    fn fault_domain(&self, target: L2Target<'_>) -> usize {
        let _ = target;
        0
    }

    /// How many times the layer's connection came back after being lost. When it moves while
    /// the circuit breaker is open, the cache probes the layer at once instead of waiting out the
    /// cool-down. The default (always 0) leaves the cool-down alone.
    fn reconnections(&self) -> u64 {
        0
    }

    /// Whether the backplane subscription is currently up (true for layers without one).
    fn backplane_connected(&self) -> bool {
        true
    }
}
