//! The write path of one call: a loaded (or `set`) value goes to L2 in its envelope, then to
//! L1, unless the key was invalidated while it loaded.

use crate::log;
use std::time::Duration;

use crate::cache::Cache;
use crate::clock::{tick, tick_after, UnixMillis};
use crate::envelope::{Envelope, TagStamp};
use crate::key::CacheKey;
use crate::l1::{Deadlines, L1Entry};
use crate::l2_client::{L2Hit, WriteIf};
use crate::read_path::Call;
use crate::single_flight::LeaderGuard;
use crate::stats::Counters;
use crate::weigh::value_heap_bytes;

/// How one value is stored.
pub(crate) struct Store<'g> {
    /// Freshness (before jitter).
    pub(crate) ttl: Duration,
    /// The tag versions the value was loaded under.
    pub(crate) stamps: Vec<TagStamp>,
    /// Whether (and on which condition) the value goes to L2; `None` keeps it in L1.
    pub(crate) l2: Option<WriteIf>,
    /// The load's single-flight guard, whose invalidation mark keeps the value out of L1.
    pub(crate) flight: Option<&'g LeaderGuard<'g>>,
}

impl Cache {
    /// Writes a value to L2 (when `store.l2` says so) and L1.
    pub(crate) async fn store<V, E>(&self, call: &Call<'_, V, E>, value: &V, store: Store<'_>)
    where
        V: Clone + Send + Sync + 'static,
    {
        let inner = &*self.inner;
        let opts = call.opts;
        let ttl = store.ttl + jitter(opts.jitter);
        let stale = opts.stale.unwrap_or(Duration::ZERO);
        let mut encoded_len = None;
        if let (Some(condition), Some(io), Some(l2)) = (store.l2, call.l2, inner.l2.as_ref()) {
            let format = self.payload_format(opts, io);
            match format.encode(io, value) {
                Ok(payload) => {
                    encoded_len = Some(payload.raw_len);
                    let now = UnixMillis::now();
                    let envelope = Envelope {
                        codec_id: format.codec.id(),
                        compression_id: payload.compression_id,
                        fingerprint: format.fingerprint,
                        created: now,
                        fresh_until: now.plus(ttl),
                        stale_until: now.plus(ttl + stale),
                        tags: store.stamps.clone(),
                        payload: payload.bytes,
                    };
                    l2.write(call.key.as_str(), &envelope, ttl + stale, condition)
                        .await;
                }
                Err(e) => {
                    Counters::incr(&inner.counters.l2_errors);
                    tracing::warn!(target: log::L2, error = %e, "value could not be encoded for L2; kept in L1 only");
                }
            }
        }
        if opts.l1 {
            let now = tick();
            let l1_ttl = opts.l1_ttl.map_or(ttl, |t| t.min(ttl));
            let heap_bytes = || value_heap_bytes(value, call.plan.weigh, opts, encoded_len);
            let weight = inner
                .l1
                .weigh::<V>(call.key.as_str(), heap_bytes, &store.stamps);
            let entry = L1Entry::new(
                value.clone(),
                Deadlines {
                    fresh_until: tick_after(now, l1_ttl),
                    stale_until: tick_after(now, ttl + stale),
                    refresh_at: opts.refresh.map(|r| tick_after(now, r)),
                },
                store.stamps,
                weight,
            );
            self.fill_l1(&call.key, entry, store.flight);
        }
    }

    /// Copies a fresh L2 hit into L1, with the deadlines its envelope has left.
    pub(crate) fn fill_l1_from_l2<V, E>(
        &self,
        call: &Call<'_, V, E>,
        hit: &L2Hit<V>,
        flight: Option<&LeaderGuard<'_>>,
    ) where
        V: Clone + Send + Sync + 'static,
    {
        let (envelope, now) = (&hit.envelope, hit.read_at);
        let at = tick();
        let fresh_left = envelope.fresh_until.remaining_from(now);
        let l1_fresh = call.opts.l1_ttl.map_or(fresh_left, |t| t.min(fresh_left));
        let refresh_at = call.opts.refresh.map(|r| {
            let since_created = now.0.saturating_sub(envelope.created.0);
            tick_after(at, r.saturating_sub(Duration::from_millis(since_created)))
        });
        let heap_bytes =
            || value_heap_bytes(&hit.value, call.plan.weigh, call.opts, Some(hit.raw_len));
        let weight = self
            .inner
            .l1
            .weigh::<V>(call.key.as_str(), heap_bytes, &envelope.tags);
        let entry = L1Entry::new(
            hit.value.clone(),
            Deadlines {
                fresh_until: tick_after(at, l1_fresh),
                stale_until: tick_after(at, envelope.stale_until.remaining_from(now)),
                refresh_at,
            },
            envelope.tags.clone(),
            weight,
        );
        self.fill_l1(&call.key, entry, flight);
    }

    /// Puts an entry into L1 unless the key was invalidated during this load. Inserting first
    /// and checking after closes the race with an invalidation on another thread: either its
    /// L1 removal comes after our insert, or we see its mark and remove our entry.
    fn fill_l1<V: Send + Sync + 'static>(
        &self,
        key: &CacheKey,
        entry: L1Entry<V>,
        flight: Option<&LeaderGuard<'_>>,
    ) {
        if flight.is_some_and(|f| f.invalidated()) {
            return;
        }
        let entry = self.inner.l1.insert(key.as_str(), entry);
        if flight.is_some_and(|f| f.invalidated()) {
            self.inner.l1.remove_entry(key.as_str(), &entry);
        }
    }

    /// Tag stamps for a load: versions from L2 when it is used and reachable, else local ones.
    pub(crate) async fn tag_stamps(&self, tags: &[String], use_l2: bool) -> Vec<TagStamp> {
        if tags.is_empty() {
            return Vec::new();
        }
        if let Some(l2) = self.inner.l2.as_ref().filter(|_| use_l2) {
            if let Some(stamps) = l2.tag_stamps(tags).await {
                return stamps;
            }
        }
        self.inner.tags.stamps(tags)
    }
}

/// Random extra TTL in `[0, max]`.
fn jitter(max: Option<Duration>) -> Duration {
    match max {
        Some(max) if !max.is_zero() => Duration::from_millis(rand::random_range(
            0..=max.as_millis().min(u64::MAX as u128) as u64,
        )),
        _ => Duration::ZERO,
    }
}
