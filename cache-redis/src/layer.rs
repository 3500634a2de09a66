//! [`RedisL2`]: the [`L2`] on Redis.

use cache_core::log;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use cache_core::{BackplaneListener, InvalidationMessage, L2Error, L2Policy, L2Target, L2};
use redis::{Client, Script, Value};

use crate::backplane::{Backplane, GenerationPoller, Subscriber};
use crate::connection::SharedConnection;
use crate::error::{classify, unreadable_reply};
use crate::keys::KeySpace;
use crate::lock;
use crate::permissions::{self, Probe};
use crate::read::{self, Stored};
use crate::record::{self, Record};
use crate::runtime::LayerRuntime;
use crate::settings::{Settings, Topology};
use crate::versions;

/// How far (µs) ahead of the known generation a value's generation may be for the reader to
/// adopt it: generations are server times, so a day ahead is garbage, not a newer clear.
const PLAUSIBLE_GENERATION_LEAD: u64 = 86_400 * 1_000_000;

/// Where a record is written: the generation, and (for a conditional write) the key's version
/// the write expects.
struct RecordSlot {
    generation: u64,
    version: Option<u64>,
}

/// The Redis [`L2`] of layercache: a cheap [`Clone`] handle to one multiplexed,
/// auto-reconnecting connection (or Cluster connection) shared by every caller.
///
/// - each value carries the namespace *generation* it was written in, so [`clear`](L2::clear)
///   moves one counter; instances adopt the new generation from the backplane's `Clear` message,
///   and re-read it whenever the backplane reconnects and every health interval;
/// - tag versions are counters in one hash slot per namespace (one `MGET`, Cluster-safe);
/// - keys, tags and the generation are versioned by hybrid logical clocks that never go
///   backwards when Redis evicts, loses or rolls back a record (see the `versions` module);
/// - the backplane is a pub/sub subscription with its own connection, checked by `PING` and
///   re-established with back-off for as long as a handle to the layer exists;
/// - locks are `SET NX PX` with a token, released by a compare-and-delete script.
///
/// The layer runs its connections on a small runtime thread of its own, so it keeps working when
/// the tokio runtime that built it shuts down. That thread ends when the last handle is dropped.
///
/// ```no_run
/// # async fn f() -> Result<(), layercache::RedisL2Error> {
/// let layer = layercache::RedisL2::connect("redis://127.0.0.1:6379").await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisL2 {
    inner: Arc<Inner>,
}

struct Inner {
    connection: SharedConnection,
    /// State the background tasks share; they never hold `Inner`, so dropping the last handle
    /// drops the runtime and with it every task.
    backplane: Arc<Backplane>,
    /// Clients for the subscription connection: the server, or each cluster node in turn.
    pubsub_clients: Vec<Client>,
    settings: Settings,
    space: OnceLock<Arc<KeySpace>>,
    background_started: AtomicBool,
    bounded_get: Script,
    try_lock: Script,
    unlock: Script,
    set_record: Script,
    delete_record: Script,
    lease_record: Script,
    /// The key and channel check still to run once the namespace is known (at attach).
    probe_at_attach: parking_lot::Mutex<Option<Probe>>,
    /// Declared last: dropped after the connection handles above.
    runtime: LayerRuntime,
}

impl RedisL2 {
    pub(crate) async fn assemble(
        connection: SharedConnection,
        pubsub_clients: Vec<Client>,
        settings: Settings,
        runtime: LayerRuntime,
        probe_at_attach: Option<Probe>,
    ) -> RedisL2 {
        let layer = RedisL2 {
            inner: Arc::new(Inner {
                connection,
                backplane: Arc::new(Backplane::default()),
                pubsub_clients,
                space: OnceLock::new(),
                background_started: AtomicBool::new(false),
                bounded_get: Script::new(read::BOUNDED_GET),
                try_lock: Script::new(lock::TRY_LOCK),
                unlock: Script::new(lock::UNLOCK),
                set_record: Script::new(record::SET_SCRIPT),
                delete_record: Script::new(record::DELETE_SCRIPT),
                lease_record: Script::new(record::LEASE_SCRIPT),
                probe_at_attach: parking_lot::Mutex::new(probe_at_attach),
                settings,
                runtime,
            }),
        };
        if let Some(namespace) = layer.inner.settings.namespace.clone() {
            let space = layer.bind(&namespace);
            // Best effort: a failure leaves the generation unknown and the first read fetches it.
            let _ = layer.generation(&space).await;
        }
        layer
    }

