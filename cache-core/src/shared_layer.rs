//! The L2 as the read and write paths use it: the client, trusted only while the invalidation
//! journal has nothing pending (or has just replayed it).

use std::sync::Arc;
use std::time::Duration;

use crate::envelope::{Envelope, TagStamp};
use crate::journal::InvalidationJournal;
use crate::l2_client::{L2Client, L2Read, WriteIf};
use crate::load_plan::ValueIo;
use crate::payload::PayloadFormat;

/// The L2 side of a cache: the client, and the journal that guards it.
pub(crate) struct SharedLayer {
    pub(crate) client: Arc<L2Client>,
    pub(crate) journal: Arc<InvalidationJournal>,
}

impl SharedLayer {
    /// Whether L2 may be used now (no invalidation pending, or their replay succeeded).
    pub(crate) async fn trusted(&self) -> bool {
        self.journal.trusted().await
    }

    /// Reads and checks `key`, and the key's version to store a loaded value under.
    pub(crate) async fn read<V>(
        &self,
        key: &str,
        format: PayloadFormat,
        io: ValueIo<V>,
    ) -> (L2Read<V>, Option<u64>) {
        if !self.trusted().await {
            return (L2Read::Unavailable, None);
        }
        self.client.read(key, format, io).await
    }

    /// The key's version alone (a refresh skips the value read but still needs it).
    pub(crate) async fn version(&self, key: &str) -> Option<u64> {
        if !self.trusted().await {
            return None;
        }
        self.client.version(key).await
    }

    /// Writes `envelope` under `key`, unless it is over the size limit or L2 is untrusted.
    pub(crate) async fn write(
        &self,
        key: &str,
        envelope: &Envelope,
        ttl: Duration,
        condition: WriteIf,
    ) {
        let Some(bytes) = self.client.encode(key, envelope) else {
            return;
        };
        if !self.trusted().await {
            return;
        }
        self.client.write(key, bytes, ttl, condition).await;
    }

    /// Stamps `tags` with their L2 versions when L2 is trusted; `None` when it is not.
    pub(crate) async fn tag_stamps(&self, tags: &[String]) -> Option<Vec<TagStamp>> {
        if !self.trusted().await {
            return None;
        }
        Some(self.client.tag_stamps(tags).await)
    }
}
