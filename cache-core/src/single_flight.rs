//! Single-flight: one loader per key however many callers miss at once.
//!
//! The first caller of a key becomes the leader and holds a [`LeaderGuard`]; the others get a
//! [`Waiter`]. The leader publishes its outcome through a `watch` channel. If the leader's future
//! is dropped (cancelled) or its loader panics, the guard's `Drop` removes the flight and closes
//! the channel, so every waiter wakes with [`Wait::LeaderGone`] and one of them takes over.
//! Different keys live in different map entries (sharded) and never wait on each other.

use std::any::Any;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::watch;

/// A finished load, type-erased (the reader downcasts it to its own outcome type).
pub(crate) type Outcome = Arc<dyn Any + Send + Sync>;

const SHARDS: usize = 64;

struct Flight {
    done: watch::Sender<Option<Outcome>>,
    /// Set when the key is invalidated during the load: the result must not be stored.
    invalidated: AtomicBool,
}

/// The flights of the keys that hash to one shard.
type Shard = Mutex<HashMap<String, Arc<Flight>>>;

/// The in-flight loads of one cache.
pub(crate) struct SingleFlight {
    shards: Box<[Shard]>,
    hasher: foldhash::fast::RandomState,
}

/// Held by the one caller that loads a key.
pub(crate) struct LeaderGuard<'a> {
    owner: &'a SingleFlight,
    key: String,
    flight: Arc<Flight>,
}

/// Held by callers that wait for the leader.
pub(crate) struct Waiter {
    rx: watch::Receiver<Option<Outcome>>,
}

pub(crate) enum Join<'a> {
    Leader(LeaderGuard<'a>),
    Waiter(Waiter),
}

pub(crate) enum Wait {
    Done(Outcome),
    LeaderGone,
}

impl Default for SingleFlight {
    fn default() -> Self {
        SingleFlight {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: Default::default(),
        }
    }
}

impl SingleFlight {
    fn shard(&self, key: &str) -> &Shard {
        &self.shards[(self.hasher.hash_one(key) as usize) % SHARDS]
    }

    /// Becomes the leader of `key`, or a waiter on the current leader.
    pub(crate) fn join(&self, key: &str) -> Join<'_> {
        let mut map = self.shard(key).lock();
        if let Some(flight) = map.get(key) {
            return Join::Waiter(Waiter {
                rx: flight.done.subscribe(),
            });
        }
        let flight = Arc::new(Flight {
            done: watch::channel(None).0,
            invalidated: AtomicBool::new(false),
        });
        map.insert(key.to_owned(), flight.clone());
        Join::Leader(LeaderGuard {
            owner: self,
            key: key.to_owned(),
            flight,
        })
    }

    /// Becomes the leader of `key` only if nobody is loading it (for refresh-ahead).
    pub(crate) fn try_lead(&self, key: &str) -> Option<LeaderGuard<'_>> {
        match self.join(key) {
            Join::Leader(g) => Some(g),
            Join::Waiter(_) => None,
        }
    }

    /// Marks the load of `key` in flight, if any, as invalidated, and detaches it: its value
    /// is not stored, and callers arriving from now on start a new load instead of receiving a
    /// value read before the invalidation.
    pub(crate) fn invalidate(&self, key: &str) {
        if let Some(f) = self.shard(key).lock().remove(key) {
            f.invalidated.store(true, Ordering::Release);
        }
    }

    /// [`invalidate`](Self::invalidate) for every load in flight (tag invalidation or clear).
    pub(crate) fn invalidate_all(&self) {
        for shard in self.shards.iter() {
            for (_, f) in shard.lock().drain() {
                f.invalidated.store(true, Ordering::Release);
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn in_flight(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
    }
}

impl LeaderGuard<'_> {
    /// Whether the key was invalidated since this load began.
    pub(crate) fn invalidated(&self) -> bool {
        self.flight.invalidated.load(Ordering::Acquire)
    }

    /// Hands the outcome to every waiter and ends the flight.
    pub(crate) fn complete(self, outcome: Outcome) {
        // Remove first, so a caller arriving now starts a new flight and sees the L1 fill; after
        // that nobody can subscribe, so with no receiver there is no one to tell.
        self.remove();
        if self.flight.done.receiver_count() > 0 {
            self.flight.done.send_replace(Some(outcome));
        }
    }

    fn remove(&self) {
        let mut map = self.owner.shard(&self.key).lock();
        if map
            .get(&self.key)
            .is_some_and(|f| Arc::ptr_eq(f, &self.flight))
        {
            map.remove(&self.key);
        }
    }
}

impl Drop for LeaderGuard<'_> {
    fn drop(&mut self) {
        // Cancelled or panicked before completing: end the flight; the channel closes when the
        // last Arc to it (ours) goes, which wakes every waiter with `LeaderGone`.
        self.remove();
    }
}

impl Waiter {
    /// Waits for the leader's outcome.
    pub(crate) async fn wait(mut self) -> Wait {
        loop {
            if let Some(outcome) = self.rx.borrow_and_update().clone() {
                return Wait::Done(outcome);
            }
            if self.rx.changed().await.is_err() {
                // Closed: a value sent just before closing is still visible.
                return match self.rx.borrow().clone() {
                    Some(outcome) => Wait::Done(outcome),
                    None => Wait::LeaderGone,
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn waiters_get_the_leaders_outcome() {
        let sf = SingleFlight::default();
        let Join::Leader(g) = sf.join("k") else {
            panic!("first is leader")
        };
        let Join::Waiter(w) = sf.join("k") else {
            panic!("second waits")
        };
        g.complete(Arc::new(5u32));
        let Wait::Done(o) = w.wait().await else {
            panic!("done")
        };
        assert_eq!(o.downcast_ref::<u32>(), Some(&5));
        assert_eq!(sf.in_flight(), 0);
    }

    #[tokio::test]
    async fn dropped_leader_wakes_waiters() {
        let sf = SingleFlight::default();
        let g = sf.try_lead("k").unwrap();
        let Join::Waiter(w) = sf.join("k") else {
            panic!()
        };
        drop(g);
        let r = tokio::time::timeout(Duration::from_secs(5), w.wait())
            .await
            .unwrap();
        assert!(matches!(r, Wait::LeaderGone));
        assert!(
            matches!(sf.join("k"), Join::Leader(_)),
            "key is not poisoned"
        );
    }

    #[test]
    fn invalidation_marks_the_flight() {
        let sf = SingleFlight::default();
        let g = sf.try_lead("k").unwrap();
        assert!(!g.invalidated());
        sf.invalidate("k");
        assert!(g.invalidated());
        assert!(
            matches!(sf.join("k"), Join::Leader(_)),
            "a caller after the invalidation starts a new load"
        );
        let g2 = sf.try_lead("j").unwrap();
        sf.invalidate_all();
        assert!(g2.invalidated());
    }
}
