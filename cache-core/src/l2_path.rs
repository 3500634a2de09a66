//! The L2 path: every call bounded by the timeout and the circuit breaker, envelope decoding,
//! tag checks, invalidations (kept and replayed when L2 is unreachable) and the load lock.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::cache::{Cache, L2Link};
use crate::clock::{tick, tick_after, UnixMillis};
use crate::envelope::{Envelope, TagStamp};
use crate::key::CacheKey;
use crate::l1::L1Entry;
use crate::l2::{Invalidation, InvalidationMessage, L2Error};
use crate::load_plan::ValueIo;
use crate::options::EntryOptions;
use crate::pending_invalidations::PendingItem;
use crate::single_flight::LeaderGuard;
use crate::stats::Counters;

/// Clears `L2Link::retrying` when the replay-retry task ends, however it ends: done, or dropped
/// with its runtime (even before its first poll). The next failed replay starts a new task.
struct RetryFlag(std::sync::Weak<crate::cache::CacheInner>);

impl Drop for RetryFlag {
    fn drop(&mut self) {
        if let Some(l2) = self
            .0
            .upgrade()
            .as_ref()
            .and_then(|inner| inner.l2.as_ref())
        {
            l2.retrying
                .store(false, std::sync::atomic::Ordering::Release);
        }
    }
}

/// What an L2 lookup found.
pub(crate) enum L2Read<V> {
    Fresh(V),
    Stale(V),
    Miss,
    /// L2 failed, timed out, is behind an open breaker or has invalidations pending: the rest
    /// of this call does not touch it again (a call pays at most one L2 timeout).
    Unavailable,
}

impl<V> L2Read<V> {
    pub(crate) fn into_fresh(self) -> Option<V> {
        match self {
            L2Read::Fresh(v) => Some(v),
            _ => None,
        }
    }
}

/// The result of asking for the distributed load lock.
pub(crate) enum LockOutcome<V> {
    /// Another instance loaded the value while we waited.
    Loaded(V),
    /// We hold the lock with this token.
    Held(String),
    /// No lock (L2 failing, or waited too long): load without it.
    Proceed,
}

impl Cache {
    /// Runs one L2 operation under the breaker and the timeout, counting failures.
    pub(crate) async fn l2_call<T>(
        &self,
        l2: &L2Link,
        op: &'static str,
        fut: impl Future<Output = Result<T, L2Error>>,
    ) -> Result<T, L2Error> {
        let counters = &self.inner.counters;
        if !l2.breaker.allow() {
            Counters::incr(&counters.l2_skipped);
            return Err(L2Error::BreakerOpen);
        }
        let was_open = l2.breaker.is_open();
        let error = match tokio::time::timeout(l2.policy.timeout, fut).await {
            Ok(Ok(v)) => {
                l2.breaker.on_success();
                if was_open {
                    tracing::info!(op, "L2 answered again; circuit breaker closed");
                }
                return Ok(v);
            }
            Ok(Err(L2Error::TooLarge { len, limit })) => {
                Counters::incr(&counters.l2_oversize);
                return Err(L2Error::TooLarge { len, limit });
            }
            Ok(Err(e)) => e,
            Err(_) => L2Error::Timeout(l2.policy.timeout),
        };
        Counters::incr(&counters.l2_errors);
        tracing::debug!(op, error = %error, "L2 operation failed");
        if l2.breaker.on_failure() == crate::breaker::Tripped::Opened {
            Counters::incr(&counters.breaker_opened);
            tracing::warn!(
                op,
                error = %error,
                cool_down = ?l2.policy.breaker_cool_down,
                "L2 circuit breaker opened: skipping L2"
            );
        }
        Err(error)
    }

    /// Whether L2 may be read or written now: nothing pending, or the pending replay succeeded.
    async fn l2_trusted(&self, l2: &L2Link) -> bool {
        if !l2.pending.any() {
            return true;
        }
        if self.replay_pending(l2).await {
            return true;
        }
        Counters::incr(&self.inner.counters.l2_skipped);
        false
    }

