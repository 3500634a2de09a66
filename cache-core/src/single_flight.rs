//! Single-flight: one loader per key however many callers miss at once.
//!
//! The first caller of a key becomes the leader and holds a [`LeaderGuard`]; the others get a
//! [`Waiter`]. The leader publishes its outcome in the flight's slot and wakes the waiters. If
//! the leader's future is dropped (cancelled) or its loader panics, the guard's `Drop` removes the
//! flight and ends it without an outcome, so every waiter wakes with [`Wait::LeaderGone`] and one
//! of them takes over. Different keys live in different map entries (sharded) and never wait on
//! each other.
//!
//! Invariants (model-checked under shuttle in `single_flight_model.rs`):
//! - at most one leader per key at a time: a key's flight leaves the map only when its leader
//!   completes, is dropped, or the key is invalidated (then the old leader's value is not stored);
//! - no lost wake-up: a waiter registers its waker under the slot's lock, and the leader ends
//!   the slot under the same lock before it wakes, so a waiter either sees the end or is woken;
//! - no poisoned key: a cancelled or panicking leader ends its flight in `Drop`.

use std::any::Any;
use std::collections::HashMap;
use std::future::poll_fn;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::task::{Poll, Waker};

use crate::shim::{AtomicBool, Mutex, Ordering};

/// A finished load, type-erased (the reader downcasts it to its own outcome type).
pub(crate) type Outcome = Arc<dyn Any + Send + Sync>;

const SHARDS: usize = 64;

struct Flight {
    slot: Mutex<Slot>,
    /// Set when the key is invalidated during the load: the result must not be stored.
    invalidated: AtomicBool,
}

/// What waiters of one flight see: nothing yet, or the end (with or without an outcome).
#[derive(Default)]
struct Slot {
    outcome: Option<Outcome>,
    ended: bool,
    wakers: Vec<Waker>,
}

impl Flight {
    fn new() -> Self {
        Flight {
            slot: Mutex::new(Slot::default()),
            invalidated: AtomicBool::new(false),
        }
    }

    /// Ends the flight (with `outcome`, or none when the leader is gone) and wakes every waiter.
    fn end(&self, outcome: Option<Outcome>) {
        let wakers = {
            let mut slot = self.slot.lock();
            if slot.ended {
                return;
            }
            slot.ended = true;
            slot.outcome = outcome;
            std::mem::take(&mut slot.wakers)
        };
        for waker in wakers {
            waker.wake();
        }
    }
}

/// The flights of the keys that hash to one shard. The key is shared with the leader's guard
/// (one allocation per load).
type Shard = Mutex<HashMap<Arc<str>, Arc<Flight>, foldhash::fast::RandomState>>;

/// The in-flight loads of one cache.
pub(crate) struct SingleFlight {
    shards: Box<[Shard]>,
    hasher: foldhash::fast::RandomState,
}

/// Held by the one caller that loads a key.
pub(crate) struct LeaderGuard<'a> {
    owner: &'a SingleFlight,
    key: Arc<str>,
    flight: Arc<Flight>,
    /// Set by `complete`: the flight is out of the map and ended, `Drop` has nothing to do.
    completed: bool,
}

/// Held by callers that wait for the leader.
pub(crate) struct Waiter {
    flight: Arc<Flight>,
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
            shards: (0..SHARDS)
                .map(|_| Mutex::new(HashMap::default()))
                .collect(),
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
                flight: flight.clone(),
            });
        }
        let flight = Arc::new(Flight::new());
        let key: Arc<str> = Arc::from(key);
        map.insert(Arc::clone(&key), flight.clone());
        Join::Leader(LeaderGuard {
            owner: self,
            key,
            flight,
            completed: false,
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
    pub(crate) fn complete(mut self, outcome: Outcome) {
        // Remove first, so a caller arriving now starts a new flight and sees the L1 fill.
        self.remove();
        self.flight.end(Some(outcome));
        self.completed = true;
    }

    /// Like [`complete`](Self::complete), building the outcome only when a waiter can receive
    /// it: once the flight is out of the map nobody can join it, so when the guard holds its only
    /// reference there is no waiter (the common, uncontended load) and no copy of the value is
    /// made. (Dropping the guard then ends the flight for nobody.)
    pub(crate) fn complete_with(mut self, outcome: impl FnOnce() -> Outcome) {
        self.remove();
        // Waiters clone the flight under the shard lock, which `remove` took after them.
        // (Otherwise nobody waits, nor can any more: there is nothing to end.)
        if Arc::strong_count(&self.flight) > 1 {
            self.flight.end(Some(outcome()));
        }
        self.completed = true;
    }

    /// Takes this flight out of the map (one lookup); a newer flight of the key (started after
    /// an invalidation detached this one) stays.
    fn remove(&self) {
        let mut map = self.owner.shard(&self.key).lock();
        if let Some((key, flight)) = map.remove_entry(&*self.key) {
            if !Arc::ptr_eq(&flight, &self.flight) {
                map.insert(key, flight);
            }
        }
    }
}

impl Drop for LeaderGuard<'_> {
    fn drop(&mut self) {
        // Cancelled or panicked before completing: end the flight without an outcome, which
        // wakes every waiter with `LeaderGone`.
        if !self.completed {
            self.remove();
            self.flight.end(None);
        }
    }
}

impl Waiter {
    /// Waits for the leader's outcome.
    pub(crate) async fn wait(self) -> Wait {
        let mut registered: Option<usize> = None;
        poll_fn(|cx| {
            let mut slot = self.flight.slot.lock();
            if slot.ended {
                return Poll::Ready(match slot.outcome.clone() {
                    Some(outcome) => Wait::Done(outcome),
                    None => Wait::LeaderGone,
                });
            }
            // Registered under the lock the leader ends the slot with: no wake-up is lost.
            match registered {
                Some(i) => slot.wakers[i].clone_from(cx.waker()),
                None => {
                    registered = Some(slot.wakers.len());
                    slot.wakers.push(cx.waker().clone());
                }
            }
            Poll::Pending
        })
        .await
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
        // Bounded, so a lost wake-up fails the test instead of hanging it.
        let Wait::Done(o) = tokio::time::timeout(Duration::from_secs(10), w.wait())
            .await
            .expect("the waiter is woken")
        else {
            panic!("done")
        };
        assert_eq!(o.downcast_ref::<u32>(), Some(&5));
        assert_eq!(sf.in_flight(), 0);

        // Without waiters the outcome is never built; with one it is.
        let Join::Leader(g) = sf.join("alone") else {
            panic!("first is leader")
        };
        g.complete_with(|| panic!("built for nobody"));
        assert_eq!(sf.in_flight(), 0);
        let Join::Leader(g) = sf.join("watched") else {
            panic!("first is leader")
        };
        let Join::Waiter(w) = sf.join("watched") else {
            panic!("second waits")
        };
        g.complete_with(|| Arc::new(6u32));
        let Wait::Done(o) = tokio::time::timeout(Duration::from_secs(10), w.wait())
            .await
            .expect("the waiter is woken")
        else {
            panic!("done")
        };
        assert_eq!(o.downcast_ref::<u32>(), Some(&6));
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