    /// The namespace the layer is bound to, once attached or configured.
    pub fn namespace(&self) -> Option<&str> {
        self.inner.space.get().map(|s| s.namespace())
    }

    /// The namespace generation this instance currently reads and writes, if known.
    pub fn generation_known(&self) -> Option<u64> {
        self.inner.backplane.generation.get()
    }

    fn bind(&self, namespace: &str) -> Arc<KeySpace> {
        let space = self
            .inner
            .space
            .get_or_init(|| Arc::new(KeySpace::new(namespace)));
        Arc::clone(space)
    }

    fn space(&self) -> Result<&Arc<KeySpace>, L2Error> {
        self.inner.space.get().ok_or_else(|| {
            L2Error::Backend("RedisL2 is not attached to a cache or namespace yet".into())
        })
    }

    /// Runs one command on the shared connection (which polls it where its driver lives).
    async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, L2Error> {
        let mut connection = self.inner.connection.clone();
        let reply: Value = cmd.query_async(&mut connection).await.map_err(classify)?;
        redis::from_redis_value(reply).map_err(unreadable_reply)
    }

    /// Runs one script on the shared connection.
    async fn invoke<T: redis::FromRedisValue>(
        &self,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<T, L2Error> {
        let mut connection = self.inner.connection.clone();
        let reply: Value = invocation
            .invoke_async(&mut connection)
            .await
            .map_err(classify)?;
        redis::from_redis_value(reply).map_err(unreadable_reply)
    }

    /// Runs `work` on a clone of the shared connection.
    async fn on_connection<T, F, Fut>(&self, work: F) -> Result<T, L2Error>
    where
        F: FnOnce(SharedConnection) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let connection = self.inner.connection.clone();
        work(connection).await.map_err(classify)
    }

    /// Writes a record in `generation`: unconditionally (moving the key's version), or only
    /// while the key's version is `version`.
    async fn write(
        &self,
        key: &str,
        value: Vec<u8>,
        ttl: Duration,
        slot: RecordSlot,
    ) -> Result<bool, L2Error> {
        let RecordSlot {
            generation,
            version,
        } = slot;
        let limit = self.inner.settings.policy.max_value_size;
        if value.len() > limit {
            tracing::debug!(target: log::REDIS,
                key,
                len = value.len(),
                limit,
                "value over the L2 size limit; not written"
            );
            return Err(L2Error::TooLarge {
                len: value.len(),
                limit,
            });
        }
        let space = self.space()?;
        let mut invocation = self.inner.set_record.key(space.data_key(key));
        invocation.arg(value).arg(px(ttl));
        match version {
            Some(n) => invocation.arg(n),
            None => invocation.arg(""),
        };
        invocation.arg(generation);
        let stored: u8 = self.invoke(&invocation).await?;
        Ok(stored == 1)
    }

    /// The generation to use: the cached one, or (only while unknown) read from Redis, where
    /// a missing generation is created as "now" (see the `versions` module).
    async fn generation(&self, space: &KeySpace) -> Result<u64, L2Error> {
        if let Some(generation) = self.inner.backplane.generation.get() {
            return Ok(generation);
        }
        let backplane = &self.inner.backplane;
        backplane
            .read_generation(&self.inner.connection, space)
            .await
            .map_err(classify)
    }

    /// Reads the record of `key` in the current generation: a value written in an older
    /// generation is a miss (cleared), one written in a newer generation teaches it.
    async fn read_record(&self, space: &KeySpace, key: &str) -> Result<Option<Record>, L2Error> {
        let generation = self.generation(space).await?;
        let end = self.first_read_end();
        let first = read::first_read_cmd(space, key, end);
        let stored = match read::first_read(self.query(&first).await?, end)? {
            Some(stored) => stored,
            None => self.bounded_read(space, key).await?,
        };
        Ok(self.settle(key, stored, generation))
    }

    /// The inclusive end of the first read of a record (see [`read::first_read_end`]).
    fn first_read_end(&self) -> usize {
        read::first_read_end(read::record_limit(
            self.inner.settings.policy.max_value_size,
        ))
    }

    /// A record longer than the first read, read again bounded on the server.
    async fn bounded_read(&self, space: &KeySpace, key: &str) -> Result<Stored, L2Error> {
        let limit = read::record_limit(self.inner.settings.policy.max_value_size);
        let mut invocation = self.inner.bounded_get.key(space.data_key(key));
        invocation.arg(limit).arg(read::HEADER_LEN - 1);
        read::stored(self.invoke(&invocation).await?)
    }

