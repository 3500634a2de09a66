//! The invalidation journal and its replay: invalidations that could not reach L2 (or the
//! backplane) are kept in [`PendingInvalidations`] and applied again until L2 confirms them.
//! While any are pending, L2 is not trusted: an old value there must never be served after a
//! writer's invalidation returned.

use crate::log::{self, RateLimit};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::l2::Invalidation;
use crate::l2_client::{unguarded, L2Client};
use crate::pending_invalidations::{PendingInvalidations, PendingItem};
use crate::stats::Counters;

/// Pause between two background replays while L2 does not answer. Each costs at most one L2
/// timeout; the first after L2 is back ends the outage for everyone (it also closes the breaker).
const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// Pending invalidations of one cache and the machinery that replays them.
pub(crate) struct InvalidationJournal {
    client: Arc<L2Client>,
    counters: Arc<Counters>,
    pending: PendingInvalidations,
    /// One replay at a time.
    replaying: tokio::sync::Mutex<()>,
    /// Whether a background replay-retry task is running.
    retrying: AtomicBool,
}

/// Clears `InvalidationJournal::retrying` when the replay-retry task ends, however it ends: done,
/// or dropped with its runtime (even before its first poll). The next failed replay starts a new
/// task.
struct RetryFlag(Weak<InvalidationJournal>);

impl Drop for RetryFlag {
    fn drop(&mut self) {
        if let Some(journal) = self.0.upgrade() {
            journal.retrying.store(false, Ordering::Release);
        }
    }
}

impl InvalidationJournal {
    pub(crate) fn new(client: Arc<L2Client>, counters: Arc<Counters>, max_pending: usize) -> Self {
        InvalidationJournal {
            client,
            counters,
            pending: PendingInvalidations::new(max_pending),
            replaying: tokio::sync::Mutex::new(()),
            retrying: AtomicBool::new(false),
        }
    }

    /// How many invalidations wait for replay.
    pub(crate) fn len(&self) -> usize {
        self.pending.len()
    }

    /// Keeps `item` until its replay is confirmed (L2 is untrusted from now on).
    pub(crate) fn record(&self, item: PendingItem) {
        self.pending.add(item);
    }

    /// Whether L2 may be read or written now: nothing pending. Otherwise the replay runs in the
    /// background, never in the caller's call, and the caller skips L2 until it is done.
    pub(crate) async fn trusted(self: &Arc<Self>) -> bool {
        if !self.pending.any() {
            return true;
        }
        self.spawn_retries();
        Counters::incr(&self.counters.l2_skipped);
        false
    }

    /// Applies `item`, which its writer just recorded, once and at once: the writer's call pays
    /// for its own invalidation only. Whatever is left (older items, or this one when L2 failed)
    /// is replayed in the background.
    pub(crate) async fn apply_now(self: &Arc<Self>, item: &PendingItem) {
        if let Some((seq, failed_before)) = self.pending.entry(item) {
            if self.apply(item).await {
                self.pending.confirm(item, seq);
                if failed_before {
                    self.counters.invalidations_replayed.add(1);
                }
            } else {
                self.pending.mark_failed(item, seq);
            }
        }
        if self.pending.any() {
            self.spawn_retries();
        }
    }

    /// Replays pending invalidations to L2 and the backplane; true when none remain. While
    /// another replay is running the answer is false: its work is not confirmed yet.
    pub(crate) async fn replay(self: &Arc<Self>) -> bool {
        let Ok(_one_at_a_time) = self.replaying.try_lock() else {
            return false;
        };
        if !self.pending.any() {
            return true;
        }
        let mut done = 0u64;
        let mut failed = false;
        // Invalidations added while a round runs are taken by the next round (a few at most:
        // a steady stream of writes must not keep one caller here).
        for _round in 0..4 {
            let items = self.pending.snapshot();
            if items.is_empty() || failed {
                break;
            }
            for (item, seq, failed_before) in items {
                // Once L2 fails and the breaker opens, the rest waits for the next replay.
                if failed && self.client.breaker_open() {
                    self.pending.mark_failed(&item, seq);
                    continue;
                }
                if self.apply(&item).await {
                    self.pending.confirm(&item, seq);
                    done += u64::from(failed_before);
                } else {
                    self.pending.mark_failed(&item, seq);
                    failed = true;
                }
            }
        }
        if done > 0 {
            self.counters.invalidations_replayed.add(done);
        }
        if !self.pending.any() {
            return true;
        }
        static KEPT: RateLimit = RateLimit::new();
        if let Some(suppressed) = KEPT.check() {
            tracing::warn!(
                target: log::L2,
                left = self.pending.len(),
                suppressed,
                "invalidations could not reach L2; kept and replayed when it answers. Until then \
                 this instance does not read L2 (so it never serves what it invalidated); check \
                 Redis"
            );
        }
        self.spawn_retries();
        false
    }

    /// Applies one invalidation to L2 and announces it on the backplane.
    async fn apply(&self, item: &PendingItem) -> bool {
        let client = &self.client;
        match item {
            PendingItem::Clear => client.clear().await && client.publish(Invalidation::Clear).await,
            PendingItem::Key(key) => {
                client.delete(key).await && client.publish(Invalidation::Key(key.clone())).await
            }
            PendingItem::Tag(tag) => match client.bump_tag(tag).await {
                Some(version) => {
                    client
                        .publish(Invalidation::Tag {
                            tag: tag.clone(),
                            version,
                        })
                        .await
                }
                None => false,
            },
        }
    }

    /// Keeps retrying the replay in the background (one task per cache) every [`RETRY_PAUSE`]
    /// until nothing is pending, so an outage's invalidations reach L2 and the other instances
    /// within a fraction of a second of L2 answering again, even when no call touches L2. Its
    /// calls skip an open breaker (they are the probe; see [`unguarded`]): recovery waits
    /// neither for callers nor for the cool-down.
    pub(crate) fn spawn_retries(self: &Arc<Self>) {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.retrying.swap(true, Ordering::AcqRel) {
            return;
        }
        let weak = Arc::downgrade(self);
        let pause = RETRY_PAUSE;
        let flag = RetryFlag(weak.clone());
        rt.spawn(async move {
            loop {
                tokio::time::sleep(pause).await;
                let Some(journal) = weak.upgrade() else {
                    return;
                };
                if unguarded(journal.replay()).await {
                    drop(flag);
                    // Work added between the replay and the flag reset gets its own task.
                    if journal.pending.any() {
                        journal.spawn_retries();
                    }
                    return;
                }
            }
        });
    }
}
