//! The backplane subscriber and the generation poller: the layer's background tasks.
//!
//! Both run on the layer's runtime and hold no handle to the layer, so they end when its last
//! handle is dropped. Every command they send is bounded by a timeout, and a panicking listener
//! is caught and logged rather than ending the subscription.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cache_core::log::{self, RateLimit};
use cache_core::{BackplaneListener, Invalidation, InvalidationMessage};
use futures_util::StreamExt;
use parking_lot::RwLock;
use redis::aio::{PubSubSink, PubSubStream};
use redis::{Client, ConnectionAddr};

use crate::connection::SharedConnection;
use crate::generation::KnownGeneration;
use crate::hedged;
use crate::keys::KeySpace;
use crate::versions::{self, TagFloors};

/// Tags checked against Redis per health interval (see [`Subscriber::check_tags`]).
const TAGS_PER_CHECK: usize = 256;
/// The origin of the messages the layer sends itself (repaired tag versions): no cache's id, so
/// every instance applies them, this one included.
const LAYER_ORIGIN: u64 = 0;

/// What the layer and its background tasks share.
#[derive(Default)]
pub(crate) struct Backplane {
    pub(crate) listeners: RwLock<Vec<Arc<dyn BackplaneListener>>>,
    pub(crate) connected: AtomicBool,
    pub(crate) generation: KnownGeneration,
    pub(crate) tag_floors: TagFloors,
}

impl Backplane {
    fn listeners(&self) -> Vec<Arc<dyn BackplaneListener>> {
        self.listeners.read().clone()
    }

    /// Calls `f` on every listener; a panic in one is logged and does not reach the others.
    fn notify(&self, event: &'static str, f: impl Fn(&dyn BackplaneListener)) {
        for listener in self.listeners() {
            if catch_unwind(AssertUnwindSafe(|| f(listener.as_ref()))).is_err() {
                tracing::error!(target: log::REDIS, event, "backplane listener panicked");
            }
        }
    }

    /// Reads the namespace generation (creating it as "now" when Redis lost it, repairing it when
    /// it went backwards) and adopts it.
    pub(crate) async fn read_generation(
        &self,
        connection: &SharedConnection,
        space: &KeySpace,
    ) -> redis::RedisResult<u64> {
        let mut connection = connection.clone();
        let keys = [space.generation_key().to_owned()];
        let stored = versions::read(&mut connection, &keys, &[self.generation.floor()]).await?;
        Ok(self.generation.adopt(stored.first().copied().unwrap_or(0)))
    }

    /// [`read_generation`](Self::read_generation), bounded. On failure the generation becomes
    /// unknown, so the next read fetches it instead of trusting one that may have been cleared.
    async fn refresh_generation(
        &self,
        connection: &SharedConnection,
        space: &KeySpace,
        timeout: Duration,
    ) {
        let read = self.read_generation(connection, space);
        match tokio::time::timeout(timeout, read).await {
            Ok(Ok(generation)) => {
                tracing::trace!(target: log::REDIS, generation, "namespace generation refreshed");
            }
            Ok(Err(e)) => {
                self.generation.forget();
                tracing::debug!(target: log::REDIS, error = %e, "could not read the namespace generation");
            }
            Err(_) => {
                self.generation.forget();
                tracing::debug!(target: log::REDIS, "reading the namespace generation timed out");
            }
        }
    }
}

/// Keeps a subscription to the namespace's channel up, forever, and delivers its messages.
pub(crate) struct Subscriber {
    /// Where to subscribe: the server, or the cluster's seed nodes.
    pub(crate) clients: Vec<Client>,
    /// In a Cluster, classic pub/sub reaches every node, so any reachable node will do: when
    /// subscribing fails, the nodes are looked up with `CLUSTER NODES` and tried in turn.
    pub(crate) cluster: bool,
    pub(crate) space: Arc<KeySpace>,
    pub(crate) connection: SharedConnection,
    pub(crate) backplane: Arc<Backplane>,
    pub(crate) timeout: Duration,
    pub(crate) health_interval: Duration,
}

