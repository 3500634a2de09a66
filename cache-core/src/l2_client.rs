//! The L2 client: the one door to the shared layer. Every call is bounded by the layer's timeout
//! and the circuit breaker (and counted); values come back out of their envelope, checked against
//! the codec and the value type's fingerprint, their deadlines and their tags' versions, then
//! decompressed (bounded) and decoded.

use crate::log::{self, RateLimit};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::breaker::{Breakers, Tripped};
use crate::clock::UnixMillis;
use crate::envelope::{Envelope, TagStamp};
use crate::l2::{Invalidation, InvalidationMessage, L2Error, L2Policy, L2Target, L2};
use crate::load_plan::ValueIo;
use crate::payload::{PayloadError, PayloadFormat};
use crate::stats::Counters;
use crate::tag_versions::TagVersions;

tokio::task_local! {
    /// Set while the invalidation journal replays in the background: its calls skip an open
    /// breaker's cool-down (they are the probe), so recovery does not wait for it.
    static UNGUARDED: ();
}

/// Runs `work` (the journal's background replay) with its L2 calls past an open breaker.
pub(crate) async fn unguarded<F: Future>(work: F) -> F::Output {
    UNGUARDED.scope((), work).await
}

/// What an L2 lookup found.
pub(crate) enum L2Read<V> {
    Fresh(L2Hit<V>),
    Stale(V),
    Miss,
    /// L2 failed, timed out, is behind an open breaker or has invalidations pending: the rest
    /// of this call does not touch it again (a call pays at most one L2 timeout).
    Unavailable,
}

/// A fresh L2 value and the envelope it came in (its deadlines fill L1).
pub(crate) struct L2Hit<V> {
    pub(crate) value: V,
    pub(crate) envelope: Envelope,
    /// The payload's length before compression (what L1 weighs).
    pub(crate) raw_len: usize,
    /// When it was read (its deadlines are counted from here).
    pub(crate) read_at: UnixMillis,
}

impl<V> L2Read<V> {
    pub(crate) fn into_fresh(self) -> Option<V> {
        match self {
            L2Read::Fresh(hit) => Some(hit.value),
            _ => None,
        }
    }
}

/// How a value is written: unconditionally, or only while the key is at the version a load
/// started under (see [`L2::set_if_version`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WriteIf {
    Always,
    Version(u64),
}

/// The shared layer behind its timeout and circuit breaker.
pub(crate) struct L2Client {
    store: Arc<dyn L2>,
    policy: L2Policy,
    /// One per fault domain of the layer (a Cluster's masters): a failing one opens alone.
    breakers: Breakers,
    counters: Arc<Counters>,
    tags: Arc<TagVersions>,
    /// This instance's id: the origin of its backplane messages and lock tokens.
    origin: u64,
    /// The layer bounds its reads by the timeout itself ([`L2::bounds_reads`]): a read gets no
    /// timer here.
    reads_bounded: bool,
}

impl std::fmt::Debug for L2Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.store.fmt(f)
    }
}

impl L2Client {
    pub(crate) fn new(
        store: Arc<dyn L2>,
        counters: Arc<Counters>,
        tags: Arc<TagVersions>,
        origin: u64,
    ) -> Self {
        let policy = store.policy();
        L2Client {
            breakers: Breakers::new(
                store.fault_domains(),
                policy.breaker_failures,
                policy.breaker_cool_down,
            ),
            reads_bounded: store.bounds_reads(),
            store,
            policy,
            counters,
            tags,
            origin,
        }
    }

    pub(crate) fn store(&self) -> &Arc<dyn L2> {
        &self.store
    }

    pub(crate) fn origin(&self) -> u64 {
        self.origin
    }

    /// Whether any breaker is open.
    pub(crate) fn breaker_open(&self) -> bool {
        self.breakers.any_open()
    }

    /// The key the L2 stores `key` under (for logs).
    pub(crate) fn stored_key(&self, key: &str) -> String {
        self.store.stored_key(key)
    }