    /// The record `stored` holds, read while the layer was in generation `generation`: `None`
    /// when there is none.
    fn settle(&self, key: &str, stored: Stored, generation: u64) -> Option<Record> {
        let record = match stored {
            Stored::Missing => return None,
            Stored::Record(bytes) => record::parse(bytes),
            Stored::Oversized { len, header } => {
                // Never read: a miss under the record's own version, so the load overwrites it.
                tracing::debug!(
                    target: log::REDIS,
                    key,
                    len,
                    limit = read::record_limit(self.inner.settings.policy.max_value_size),
                    "L2 value over the size limit; not read"
                );
                let mut record = record::parse(header);
                record.value = None;
                record
            }
        };
        Some(self.in_generation(key, record, generation))
    }

    /// `record`, read in generation `generation`: without its value when that was written in an
    /// older generation (cleared) or an implausible one; a newer generation is adopted.
    fn in_generation(&self, key: &str, mut record: Record, generation: u64) -> Record {
        match record.generation {
            Some(written) if written < generation => record.value = None,
            Some(written) if written > generation.saturating_add(PLAUSIBLE_GENERATION_LEAD) => {
                // Generations are server times: one a day ahead is not ours (garbage).
                tracing::debug!(key, "a value of an implausible generation: a miss");
                record.value = None;
            }
            Some(written) if written > generation => {
                tracing::debug!(
                    generation = written,
                    "a value of a newer generation: adopting it"
                );
                self.inner.backplane.generation.adopt(written);
            }
            _ => {}
        }
        record
    }

    /// [`get_versioned`](L2::get_versioned) after `so_far`: the first read (unless done), the
    /// bounded re-read of a long record, the lease of a missing one.
    async fn versioned_rest(
        &self,
        space: &KeySpace,
        key: &str,
        so_far: ReadSoFar,
    ) -> Result<(Option<Vec<u8>>, u64), L2Error> {
        let (record, epoch) = match so_far {
            ReadSoFar::Nothing => {
                self.generation(space).await?;
                // Before the key is read: a generation adopted from here on refuses this load's
                // store.
                let epoch = record::epoch_part(self.inner.backplane.generation.epoch());
                (self.read_record(space, key).await?, epoch)
            }
            ReadSoFar::First {
                found,
                generation,
                epoch,
            } => {
                let stored = match found {
                    Some(stored) => stored,
                    None => self.bounded_read(space, key).await?,
                };
                (self.settle(key, stored, generation), epoch)
            }
        };
        if let Some(record) = record {
            return Ok((record.value, record::token(epoch, record.version)));
        }
        // Missing: a lease before the load, so that any invalidation from now on moves the
        // version away from it (and an evicted lease refuses the store).
        let mut invocation = self.inner.lease_record.key(space.data_key(key));
        invocation.arg(px(self.inner.settings.tombstone_ttl));
        let version: u64 = self.invoke(&invocation).await?;
        if version == 0 {
            // Not missing but an empty foreign string (the first read cannot tell them apart; the
            // lease script can): handed on like any foreign value, to be counted and overwritten.
            return Ok((Some(Vec::new()), record::token(epoch, 0)));
        }
        Ok((None, record::token(epoch, version)))
    }

    fn start_background(&self, space: Arc<KeySpace>) {
        if self.inner.background_started.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Some(probe) = self.inner.probe_at_attach.lock().take() {
            let namespace = space.namespace().to_owned();
            self.inner
                .runtime
                .spawn(permissions::check_at_attach(probe, namespace));
        }
        let settings = &self.inner.settings;
        if settings.backplane {
            let subscriber = Subscriber {
                clients: self.inner.pubsub_clients.clone(),
                cluster: matches!(settings.topology, Topology::Cluster(_)),
                space,
                connection: self.inner.connection.clone(),
                backplane: Arc::clone(&self.inner.backplane),
                timeout: settings.background_timeout,
                health_interval: settings.health_interval,
            };
            self.inner.runtime.spawn(subscriber.run());
        } else {
            let poller = GenerationPoller {
                space,
                connection: self.inner.connection.clone(),
                backplane: Arc::clone(&self.inner.backplane),
                timeout: settings.background_timeout,
                interval: settings.health_interval,
            };
            self.inner.runtime.spawn(poller.run());
        }
    }
}

/// How far [`RedisL2::get_versioned`] got on its fast path.
enum ReadSoFar {
    /// Nothing read yet (the generation is unknown, or the layer is a Cluster).
    Nothing,
    /// The first read, made in `generation` after reading `epoch`: what it found, unless the
    /// record is longer than the first read (`None`).
    First {
        found: Option<Stored>,
        generation: u64,
        epoch: u64,
    },
}