impl Subscriber {
    pub(crate) async fn run(self) {
        let mut subscribed_before = false;
        let mut candidates = self.clients.clone();
        if candidates.is_empty() {
            tracing::error!(target: log::REDIS, "backplane has no server to subscribe to");
            return;
        }
        let this = &self;
        loop {
            let mut failures: u32 = 0;
            let mut rounds: u32 = 0;
            let (sink, stream) = loop {
                if self.cluster && (subscribed_before || rounds > 0) {
                    self.add_cluster_nodes(&mut candidates).await;
                }
                rounds = rounds.saturating_add(1);
                let candidates = &candidates;
                // Several attempts in flight (see `hedged`): the first after Redis is back wins.
                let round = hedged::first_success(
                    |n| {
                        let client = candidates[n % candidates.len()].clone();
                        async move { this.subscribe(&client).await }
                    },
                    |reason: String| {
                        failures = failures.saturating_add(1);
                        if failures.is_power_of_two() {
                            tracing::warn!(
                                target: log::REDIS,
                                reason,
                                failures,
                                "backplane cannot subscribe; retrying. Check the Redis URL, the \
                                 network and the ACL (SUBSCRIBE on the channel)"
                            );
                        } else {
                            tracing::debug!(
                                target: log::REDIS,
                                reason,
                                failures,
                                "backplane cannot subscribe; retrying"
                            );
                        }
                    },
                );
                if !self.cluster {
                    break round.await;
                }
                // In a Cluster, look the nodes up again every connect timeout.
                if let Ok(pair) = tokio::time::timeout(self.timeout, round).await {
                    break pair;
                }
            };
            // Subscribed first, then generation and listeners: whatever is published from here
            // on is delivered after the listeners dropped what they missed.
            self.backplane
                .refresh_generation(&self.connection, &self.space, self.timeout)
                .await;
            self.backplane.connected.store(true, Ordering::Release);
            if subscribed_before || failures > 0 {
                tracing::info!(
                    target: log::REDIS,
                    channel = self.space.channel(),
                    "backplane resubscribed; dropping what may have been missed"
                );
                self.backplane.notify("reconnect", |l| l.on_reconnect());
            } else {
                tracing::debug!(
                    target: log::REDIS,
                    channel = self.space.channel(),
                    "backplane subscribed"
                );
            }
            subscribed_before = true;
            let reason = self.deliver(sink, stream).await;
            self.backplane.connected.store(false, Ordering::Release);
            tracing::warn!(
                target: log::REDIS,
                reason,
                "backplane subscription dropped; resubscribing. Until it is back this instance \
                 does not hear other instances' invalidations (its L1 is cleared when it is); \
                 check that Redis is reachable"
            );
            self.backplane.notify("disconnect", |l| l.on_disconnect());
        }
    }

    /// Adds every live node of the cluster to `candidates` (best effort, bounded).
    async fn add_cluster_nodes(&self, candidates: &mut Vec<Client>) {
        let Some(seed) = self.clients.first() else {
            return;
        };
        let mut connection = self.connection.clone();
        let mut cmd = redis::cmd("CLUSTER");
        cmd.arg("NODES");
        let nodes =
            match tokio::time::timeout(self.timeout, cmd.query_async::<String>(&mut connection))
                .await
            {
                Ok(Ok(nodes)) => nodes,
                Ok(Err(e)) => {
                    tracing::debug!(target: log::REDIS, error = %e, "CLUSTER NODES failed");
                    return;
                }
                Err(_) => return,
            };
        for (host, port) in live_nodes(&nodes) {
            let Some(addr) = same_kind_of_addr(seed.get_connection_info().addr(), host, port)
            else {
                continue;
            };
            if candidates
                .iter()
                .any(|c| *c.get_connection_info().addr() == addr)
            {
                continue;
            }
            let info = seed.get_connection_info().clone().set_addr(addr);
            if let Ok(client) = Client::open(info) {
                tracing::debug!(target: log::REDIS,
                    host,
                    port,
                    "backplane may subscribe through this cluster node"
                );
                candidates.push(client);
            }
        }
    }

