//! What a [`RedisL2`](crate::RedisL2) is built with: its servers and settings.

use std::time::Duration;

use cache_core::L2Policy;

use crate::error::redact_url;
use crate::slots::SlotRanges;

/// Which servers to use.
#[derive(Clone, Debug)]
pub(crate) enum Topology {
    /// One server (or a primary).
    Single(String),
    /// Any reachable nodes of a Redis Cluster; the rest is discovered.
    Cluster(Vec<String>),
}

impl Topology {
    /// The URLs with passwords redacted, for messages.
    pub(crate) fn redacted(&self) -> Vec<String> {
        match self {
            Topology::Single(url) => vec![redact_url(url)],
            Topology::Cluster(urls) => urls.iter().map(|u| redact_url(u)).collect(),
        }
    }
}

/// The layer's settings, fixed at build.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) topology: Topology,
    pub(crate) namespace: Option<String>,
    pub(crate) policy: L2Policy,
    pub(crate) backplane: bool,
    /// Bound on each command the layer sends on its own (generation reads, pings, subscribe).
    pub(crate) background_timeout: Duration,
    pub(crate) health_interval: Duration,
    /// How long a delete's tombstone (the key's version) is kept.
    pub(crate) tombstone_ttl: Duration,
    /// The Cluster's slot ranges at connect (none for one server): one breaker each.
    pub(crate) slot_ranges: SlotRanges,
}