    /// Runs one L2 operation under the breaker of what it touches and the timeout, counting
    /// failures.
    pub(crate) async fn call<T>(
        &self,
        op: &'static str,
        target: L2Target<'_>,
        fut: impl Future<Output = Result<T, L2Error>>,
    ) -> Result<T, L2Error> {
        self.call_timed(op, target, fut, true).await
    }

    /// [`call`](Self::call) of a read (`get_versioned`): timed here only when the layer does not
    /// bound its reads itself.
    async fn read_call<T>(
        &self,
        target: L2Target<'_>,
        fut: impl Future<Output = Result<T, L2Error>>,
    ) -> Result<T, L2Error> {
        self.call_timed("get", target, fut, !self.reads_bounded)
            .await
    }

    /// [`call`](Self::call), with the timeout set here when `timed` (else the operation bounds
    /// itself).
    async fn call_timed<T>(
        &self,
        op: &'static str,
        target: L2Target<'_>,
        fut: impl Future<Output = Result<T, L2Error>>,
        timed: bool,
    ) -> Result<T, L2Error> {
        let counters = &self.counters;
        let breaker = self.breakers.of(self.store.fault_domain(target));
        breaker.note_reconnections(self.store.reconnections());
        if UNGUARDED.try_with(|_| ()).is_err() && !breaker.allow() {
            Counters::incr(&counters.l2_skipped);
            return Err(L2Error::BreakerOpen);
        }
        let was_open = breaker.is_open();
        let answer = if timed {
            tokio::time::timeout(self.policy.timeout, fut).await
        } else {
            Ok(fut.await)
        };
        let error = match answer {
            Ok(Ok(v)) => {
                breaker.on_success();
                if was_open {
                    tracing::info!(
                        target: log::L2,
                        op,
                        "L2 answered again; circuit breaker closed"
                    );
                }
                return Ok(v);
            }
            Ok(Err(L2Error::TooLarge { len, limit })) => {
                Counters::incr(&counters.l2_oversize);
                return Err(L2Error::TooLarge { len, limit });
            }
            Ok(Err(L2Error::Refused(reason))) => {
                // The server answered: it is reachable, only this key or write is refused.
                breaker.on_success();
                Counters::incr(&counters.l2_refused);
                tracing::debug!(
                    target: log::L2,
                    op,
                    reason,
                    "L2 refused the operation for this key"
                );
                return Err(L2Error::Refused(reason));
            }
            Ok(Err(e)) => e,
            Err(_) => L2Error::Timeout(self.policy.timeout),
        };
        Counters::incr(&counters.l2_errors);
        tracing::debug!(target: log::L2, op, error = %error, "L2 operation failed");
        static FAILED: RateLimit = RateLimit::new();
        if let Some(suppressed) = FAILED.check() {
            tracing::warn!(
                target: log::L2,
                op,
                error = %error,
                suppressed,
                "L2 operation failed; calls go on with L1 and the loader. Check that Redis is \
                 reachable and answers within the layer's timeout"
            );
        }
        if breaker.on_failure() == Tripped::Opened {
            Counters::incr(&counters.breaker_opened);
            static OPENED: RateLimit = RateLimit::new();
            if let Some(suppressed) = OPENED.check() {
                tracing::warn!(
                    target: log::L2,
                    op,
                    error = %error,
                    cool_down = ?self.policy.breaker_cool_down,
                    suppressed,
                    "L2 circuit breaker opened: skipping L2 for the cool-down, then one probe. \
                     Loads hit the source of truth meanwhile; check Redis"
                );
            }
        }
        Err(error)
    }

    /// Reads and checks `key`: returns what it found and the key's version (when L2 answered),
    /// for a load to store its value under.
    pub(crate) async fn read<V>(
        &self,
        key: &str,
        format: PayloadFormat,
        io: ValueIo<V>,
    ) -> (L2Read<V>, Option<u64>) {
        match self
            .read_call(L2Target::Value(key), self.store.get_versioned(key))
            .await
        {
            Ok((Some(bytes), version)) => (self.open(key, bytes, format, io).await, Some(version)),
            Ok((None, version)) => (L2Read::Miss, Some(version)),
            Err(_) => (L2Read::Unavailable, None),
        }
    }