    async fn subscribe(&self, client: &Client) -> Result<(PubSubSink, PubSubStream), String> {
        let open = async {
            let (mut sink, stream) = client.get_async_pubsub().await?.split();
            sink.subscribe(self.space.channel()).await?;
            Ok::<_, redis::RedisError>((sink, stream))
        };
        match tokio::time::timeout(self.timeout, open).await {
            Ok(Ok(pair)) => Ok(pair),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("timed out".to_owned()),
        }
    }

    /// Delivers messages until the subscription ends or stops answering `PING`.
    async fn deliver(&self, mut sink: PubSubSink, mut stream: PubSubStream) -> &'static str {
        let mut tag_cursor = 0;
        let mut health = tokio::time::interval(self.health_interval);
        health.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        health.tick().await;
        loop {
            tokio::select! {
                message = stream.next() => {
                    let Some(message) = message else {
                        return "connection closed";
                    };
                    self.handle(message.get_payload_bytes()).await;
                }
                _ = health.tick() => {
                    match tokio::time::timeout(self.timeout, sink.ping::<redis::Value>()).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(_)) => return "ping failed",
                        Err(_) => return "ping timed out",
                    }
                    // A generation Redis lost and another instance recreated is adopted here
                    // at the latest (a value of it, read earlier, teaches it too).
                    self.backplane
                        .refresh_generation(&self.connection, &self.space, self.timeout)
                        .await;
                    tag_cursor = self.check_tags(tag_cursor).await;
                }
            }
        }
    }

    /// Checks a page of the tags this instance has seen: one Redis lost or rolled back (evicted,
    /// flushed, a failover to a replica that missed a bump) is recreated above everything seen
    /// and announced, so every instance drops what the lost version guarded, including those
    /// that never saw it. Returns the next page's cursor.
    async fn check_tags(&self, cursor: usize) -> usize {
        let (page, next) = self.backplane.tag_floors.page(cursor, TAGS_PER_CHECK);
        if page.is_empty() {
            return next;
        }
        let keys: Vec<String> = page.iter().map(|(t, _)| self.space.tag_key(t)).collect();
        let floors: Vec<u64> = page.iter().map(|(_, f)| *f).collect();
        let mut connection = self.connection.clone();
        let read = versions::read_noting_losses(&mut connection, &keys, &floors);
        let (versions, lost) = match tokio::time::timeout(self.timeout, read).await {
            Ok(Ok(found)) => found,
            Ok(Err(e)) => {
                tracing::debug!(target: log::REDIS, error = %e, "could not check tag versions");
                return cursor;
            }
            Err(_) => return cursor,
        };
        for i in lost {
            let (Some((tag, _)), Some(&version)) = (page.get(i), versions.get(i)) else {
                continue;
            };
            self.backplane.tag_floors.raise(tag, version);
            tracing::info!(
                target: log::REDIS,
                tag = tag.as_str(),
                version,
                "tag version was lost or went backwards in Redis; moved forward and announced"
            );
            let message = InvalidationMessage {
                origin: LAYER_ORIGIN,
                invalidation: Invalidation::Tag {
                    tag: tag.clone(),
                    version,
                },
            };
            let Ok(payload) = serde_json::to_vec(&message) else {
                continue;
            };
            let mut publish = redis::cmd("PUBLISH");
            publish.arg(self.space.channel()).arg(payload);
            let sent = publish.query_async::<redis::Value>(&mut connection);
            if !matches!(tokio::time::timeout(self.timeout, sent).await, Ok(Ok(_))) {
                tracing::debug!(target: log::REDIS, "could not announce a repaired tag version");
            }
        }
        next
    }

    async fn handle(&self, payload: &[u8]) {
        if payload.is_empty() {
            // The permission probe's `PUBLISH`: says nothing.
            return;
        }
        let message: InvalidationMessage = match serde_json::from_slice(payload) {
            Ok(m) => m,
            Err(e) => {
                // The payload is not logged: it holds keys.
                static UNDECODABLE: RateLimit = RateLimit::new();
                if let Some(suppressed) = UNDECODABLE.check() {
                    tracing::warn!(
                        target: log::REDIS,
                        error = %e,
                        suppressed,
                        "ignoring an undecodable backplane message: another program, or a \
                         layercache version with another message format, publishes on this channel"
                    );
                }
                return;
            }
        };
        if let Invalidation::Tag { tag, version } = &message.invalidation {
            self.backplane.tag_floors.raise(tag, *version);
        }
        if matches!(message.invalidation, Invalidation::Clear) {
            // The sender moved to a new generation before publishing: adopt it before the
            // listeners drop their copies, so nothing is re-read from the cleared generation.
            self.backplane
                .refresh_generation(&self.connection, &self.space, self.timeout)
                .await;
        }
        tracing::trace!(target: log::REDIS, origin = message.origin, "backplane message");
        self.backplane
            .notify("message", |l| l.on_message(message.clone()));
    }
}

