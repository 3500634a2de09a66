//! Sending invalidations: applied here first, then journaled and replayed to L2 and the
//! backplane (see `journal.rs`), so a writer's invalidation is never lost to an L2 outage.

use crate::cache::CacheInner;
use crate::l2::Invalidation;
use crate::log;
use crate::pending_invalidations::PendingItem;
use crate::stats::Counters;

impl CacheInner {
    /// Applies a key, tag or clear invalidation here, then in L2 and on the backplane (or keeps
    /// it for replay when L2 cannot be reached).
    pub(crate) async fn send_invalidation(&self, invalidation: Invalidation) {
        Counters::incr(&self.counters.invalidations_sent);
        let item = match invalidation {
            Invalidation::Key(key) => PendingItem::Key(key),
            Invalidation::Clear => PendingItem::Clear,
            Invalidation::Tag { tag, .. } => PendingItem::Tag(tag),
        };
        // Order matters. 1: journal the invalidation, so L2 is untrusted until it is applied
        // (a load starting from now on does not read the old value there). 2: mark the loads
        // in flight, which may have read it already. 3: drop L1 (see `Cache::fill_l1`).
        if let Some(l2) = &self.l2 {
            l2.journal.record(item.clone());
        }
        match &item {
            PendingItem::Key(key) => {
                tracing::debug!(target: log::CALL, key, "invalidate");
                self.flights.invalidate(key);
                self.l1.remove(key);
            }
            PendingItem::Clear => {
                self.flights.invalidate_all();
                self.l1.clear();
            }
            PendingItem::Tag(tag) => {
                self.tags.bump_local(tag);
            }
        }
        if let Some(l2) = &self.l2 {
            l2.journal.apply_now(&item).await;
        }
    }

    /// Invalidates a tag: bumps its version in L2 (or locally while L2 is unreachable).
    pub(crate) async fn send_tag_invalidation(&self, tag: &str) {
        self.flights.invalidate_all();
        if self.l2.is_none() {
            Counters::incr(&self.counters.invalidations_sent);
            self.tags.bump_local(tag);
            return;
        }
        self.send_invalidation(Invalidation::Tag {
            tag: tag.to_owned(),
            version: 0,
        })
        .await;
    }

    /// Tells other instances to drop `invalidation` from their L1 (after a write-through).
    pub(crate) async fn notify_others(&self, invalidation: Invalidation) {
        let Some(l2) = &self.l2 else { return };
        let key = match &invalidation {
            Invalidation::Key(key) => Some(key.clone()),
            _ => None,
        };
        if !l2.client.publish(invalidation).await {
            // Others may keep an old L1 copy: replaying the delete makes everyone reload.
            if let Some(key) = key {
                l2.journal.record(PendingItem::Key(key));
                l2.journal.spawn_retries();
            }
        }
    }
}