    /// Unpacks and checks the bytes read for `key`.
    async fn open<V>(
        &self,
        key: &str,
        bytes: Vec<u8>,
        format: PayloadFormat,
        io: ValueIo<V>,
    ) -> L2Read<V> {
        let counters = &self.counters;
        let envelope = match Envelope::decode_owned(bytes, self.policy.max_value_size) {
            Ok(e) => e,
            Err(error) => {
                Counters::incr(&counters.decode_errors);
                decode_error(key, &error);
                return L2Read::Miss;
            }
        };
        // Two integer compares: another codec or another build's type is a miss before any
        // decompressing or decoding.
        if let Err(error) = format.check(&envelope) {
            self.count_unreadable(key, &error);
            return L2Read::Miss;
        }
        let now = UnixMillis::now();
        if now >= envelope.stale_until {
            return L2Read::Miss;
        }
        if !envelope.tags.is_empty() {
            match self.tags_still_valid(&envelope.tags).await {
                Some(true) => {}
                Some(false) => return L2Read::Miss,
                // Unverifiable: do not trust it.
                None => return L2Read::Unavailable,
            }
        }
        let (value, raw_len) = match format.decode(io, &envelope, self.policy.max_value_size) {
            Ok(decoded) => decoded,
            Err(error) => {
                self.count_unreadable(key, &error);
                return L2Read::Miss;
            }
        };
        if now >= envelope.fresh_until {
            return L2Read::Stale(value);
        }
        Counters::incr(&counters.l2_hits);
        L2Read::Fresh(L2Hit {
            value,
            envelope,
            raw_len,
            read_at: now,
        })
    }

    /// Counts and logs an L2 value this entry cannot read (a miss; the next load overwrites it).
    fn count_unreadable(&self, key: &str, error: &PayloadError) {
        Counters::incr(&self.counters.decode_errors);
        if matches!(error, PayloadError::OtherStructure) {
            // Expected while a rolling deploy changes a type: counted, not warned about.
            Counters::incr(&self.counters.fingerprint_mismatches);
            tracing::debug!(target: log::L2, key, %error, "L2 value from another build; a miss");
        } else {
            decode_error(key, error);
        }
    }

    /// Checks an L2 value's tag stamps against the tag versions in L2 (and those known here).
    async fn tags_still_valid(&self, stamps: &[TagStamp]) -> Option<bool> {
        let names: Vec<String> = stamps.iter().map(|s| s.tag.clone()).collect();
        match self
            .call(
                "tag_versions",
                L2Target::Shared,
                self.store.tag_versions(&names),
            )
            .await
        {
            Ok(versions) => {
                for (name, v) in names.iter().zip(&versions) {
                    self.tags.raise(name, *v);
                }
                Some(self.tags.still_valid(stamps))
            }
            Err(_) => None,
        }
    }

    /// The key's L2 version alone (a refresh skips the value read but still needs it).
    pub(crate) async fn version(&self, key: &str) -> Option<u64> {
        self.read_call(L2Target::Value(key), self.store.get_versioned(key))
            .await
            .ok()
            .map(|(_, v)| v)
    }

    /// The bytes of `envelope`, unless they cannot be encoded or are over the size limit.
    pub(crate) fn encode(&self, key: &str, envelope: &Envelope) -> Option<Vec<u8>> {
        let counters = &self.counters;
        let bytes = match envelope.encode() {
            Ok(b) => b,
            Err(error) => {
                Counters::incr(&counters.l2_errors);
                tracing::warn!(target: log::L2, %error, "envelope could not be written");
                return None;
            }
        };
        if bytes.len() > self.policy.max_value_size {
            Counters::incr(&counters.l2_oversize);
            tracing::debug!(
                target: log::L2,
                key,
                len = bytes.len(),
                limit = self.policy.max_value_size,
                "value over the L2 size limit; kept in L1 only"
            );
            return None;
        }
        Some(bytes)
    }

