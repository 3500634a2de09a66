//! The one shared connection: a single server's [`KeptConnection`] or a Cluster connection.
//!
//! Both multiplex every caller's commands over long-lived sockets and reconnect by themselves;
//! cloning one is cloning a handle. Each command is polled where its connection's driver lives:
//! a single server's on the caller's runtime when it has its own connection (see
//! `kept_connection.rs`), a Cluster's inside the layer's runtime.

use std::sync::Arc;

use redis::aio::ConnectionLike;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};
use tokio::runtime::Handle;

use crate::kept_connection::KeptConnection;
use crate::runtime;

/// The multiplexed, auto-reconnecting connection all callers share.
#[derive(Clone)]
pub(crate) enum SharedConnection {
    /// One server (or a primary), replaced as soon as it stops answering.
    Single(Arc<KeptConnection>),
    /// A Redis Cluster: commands are routed by hash slot, topology changes are followed. Its
    /// drivers run on the layer's runtime (the handle), where its commands are polled.
    Cluster(ClusterConnection, Handle),
}

impl std::fmt::Debug for SharedConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SharedConnection::Single(_) => f.write_str("SharedConnection::Single"),
            SharedConnection::Cluster(..) => f.write_str("SharedConnection::Cluster"),
        }
    }
}

impl ConnectionLike for SharedConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            SharedConnection::Single(c) => Box::pin(c.send(cmd)),
            SharedConnection::Cluster(c, home) => {
                Box::pin(runtime::on(home.clone(), c.req_packed_command(cmd)))
            }
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            SharedConnection::Single(c) => Box::pin(c.send_pipeline(pipeline, offset, count)),
            SharedConnection::Cluster(c, home) => Box::pin(runtime::on(
                home.clone(),
                c.req_packed_commands(pipeline, offset, count),
            )),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            SharedConnection::Single(c) => c.db(),
            SharedConnection::Cluster(c, _) => c.get_db(),
        }
    }
}

impl SharedConnection {
    /// How many times the connection came back after being lost (0 for a Cluster, whose
    /// connection follows the topology by itself).
    pub(crate) fn recovered(&self) -> u64 {
        match self {
            SharedConnection::Single(c) => c.recovered(),
            SharedConnection::Cluster(..) => 0,
        }
    }
}