    /// Reads and checks `key` in L2; a fresh value is copied to L1.
    pub(crate) async fn l2_read<V>(
        &self,
        l2: &L2Link,
        key: &CacheKey,
        opts: &EntryOptions,
        io: ValueIo<V>,
    ) -> L2Read<V>
    where
        V: Clone + Send + Sync + 'static,
    {
        self.l2_read_versioned(l2, key, opts, io, &mut None, None)
            .await
    }

    /// [`l2_read`](Self::l2_read) that also reports the key's L2 version in `version`, for a
    /// load to store its value under (see `L2::set_if_version`).
    pub(crate) async fn l2_read_versioned<V>(
        &self,
        l2: &L2Link,
        key: &CacheKey,
        opts: &EntryOptions,
        io: ValueIo<V>,
        version: &mut Option<u64>,
        flight: Option<&LeaderGuard<'_>>,
    ) -> L2Read<V>
    where
        V: Clone + Send + Sync + 'static,
    {
        let inner = &*self.inner;
        if !self.l2_trusted(l2).await {
            return L2Read::Unavailable;
        }
        let bytes = match self
            .l2_call(l2, "get", l2.layer.get_versioned(key.as_str()))
            .await
        {
            Ok((bytes, v)) => {
                *version = Some(v);
                match bytes {
                    Some(bytes) => bytes,
                    None => return L2Read::Miss,
                }
            }
            Err(_) => return L2Read::Unavailable,
        };
        let codec = opts.codec.unwrap_or(inner.codec);
        let envelope = match Envelope::decode(&bytes, l2.policy.max_value_size) {
            Ok(e) if e.codec_id == codec.id() => e,
            Ok(e) => {
                Counters::incr(&inner.counters.decode_errors);
                tracing::debug!(
                    key = key.as_str(),
                    found = e.codec_id,
                    expected = codec.id(),
                    "L2 value has another codec; treated as a miss"
                );
                return L2Read::Miss;
            }
            Err(error) => {
                Counters::incr(&inner.counters.decode_errors);
                tracing::debug!(key = key.as_str(), %error, "L2 value is not a valid envelope");
                return L2Read::Miss;
            }
        };
        let now = UnixMillis::now();
        if now >= envelope.stale_until {
            return L2Read::Miss;
        }
        if !envelope.tags.is_empty() {
            match self.tags_still_valid(l2, &envelope.tags).await {
                Some(true) => {}
                Some(false) => return L2Read::Miss,
                // Unverifiable: do not trust it.
                None => return L2Read::Unavailable,
            }
        }
        let value = match (io.decode)(&codec, &envelope.payload) {
            Ok(v) => v,
            Err(error) => {
                Counters::incr(&inner.counters.decode_errors);
                tracing::debug!(key = key.as_str(), %error, "L2 payload did not decode");
                return L2Read::Miss;
            }
        };
        if now >= envelope.fresh_until {
            return L2Read::Stale(value);
        }
        Counters::incr(&inner.counters.l2_hits);
        tracing::trace!(layer = "l2", "hit");
        if opts.l1 {
            self.fill_l1_from(key, opts, &value, &envelope, now, flight);
        }
        L2Read::Fresh(value)
    }

    /// Checks an L2 value's tag stamps against the tag versions in L2 (and those known here).
    async fn tags_still_valid(&self, l2: &L2Link, stamps: &[TagStamp]) -> Option<bool> {
        let names: Vec<String> = stamps.iter().map(|s| s.tag.clone()).collect();
        match self
            .l2_call(l2, "tag_versions", l2.layer.tag_versions(&names))
            .await
        {
            Ok(versions) => {
                for (name, v) in names.iter().zip(&versions) {
                    self.inner.tags.raise(name, *v);
                }
                Some(self.inner.tags.still_valid(stamps))
            }
            Err(_) => None,
        }
    }

