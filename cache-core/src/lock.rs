//! The cross-instance load lock: one instance loads a key while the others wait (bounded) for
//! its value to appear in L2.

use crate::log::{self, RateLimit};
use std::future::Future;
use std::time::{Duration, Instant};

use crate::l2_client::L2Client;
use crate::stats::Counters;

/// The result of asking for the lock.
pub(crate) enum LockOutcome<'a, V> {
    /// Another instance loaded the value while we waited.
    Loaded(V),
    /// We hold the lock.
    Held(HeldLock<'a>),
    /// No lock (L2 failing, or waited too long): load without it.
    Proceed,
}

/// A lock this instance holds; give it back with [`HeldLock::release`].
pub(crate) struct HeldLock<'a> {
    client: &'a L2Client,
    name: String,
    token: String,
}

impl HeldLock<'_> {
    pub(crate) async fn release(self) {
        self.client.unlock(&self.name, &self.token).await;
    }
}

/// Where to wait and what to look for while waiting.
pub(crate) struct LockRequest<'a> {
    pub(crate) client: &'a L2Client,
    /// The cache key the lock guards (the L2 names the lock after it).
    pub(crate) key: &'a str,
    pub(crate) ttl: Duration,
    pub(crate) counters: &'a Counters,
}

impl<'a> LockRequest<'a> {
    /// Takes the lock, or waits (bounded polling) for its holder's value: `fresh` reads L2 for
    /// it.
    pub(crate) async fn acquire<V, F, Fut>(self, mut fresh: F) -> LockOutcome<'a, V>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<V>>,
    {
        // The L2 keeps locks apart from values (it decorates the name, once).
        let name = self.key.to_owned();
        let token = format!(
            "{:016x}{:016x}",
            self.client.origin(),
            rand::random::<u64>()
        );
        let deadline = Instant::now() + self.ttl;
        let mut backoff = Duration::from_millis(2);
        let mut waited = false;
        loop {
            match self.client.try_lock(&name, &token, self.ttl).await {
                Ok(true) => {
                    let held = HeldLock {
                        client: self.client,
                        name,
                        token,
                    };
                    // The holder before us may have stored the value just now.
                    if waited {
                        if let Some(v) = fresh().await {
                            held.release().await;
                            return LockOutcome::Loaded(v);
                        }
                    }
                    return LockOutcome::Held(held);
                }
                Ok(false) => {}
                Err(_) => return LockOutcome::Proceed,
            }
            if !waited {
                waited = true;
                Counters::incr(&self.counters.lock_waits);
            }
            if Instant::now() >= deadline {
                static WAITED: RateLimit = RateLimit::new();
                if let Some(suppressed) = WAITED.check() {
                    tracing::warn!(
                        target: log::L2,
                        suppressed,
                        "waited a whole lock TTL for another instance's load; loading here. \
                         Raise `lock_ttl` above the slowest load"
                    );
                }
                return LockOutcome::Proceed;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_millis(50));
            if let Some(v) = fresh().await {
                return LockOutcome::Loaded(v);
            }
        }
    }
}
