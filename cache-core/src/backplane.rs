//! Receiving the backplane: what another instance's invalidation does to this one.

use crate::log;
use std::sync::Weak;

use crate::cache::CacheInner;
use crate::l2::{BackplaneListener, Invalidation, InvalidationMessage};
use crate::stats::Counters;

/// Receives backplane events for one cache; weak, so the L2 does not keep the cache alive.
pub(crate) struct BackplaneReceiver(pub(crate) Weak<CacheInner>);

impl BackplaneListener for BackplaneReceiver {
    fn on_message(&self, message: InvalidationMessage) {
        let Some(inner) = self.0.upgrade() else {
            return;
        };
        if message.origin == inner.instance_id {
            return;
        }
        Counters::incr(&inner.counters.invalidations_received);
        match message.invalidation {
            Invalidation::Key(key) => {
                tracing::debug!(target: log::BACKPLANE, key, "backplane: key invalidated");
                inner.flights.invalidate(&key);
                inner.l1.remove(&key);
            }
            Invalidation::Tag { tag, version } => {
                tracing::debug!(target: log::BACKPLANE, tag, version, "backplane: tag invalidated");
                inner.tags.raise(&tag, version);
            }
            Invalidation::Clear => {
                tracing::debug!(target: log::BACKPLANE, "backplane: namespace cleared");
                inner.flights.invalidate_all();
                inner.l1.clear();
            }
        }
    }

    fn on_reconnect(&self) {
        let Some(inner) = self.0.upgrade() else {
            return;
        };
        inner.flights.invalidate_all();
        inner.l1.clear();
        Counters::incr(&inner.counters.backplane_reconnects);
        tracing::info!(target: log::BACKPLANE,
            namespace = inner.namespace,
            "backplane reconnected: L1 cleared of what it may have missed"
        );
        // Replay what failed during the outage now, rather than on the next call.
        if let (Ok(rt), Some(l2)) = (tokio::runtime::Handle::try_current(), &inner.l2) {
            let journal = l2.journal.clone();
            rt.spawn(async move {
                crate::l2_client::unguarded(journal.replay()).await;
            });
        }
    }

    fn on_disconnect(&self) {
        if let Some(inner) = self.0.upgrade() {
            tracing::warn!(
                target: log::BACKPLANE,
                namespace = inner.namespace,
                "backplane disconnected: other instances' invalidations are not heard until it \
                 reconnects (L1 is cleared then); check Redis"
            );
        }
    }
}
