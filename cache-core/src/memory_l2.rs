//! An in-memory [`L2`] for tests: shared between caches by cloning, and able to fail or hang on
//! command so the cache's failure rules can be tested without Redis.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::l2::{BackplaneListener, InvalidationMessage, L2Error, L2Policy, L2};

/// What every operation of a [`MemoryL2`] does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Fault {
    /// Work normally.
    None = 0,
    /// Fail at once with a backend error.
    Fail = 1,
    /// Never answer (the cache's timeout must cut it short).
    Hang = 2,
}

/// An in-memory L2. Clones share the same store and backplane, like two instances sharing Redis.
///
/// Like `RedisL2`, it is bound to the namespace of the first cache attached to it (the store and
/// every clone of it: attach one store per namespace) and receives keys without it; its
/// [`stored_key`](L2::stored_key) shows a key as `ns:k` (`k` in the empty namespace).
#[derive(Clone, Debug, Default)]
pub struct MemoryL2 {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Set by the first `attach`.
    namespace: OnceLock<String>,
    entries: Mutex<HashMap<String, (Vec<u8>, Instant)>>,
    tags: Mutex<HashMap<String, u64>>,
    versions: Mutex<HashMap<String, u64>>,
    locks: Mutex<HashMap<String, (String, Instant)>>,
    listeners: Mutex<Vec<Arc<dyn BackplaneListener>>>,
    fault: AtomicU8,
    gets: AtomicU64,
    sets: AtomicU64,
    policy: Mutex<Option<L2Policy>>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryL2")
            .field("entries", &self.entries.lock().len())
            .finish_non_exhaustive()
    }
}

impl MemoryL2 {
    /// An empty store with the default policy.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store with `policy` (timeouts, breaker, size limit).
    pub fn with_policy(policy: L2Policy) -> Self {
        let l2 = Self::default();
        *l2.inner.policy.lock() = Some(policy);
        l2
    }

    /// Makes every following operation behave as `fault` says.
    pub fn set_fault(&self, fault: Fault) {
        self.inner.fault.store(fault as u8, Ordering::SeqCst);
    }

    /// The raw bytes under cache key `key` (no namespace, like every other method), bypassing
    /// faults.
    pub fn raw_get(&self, key: &str) -> Option<Vec<u8>> {
        self.inner.entries.lock().get(key).map(|(v, _)| v.clone())
    }

    /// Writes raw bytes under cache key `key` (e.g. a corrupt value), bypassing faults.
    pub fn raw_set(&self, key: &str, value: Vec<u8>) {
        let until = Instant::now() + Duration::from_secs(3600);
        self.inner
            .entries
            .lock()
            .insert(key.to_owned(), (value, until));
    }

    /// Number of stored entries.
    pub fn len(&self) -> usize {
        self.inner.entries.lock().len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Successful `get` calls so far.
    pub fn get_count(&self) -> u64 {
        self.inner.gets.load(Ordering::SeqCst)
    }

    /// Successful `set` calls so far.
    pub fn set_count(&self) -> u64 {
        self.inner.sets.load(Ordering::SeqCst)
    }

    /// Simulates a backplane drop and its recovery: every listener sees both events.
    pub fn bounce_backplane(&self) {
        let listeners = self.inner.listeners.lock().clone();
        for l in &listeners {
            l.on_disconnect();
            l.on_reconnect();
        }
    }

    async fn check(&self) -> Result<(), L2Error> {
        match self.inner.fault.load(Ordering::SeqCst) {
            1 => Err(L2Error::Backend("injected failure".into())),
            2 => std::future::pending().await,
            _ => Ok(()),
        }
    }
}

#[async_trait::async_trait]
impl L2 for MemoryL2 {
    fn attach(&self, namespace: &str, _instance_id: u64, listener: Arc<dyn BackplaneListener>) {
        // The first attach binds the store, as `RedisL2`'s does.
        let _ = self.inner.namespace.set(namespace.to_owned());
        self.inner.listeners.lock().push(listener);
    }