/// `host:port` of every node of a `CLUSTER NODES` reply that is neither failing nor without an
/// address.
fn live_nodes(reply: &str) -> Vec<(&str, u16)> {
    reply
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(' ');
            let _id = fields.next()?;
            let address = fields.next()?;
            let flags = fields.next()?;
            if flags
                .split(',')
                .any(|f| matches!(f, "fail" | "fail?" | "noaddr" | "handshake"))
            {
                return None;
            }
            let host_port = address.split(['@', ',']).next()?;
            let (host, port) = host_port.rsplit_once(':')?;
            let port = port.parse().ok()?;
            (!host.is_empty() && port != 0).then_some((host, port))
        })
        .collect()
}

/// `seed`'s kind of address (plain or TLS, same TLS settings) for another host and port.
fn same_kind_of_addr(seed: &ConnectionAddr, host: &str, port: u16) -> Option<ConnectionAddr> {
    match seed {
        ConnectionAddr::Tcp(_, _) => Some(ConnectionAddr::Tcp(host.to_owned(), port)),
        ConnectionAddr::TcpTls {
            insecure,
            tls_params,
            ..
        } => Some(ConnectionAddr::TcpTls {
            host: host.to_owned(),
            port,
            insecure: *insecure,
            tls_params: tls_params.clone(),
        }),
        _ => None,
    }
}

/// Without a backplane, re-reads the namespace generation periodically so a `clear()` by another
/// instance is still noticed.
pub(crate) struct GenerationPoller {
    pub(crate) space: Arc<KeySpace>,
    pub(crate) connection: SharedConnection,
    pub(crate) backplane: Arc<Backplane>,
    pub(crate) timeout: Duration,
    pub(crate) interval: Duration,
}

impl GenerationPoller {
    pub(crate) async fn run(self) {
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.backplane
                .refresh_generation(&self.connection, &self.space, self.timeout)
                .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_nodes_reply_gives_live_addresses() {
        let reply = "\
a1 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460
b2 127.0.0.1:7001@17001,node-b master - 0 0 2 connected 5461-10922
c3 127.0.0.1:7002@17002 master,fail - 0 0 3 disconnected 10923-16383
d4 :0@0 master,noaddr - 0 0 4 disconnected
e5 ::1:7003@17003 slave a1 0 0 1 connected";
        assert_eq!(
            live_nodes(reply),
            vec![("127.0.0.1", 7000), ("127.0.0.1", 7001), ("::1", 7003)]
        );
    }
}