/// A command's error: a timeout (the connection's response timer) as the cache's, else as
/// [`classify`] says.
fn command_error(error: redis::RedisError, timeout: Duration) -> L2Error {
    if error.is_timeout() {
        L2Error::Timeout(timeout)
    } else {
        classify(error)
    }
}

impl std::fmt::Debug for RedisL2 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let settings = &self.inner.settings;
        f.debug_struct("RedisL2")
            .field("servers", &settings.topology.redacted())
            .field("namespace", &self.namespace())
            .field("policy", &settings.policy)
            .field("backplane", &settings.backplane)
            .finish_non_exhaustive()
    }
}

/// Milliseconds for `PX`, at least 1 (Redis refuses 0).
fn px(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

#[async_trait::async_trait]
impl L2 for RedisL2 {
    fn attach(&self, namespace: &str, instance_id: u64, listener: Arc<dyn BackplaneListener>) {
        let space = self.bind(namespace);
        if space.namespace() != namespace {
            if self.inner.settings.namespace.is_none() {
                tracing::warn!(target: log::REDIS,
                    bound = space.namespace(),
                    requested = namespace,
                    "RedisL2 is already bound to another namespace; connect one layer per namespace"
                );
            } else {
                tracing::debug!(target: log::REDIS,
                    bound = space.namespace(),
                    requested = namespace,
                    "RedisL2 keeps its configured namespace"
                );
            }
        }
        tracing::debug!(target: log::REDIS,
            namespace = space.namespace(),
            instance_id,
            "RedisL2 attached"
        );
        self.inner.backplane.listeners.write().push(listener);
        self.start_background(space);
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, L2Error> {
        let space = self.space()?;
        Ok(self.read_record(space, key).await?.and_then(|r| r.value))
    }

    async fn get_versioned(&self, key: &str) -> Result<(Option<Vec<u8>>, u64), L2Error> {
        let space = self.space()?;
        let timeout = self.inner.settings.policy.timeout;
        let started = Instant::now();
        let so_far = match (
            &self.inner.connection,
            self.inner.backplane.generation.get(),
        ) {
            (SharedConnection::Single(kept), Some(generation)) => {
                // The hit path: one command, bounded by the connection's own response timer
                // (set to the policy's timeout for it), so no timer of ours: see `bounds_reads`.
                // The epoch is read before the key: a generation adopted from here on refuses
                // this load's store.
                let epoch = record::epoch_part(self.inner.backplane.generation.epoch());
                let end = self.first_read_end();
                let first = read::first_read_cmd(space, key, end);
                let reply = kept
                    .send_within(&first, timeout)
                    .await
                    .map_err(|e| command_error(e, timeout))?;
                match read::first_read(reply, end)? {
                    Some(Stored::Record(bytes)) => {
                        let record = self.in_generation(key, record::parse(bytes), generation);
                        return Ok((record.value, record::token(epoch, record.version)));
                    }
                    found => ReadSoFar::First {
                        found,
                        generation,
                        epoch,
                    },
                }
            }
            _ => ReadSoFar::Nothing,
        };
        // The rest (a miss, a long record, a generation to learn, a Cluster) within what is left
        // of the timeout.
        let left = timeout.saturating_sub(started.elapsed());
        // Boxed: the hit path's future stays small (it is moved into a box on every call).
        let rest = Box::pin(tokio::time::timeout(
            left,
            self.versioned_rest(space, key, so_far),
        ));
        match rest.await {
            Ok(result) => result,
            Err(_) => Err(L2Error::Timeout(timeout)),
        }
    }

    async fn set(&self, key: &str, value: Vec<u8>, ttl: Duration) -> Result<(), L2Error> {
        let generation = self.generation(self.space()?).await?;
        self.write(
            key,
            value,
            ttl,
            RecordSlot {
                generation,
                version: None,
            },
        )
        .await
        .map(drop)
    }

    async fn set_if_version(
        &self,
        key: &str,
        value: Vec<u8>,
        ttl: Duration,
        version: u64,
    ) -> Result<bool, L2Error> {
        let generation = self.generation(self.space()?).await?;
        let (loaded_in, version) = record::untoken(version);
        if loaded_in != record::epoch_part(self.inner.backplane.generation.epoch()) {
            // Cleared since the load began: its value may predate the clear.
            return Ok(false);
        }
        self.write(
            key,
            value,
            ttl,
            RecordSlot {
                generation,
                version: Some(version),
            },
        )
        .await
    }

    async fn delete(&self, key: &str) -> Result<(), L2Error> {
        let space = self.space()?;
        let mut invocation = self.inner.delete_record.key(space.data_key(key));
        invocation.arg(px(self.inner.settings.tombstone_ttl));
        self.invoke::<u64>(&invocation).await.map(drop)
    }

    async fn tag_versions(&self, tags: &[String]) -> Result<Vec<u64>, L2Error> {
        if tags.is_empty() {
            return Ok(Vec::new());
        }
        let space = self.space()?;
        let keys: Vec<String> = tags.iter().map(|t| space.tag_key(t)).collect();
        let floors = self.inner.backplane.tag_floors.of(tags);
        let versions = self
            .on_connection(|mut c| async move { versions::read(&mut c, &keys, &floors).await })
            .await?;
        if versions.len() != tags.len() {
            return Err(L2Error::Backend(format!(
                "read {} versions for {} tags",
                versions.len(),
                tags.len()
            )));
        }
        for (tag, v) in tags.iter().zip(&versions) {
            self.inner.backplane.tag_floors.raise(tag, *v);
        }
        Ok(versions)
    }

    async fn bump_tag(&self, tag: &str) -> Result<u64, L2Error> {
        let space = self.space()?;
        let key = space.tag_key(tag);
        let floors = &self.inner.backplane.tag_floors;
        let floor = floors.of(std::slice::from_ref(&tag.to_owned()))[0];
        let version = self
            .on_connection(|mut c| async move { versions::advance(&mut c, &key, floor).await })
            .await?;
        floors.raise(tag, version);
        Ok(version)
    }

    async fn clear(&self) -> Result<(), L2Error> {
        let space = self.space()?;
        let floor = self.inner.backplane.generation.floor();
        let key = space.generation_key().to_owned();
        let generation = self
            .on_connection(|mut c| async move { versions::advance(&mut c, &key, floor).await })
            .await?;
        let adopted = self.inner.backplane.generation.adopt(generation);
        tracing::debug!(target: log::REDIS,
            namespace = space.namespace(),
            generation = adopted,
            "L2 cleared"
        );
        Ok(())
    }

    async fn publish(&self, message: &InvalidationMessage) -> Result<(), L2Error> {
        if !self.inner.settings.backplane {
            return Ok(());
        }
        let space = self.space()?;
        let payload = serde_json::to_vec(message)
            .map_err(|e| L2Error::Backend(format!("cannot encode backplane message: {e}")))?;
        self.query::<()>(redis::cmd("PUBLISH").arg(space.channel()).arg(payload))
            .await
    }

    async fn try_lock(&self, key: &str, token: &str, ttl: Duration) -> Result<bool, L2Error> {
        let space = self.space()?;
        let mut invocation = self.inner.try_lock.key(space.lock_key(key));
        invocation.arg(token).arg(px(ttl));
        let taken: u8 = self.invoke(&invocation).await?;
        Ok(taken == 1)
    }

    async fn unlock(&self, key: &str, token: &str) -> Result<(), L2Error> {
        let space = self.space()?;
        let mut invocation = self.inner.unlock.key(space.lock_key(key));
        invocation.arg(token);
        self.invoke::<()>(&invocation).await
    }

    fn policy(&self) -> L2Policy {
        self.inner.settings.policy
    }

    fn stored_key(&self, key: &str) -> String {
        match self.inner.space.get() {
            // The generation lives in the value record, not in the key name.
            Some(space) => space.data_key(key),
            None => key.to_owned(),
        }
    }

    fn reconnections(&self) -> u64 {
        self.inner.connection.recovered()
    }

    /// A read's one command on the hit path is bounded by the connection's response timer, set
    /// to the policy's timeout; anything more runs under a timer for what is left of it.
    fn bounds_reads(&self) -> bool {
        true
    }

    fn fault_domains(&self) -> usize {
        self.inner.settings.slot_ranges.count()
    }

    fn fault_domain(&self, target: L2Target<'_>) -> usize {
        let ranges = &self.inner.settings.slot_ranges;
        let Some(space) = self.inner.space.get().filter(|_| ranges.count() > 1) else {
            return 0;
        };
        match target {
            L2Target::Value(key) => ranges.part_of(&space.data_key(key)),
            L2Target::Lock(key) => ranges.part_of(&space.lock_key(key)),
            L2Target::Shared => ranges.part_of(space.generation_key()),
        }
    }

    fn backplane_connected(&self) -> bool {
        !self.inner.settings.backplane || self.inner.backplane.connected.load(Ordering::Acquire)
    }
}