    fn stored_key(&self, key: &str) -> String {
        match self.inner.namespace.get().map(String::as_str) {
            None | Some("") => key.to_owned(),
            Some(namespace) => format!("{namespace}:{key}"),
        }
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, L2Error> {
        self.check().await?;
        self.inner.gets.fetch_add(1, Ordering::SeqCst);
        let mut map = self.inner.entries.lock();
        match map.get(key) {
            Some((_, until)) if *until <= Instant::now() => {
                map.remove(key);
                Ok(None)
            }
            Some((v, _)) => Ok(Some(v.clone())),
            None => Ok(None),
        }
    }

    async fn set(&self, key: &str, value: Vec<u8>, ttl: Duration) -> Result<(), L2Error> {
        self.check().await?;
        let limit = self.policy().max_value_size;
        if value.len() > limit {
            return Err(L2Error::TooLarge {
                len: value.len(),
                limit,
            });
        }
        self.inner.sets.fetch_add(1, Ordering::SeqCst);
        let until = Instant::now() + ttl;
        self.inner
            .entries
            .lock()
            .insert(key.to_owned(), (value, until));
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), L2Error> {
        self.check().await?;
        let mut entries = self.inner.entries.lock();
        entries.remove(key);
        *self
            .inner
            .versions
            .lock()
            .entry(key.to_owned())
            .or_insert(0) += 1;
        Ok(())
    }

    async fn get_versioned(&self, key: &str) -> Result<(Option<Vec<u8>>, u64), L2Error> {
        let value = self.get(key).await?;
        let version = self.inner.versions.lock().get(key).copied().unwrap_or(0);
        Ok((value, version))
    }

    async fn set_if_version(
        &self,
        key: &str,
        value: Vec<u8>,
        ttl: Duration,
        version: u64,
    ) -> Result<bool, L2Error> {
        self.check().await?;
        let limit = self.policy().max_value_size;
        if value.len() > limit {
            return Err(L2Error::TooLarge {
                len: value.len(),
                limit,
            });
        }
        // One lock order (entries, then versions) with `delete`, so check-and-set is atomic.
        let mut entries = self.inner.entries.lock();
        if self.inner.versions.lock().get(key).copied().unwrap_or(0) != version {
            return Ok(false);
        }
        self.inner.sets.fetch_add(1, Ordering::SeqCst);
        entries.insert(key.to_owned(), (value, Instant::now() + ttl));
        Ok(true)
    }

    async fn tag_versions(&self, tags: &[String]) -> Result<Vec<u64>, L2Error> {
        self.check().await?;
        let map = self.inner.tags.lock();
        Ok(tags
            .iter()
            .map(|t| map.get(t).copied().unwrap_or(0))
            .collect())
    }

    async fn bump_tag(&self, tag: &str) -> Result<u64, L2Error> {
        self.check().await?;
        let mut map = self.inner.tags.lock();
        let v = map.entry(tag.to_owned()).or_insert(0);
        *v += 1;
        Ok(*v)
    }

    async fn clear(&self) -> Result<(), L2Error> {
        self.check().await?;
        self.inner.entries.lock().clear();
        Ok(())
    }

    async fn publish(&self, message: &InvalidationMessage) -> Result<(), L2Error> {
        self.check().await?;
        let listeners = self.inner.listeners.lock().clone();
        for l in &listeners {
            l.on_message(message.clone());
        }
        Ok(())
    }

    async fn try_lock(&self, key: &str, token: &str, ttl: Duration) -> Result<bool, L2Error> {
        self.check().await?;
        let mut locks = self.inner.locks.lock();
        let now = Instant::now();
        match locks.get(key) {
            Some((_, until)) if *until > now => Ok(false),
            _ => {
                locks.insert(key.to_owned(), (token.to_owned(), now + ttl));
                Ok(true)
            }
        }
    }

    async fn unlock(&self, key: &str, token: &str) -> Result<(), L2Error> {
        self.check().await?;
        let mut locks = self.inner.locks.lock();
        if locks.get(key).is_some_and(|(t, _)| t == token) {
            locks.remove(key);
        }
        Ok(())
    }

    fn policy(&self) -> L2Policy {
        self.inner.policy.lock().unwrap_or_default()
    }
}