    fn fill_l1_from<V: Clone + Send + Sync + 'static>(
        &self,
        key: &CacheKey,
        opts: &EntryOptions,
        value: &V,
        envelope: &Envelope,
        now: UnixMillis,
        flight: Option<&LeaderGuard<'_>>,
    ) {
        let inner = &*self.inner;
        let at = tick();
        let fresh_left = envelope.fresh_until.remaining_from(now);
        let l1_fresh = opts.l1_ttl.map_or(fresh_left, |t| t.min(fresh_left));
        let refresh_at = opts.refresh.map(|r| {
            let since_created = now.0.saturating_sub(envelope.created.0);
            tick_after(at, r.saturating_sub(Duration::from_millis(since_created)))
        });
        let weight =
            inner
                .l1
                .weigh::<V>(key.as_str(), Some(envelope.payload.len()), &envelope.tags);
        let entry = L1Entry::new(
            value.clone(),
            tick_after(at, l1_fresh),
            tick_after(at, envelope.stale_until.remaining_from(now)),
            refresh_at,
            envelope.tags.clone(),
            weight,
        );
        self.fill_l1(key, entry, flight);
    }

    /// The key's L2 version alone (a refresh skips the value read but still needs it).
    pub(crate) async fn l2_version(&self, l2: &L2Link, key: &CacheKey) -> Option<u64> {
        if !self.l2_trusted(l2).await {
            return None;
        }
        self.l2_call(l2, "get", l2.layer.get_versioned(key.as_str()))
            .await
            .ok()
            .map(|(_, v)| v)
    }

    /// Writes an envelope to L2, unless it is over the size limit. With `version`, only if the
    /// key was not invalidated since the load began.
    pub(crate) async fn l2_write(
        &self,
        l2: &L2Link,
        key: &CacheKey,
        envelope: &Envelope,
        ttl: Duration,
        version: Option<u64>,
    ) {
        let counters = &self.inner.counters;
        let bytes = match envelope.encode() {
            Ok(b) => b,
            Err(error) => {
                Counters::incr(&counters.l2_errors);
                tracing::warn!(%error, "envelope could not be written");
                return;
            }
        };
        if bytes.len() > l2.policy.max_value_size {
            Counters::incr(&counters.l2_oversize);
            tracing::debug!(
                key = key.as_str(),
                len = bytes.len(),
                limit = l2.policy.max_value_size,
                "value over the L2 size limit; kept in L1 only"
            );
            return;
        }
        if !self.l2_trusted(l2).await {
            return;
        }
        let written = match version {
            Some(v) => {
                self.l2_call(
                    l2,
                    "set",
                    l2.layer.set_if_version(key.as_str(), bytes, ttl, v),
                )
                .await
            }
            None => self
                .l2_call(l2, "set", l2.layer.set(key.as_str(), bytes, ttl))
                .await
                .map(|()| true),
        };
        match written {
            Ok(true) => Counters::incr(&counters.l2_writes),
            Ok(false) => tracing::debug!(
                key = key.as_str(),
                "key invalidated in L2 during the load; value not written"
            ),
            Err(_) => {}
        }
    }

    /// Tag stamps for a load: versions from L2 when it is used and reachable, else local ones.
    pub(crate) async fn tag_stamps(&self, tags: &[String], use_l2: bool) -> Vec<TagStamp> {
        if tags.is_empty() {
            return Vec::new();
        }
        if let Some(l2) = self.inner.l2.as_ref().filter(|_| use_l2) {
            if self.l2_trusted(l2).await {
                if let Ok(versions) = self
                    .l2_call(l2, "tag_versions", l2.layer.tag_versions(tags))
                    .await
                {
                    for (t, v) in tags.iter().zip(versions) {
                        self.inner.tags.raise(t, v);
                    }
                }
            }
        }
        self.inner.tags.stamps(tags)
    }

    fn message(&self, invalidation: Invalidation) -> InvalidationMessage {
        InvalidationMessage {
            origin: self.inner.instance_id,
            invalidation,
        }
    }

    /// Applies a key or clear invalidation here, then in L2 and on the backplane (or keeps it
    /// for replay when L2 cannot be reached).
    pub(crate) async fn send_invalidation(&self, invalidation: Invalidation) {
        let inner = &*self.inner;
        Counters::incr(&inner.counters.invalidations_sent);
        let item = match &invalidation {
            Invalidation::Key(key) => PendingItem::Key(key.clone()),
            Invalidation::Clear => PendingItem::Clear,
            Invalidation::Tag { tag, .. } => PendingItem::Tag(tag.clone()),
        };
        // Order matters. 1: journal the invalidation, so L2 is untrusted until it is applied
        // (a load starting from now on does not read the old value there). 2: mark the loads
        // in flight, which may have read it already. 3: drop L1 (see `Cache::fill_l1`).
        if let Some(l2) = &inner.l2 {
            l2.pending.add(item.clone());
        }
        match &item {
            PendingItem::Key(key) => {
                tracing::debug!(key, "invalidate");
                inner.flights.invalidate(key);
                inner.l1.remove(key);
            }
            PendingItem::Clear => {
                inner.flights.invalidate_all();
                inner.l1.clear();
            }
            PendingItem::Tag(tag) => {
                inner.tags.bump_local(tag);
            }
        }
        if let Some(l2) = &inner.l2 {
            self.replay_pending(l2).await;
        }
    }

    /// Applies one invalidation to L2 and announces it on the backplane.
    async fn apply_invalidation(&self, l2: &L2Link, item: &PendingItem) -> bool {
        match item {
            PendingItem::Clear => {
                self.l2_call(l2, "clear", l2.layer.clear()).await.is_ok()
                    && self.publish(l2, Invalidation::Clear).await
            }
            PendingItem::Key(key) => {
                self.l2_call(l2, "delete", l2.layer.delete(key))
                    .await
                    .is_ok()
                    && self.publish(l2, Invalidation::Key(key.clone())).await
            }
            PendingItem::Tag(tag) => {
                match self.l2_call(l2, "bump_tag", l2.layer.bump_tag(tag)).await {
                    Ok(version) => {
                        self.inner.tags.raise(tag, version);
                        self.publish(
                            l2,
                            Invalidation::Tag {
                                tag: tag.clone(),
                                version,
                            },
                        )
                        .await
                    }
                    Err(_) => false,
                }
            }
        }
    }

    /// Keeps retrying the replay in the background (one task per cache) until nothing is
    /// pending, so an outage's invalidations reach L2 even when no call touches L2 afterwards.
    pub(crate) fn spawn_replay_retries(&self, l2: &L2Link) {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if l2.retrying.swap(true, std::sync::atomic::Ordering::AcqRel) {
            return;
        }
        let weak = std::sync::Arc::downgrade(&self.inner);
        let pause = l2
            .policy
            .breaker_cool_down
            .clamp(Duration::from_millis(10), Duration::from_secs(1));
        let flag = RetryFlag(weak.clone());
        rt.spawn(async move {
            loop {
                tokio::time::sleep(pause).await;
                let Some(inner) = weak.upgrade() else { return };
                let cache = Cache { inner };
                let Some(l2) = &cache.inner.l2 else { return };
                if cache.replay_pending(l2).await {
                    drop(flag);
                    // Work added between the replay and the flag reset gets its own task.
                    if l2.pending.any() {
                        cache.spawn_replay_retries(l2);
                    }
                    return;
                }
            }
        });
    }

    /// Invalidates a tag: bumps its version in L2 (or locally while L2 is unreachable).
    pub(crate) async fn send_tag_invalidation(&self, tag: &str) {
        let inner = &*self.inner;
        inner.flights.invalidate_all();
        if inner.l2.is_none() {
            Counters::incr(&inner.counters.invalidations_sent);
            inner.tags.bump_local(tag);
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
        let Some(l2) = &self.inner.l2 else { return };
        let msg = self.message(invalidation);
        if self
            .l2_call(l2, "publish", l2.layer.publish(&msg))
            .await
            .is_err()
        {
            // Others may keep an old L1 copy: replaying the delete makes everyone reload.
            if let Invalidation::Key(key) = msg.invalidation {
                l2.pending.add(PendingItem::Key(key));
                self.spawn_replay_retries(l2);
            }
        }
    }

    /// Replays pending invalidations to L2 and the backplane; true when none remain. While
    /// another replay is running the answer is false: its work is not confirmed yet.
    pub(crate) async fn replay_pending(&self, l2: &L2Link) -> bool {
        let Ok(_one_at_a_time) = l2.replaying.try_lock() else {
            return false;
        };
        if !l2.pending.any() {
            return true;
        }
        let mut done = 0u64;
        let mut failed = false;
        // Invalidations added while a round runs are taken by the next round (a few at most:
        // a steady stream of writes must not keep one caller here).
        for _round in 0..4 {
            let items = l2.pending.snapshot();
            if items.is_empty() || failed {
                break;
            }
            for (item, seq, failed_before) in items {
                // Once L2 fails and the breaker opens, the rest waits for the next replay.
                if failed && l2.breaker.is_open() {
                    l2.pending.mark_failed(&item, seq);
                    continue;
                }
                if self.apply_invalidation(l2, &item).await {
                    l2.pending.confirm(&item, seq);
                    done += u64::from(failed_before);
                } else {
                    l2.pending.mark_failed(&item, seq);
                    failed = true;
                }
            }
        }
        if done > 0 {
            self.inner.counters.invalidations_replayed.add(done);
        }
        if !l2.pending.any() {
            return true;
        }
        tracing::warn!(
            left = l2.pending.len(),
            "invalidations could not reach L2; kept for replay"
        );
        self.spawn_replay_retries(l2);
        false
    }

    async fn publish(&self, l2: &L2Link, invalidation: Invalidation) -> bool {
        let msg = self.message(invalidation);
        self.l2_call(l2, "publish", l2.layer.publish(&msg))
            .await
            .is_ok()
    }

    /// Takes the distributed load lock of `key`, or waits (bounded polling) for its holder's value.
    pub(crate) async fn acquire_lock<V>(
        &self,
        l2: &L2Link,
        key: &CacheKey,
        opts: &EntryOptions,
        io: ValueIo<V>,
        flight: Option<&LeaderGuard<'_>>,
    ) -> LockOutcome<V>
    where
        V: Clone + Send + Sync + 'static,
    {
        let lock_key = format!("{}:__lock", key.as_str());
        let token = format!(
            "{:016x}{:016x}",
            self.inner.instance_id,
            rand::random::<u64>()
        );
        let ttl = self.inner.lock_ttl;
        let deadline = Instant::now() + ttl;
        let mut backoff = Duration::from_millis(2);
        let mut waited = false;
        loop {
            match self
                .l2_call(l2, "try_lock", l2.layer.try_lock(&lock_key, &token, ttl))
                .await
            {
                Ok(true) => {
                    // The holder before us may have stored the value just now.
                    if waited {
                        if let L2Read::Fresh(v) = self
                            .l2_read_versioned(l2, key, opts, io, &mut None, flight)
                            .await
                        {
                            self.release_lock(l2, key, &token).await;
                            return LockOutcome::Loaded(v);
                        }
                    }
                    return LockOutcome::Held(token);
                }
                Ok(false) => {}
                Err(_) => return LockOutcome::Proceed,
            }
            if !waited {
                waited = true;
                Counters::incr(&self.inner.counters.lock_waits);
            }
            if Instant::now() >= deadline {
                tracing::warn!("waited a whole lock TTL for another instance's load; loading here");
                return LockOutcome::Proceed;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_millis(50));
            if let L2Read::Fresh(v) = self
                .l2_read_versioned(l2, key, opts, io, &mut None, flight)
                .await
            {
                return LockOutcome::Loaded(v);
            }
        }
    }

    pub(crate) async fn release_lock(&self, l2: &L2Link, key: &CacheKey, token: &str) {
        let lock_key = format!("{}:__lock", key.as_str());
        let _ = self
            .l2_call(l2, "unlock", l2.layer.unlock(&lock_key, token))
            .await;
    }
}