    /// Writes encoded bytes under `key` for `ttl`, as `condition` allows.
    pub(crate) async fn write(&self, key: &str, bytes: Vec<u8>, ttl: Duration, condition: WriteIf) {
        let written = match condition {
            WriteIf::Version(v) => {
                self.call(
                    "set",
                    L2Target::Value(key),
                    self.store.set_if_version(key, bytes, ttl, v),
                )
                .await
            }
            WriteIf::Always => self
                .call("set", L2Target::Value(key), self.store.set(key, bytes, ttl))
                .await
                .map(|()| true),
        };
        match written {
            Ok(true) => Counters::incr(&self.counters.l2_writes),
            Ok(false) => tracing::debug!(
                target: log::L2,
                key,
                "key invalidated in L2 during the load; value not written"
            ),
            Err(_) => {}
        }
    }

    /// Learns the L2 versions of `tags` (best effort), then stamps them.
    pub(crate) async fn tag_stamps(&self, tags: &[String]) -> Vec<TagStamp> {
        if let Ok(versions) = self
            .call(
                "tag_versions",
                L2Target::Shared,
                self.store.tag_versions(tags),
            )
            .await
        {
            for (t, v) in tags.iter().zip(versions) {
                self.tags.raise(t, v);
            }
        }
        self.tags.stamps(tags)
    }

    /// Deletes `key` (and moves its version forward).
    pub(crate) async fn delete(&self, key: &str) -> bool {
        self.call("delete", L2Target::Value(key), self.store.delete(key))
            .await
            .is_ok()
    }

    /// Drops every entry of the namespace.
    pub(crate) async fn clear(&self) -> bool {
        self.call("clear", L2Target::Shared, self.store.clear())
            .await
            .is_ok()
    }

    /// Bumps `tag`'s version in L2 and learns the new one.
    pub(crate) async fn bump_tag(&self, tag: &str) -> Option<u64> {
        let version = self
            .call("bump_tag", L2Target::Shared, self.store.bump_tag(tag))
            .await
            .ok()?;
        self.tags.raise(tag, version);
        Some(version)
    }

    /// Announces `invalidation` to every other instance; true when it was sent.
    pub(crate) async fn publish(&self, invalidation: Invalidation) -> bool {
        let message = InvalidationMessage {
            origin: self.origin,
            invalidation,
        };
        self.call("publish", L2Target::Shared, self.store.publish(&message))
            .await
            .is_ok()
    }

    /// Takes the lock `key` for `ttl` with `token`.
    pub(crate) async fn try_lock(
        &self,
        key: &str,
        token: &str,
        ttl: Duration,
    ) -> Result<bool, L2Error> {
        self.call(
            "try_lock",
            L2Target::Lock(key),
            self.store.try_lock(key, token, ttl),
        )
        .await
    }

    /// Releases the lock `key` if `token` still holds it.
    pub(crate) async fn unlock(&self, key: &str, token: &str) {
        let _ = self
            .call("unlock", L2Target::Lock(key), self.store.unlock(key, token))
            .await;
    }
}

/// An L2 value that did not decode: DEBUG with the key, and a degradation at WARN (rate-limited,
/// without the key).
fn decode_error(key: &str, error: &dyn std::fmt::Display) {
    tracing::debug!(target: log::L2, key, %error, "L2 value did not decode");
    static DECODE: RateLimit = RateLimit::new();
    if let Some(suppressed) = DECODE.check() {
        tracing::warn!(
            target: log::L2,
            %error,
            suppressed,
            "an L2 value did not decode; it is treated as a miss, reloaded and overwritten. \
             Another build (other type, codec or format version) may be writing this namespace: \
             give each incompatible build its own namespace"
        );
    }
}
