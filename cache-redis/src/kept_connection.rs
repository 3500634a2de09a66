//! One server's multiplexed connection, replaced as soon as it stops answering.
//!
//! redis-rs's `ConnectionManager` reconnects only when the socket reports an error. After a
//! network partition the socket reports nothing: TCP keeps retransmitting with a back-off that
//! reaches seconds, so the link can be healed for seconds before the old connection answers
//! again. Here a command cut off by the cache's timeout (or failing with an I/O error) makes the
//! keeper `PING` at once; a connection that does not answer within the connect timeout is dropped,
//! calls fail fast meanwhile, and new connections are tried with several attempts in flight
//! ([`hedged`]), so the first one started after the link heals wins.

use cache_core::log;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{AsyncConnectionConfig, Client, Cmd, Pipeline, RedisError, RedisResult, Value};
use tokio::sync::Notify;

use crate::hedged;

/// How the keeper checks the connection.
pub(crate) struct KeepSettings {
    /// Bound on a `PING` and on each connection attempt.
    pub(crate) timeout: Duration,
    /// How often an idle connection is checked.
    pub(crate) health_interval: Duration,
}

/// The connection and what keeps it healthy.
pub(crate) struct KeptConnection {
    client: Client,
    config: AsyncConnectionConfig,
    /// `None` while reconnecting: calls fail at once instead of waiting on a dead link.
    current: RwLock<Option<MultiplexedConnection>>,
    /// Woken when a command went unanswered or failed on the socket.
    suspect: Notify,
    /// How many times the connection came back after being lost.
    recovered: AtomicU64,
    db: i64,
    /// Bound on a `PING` and on each connection attempt.
    timeout: Duration,
    /// How often an idle connection is checked.
    health_interval: Duration,
}

impl KeptConnection {
    /// Keeps `connection`, opened from `client` with `config`.
    pub(crate) fn new(
        client: Client,
        config: AsyncConnectionConfig,
        connection: MultiplexedConnection,
        settings: KeepSettings,
    ) -> Arc<KeptConnection> {
        Arc::new(KeptConnection {
            db: connection.get_db(),
            client,
            config,
            current: RwLock::new(Some(connection)),
            suspect: Notify::new(),
            recovered: AtomicU64::new(0),
            timeout: settings.timeout,
            health_interval: settings.health_interval,
        })
    }

    /// How many times the connection came back after being lost.
    pub(crate) fn recovered(&self) -> u64 {
        self.recovered.load(Ordering::Acquire)
    }

    pub(crate) fn db(&self) -> i64 {
        self.db
    }

    /// Sends one command; an unanswered or failed one wakes the keeper.
    pub(crate) async fn send(&self, cmd: &Cmd) -> RedisResult<Value> {
        let mut connection = self.connection()?;
        let watch = Unanswered(Some(&self.suspect));
        let reply = connection.send_packed_command(cmd).await;
        self.answered(watch, &reply);
        reply
    }

    /// Sends a pipeline; like [`send`](Self::send).
    pub(crate) async fn send_pipeline(
        &self,
        pipeline: &Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisResult<Vec<Value>> {
        let mut connection = self.connection()?;
        let watch = Unanswered(Some(&self.suspect));
        let reply = connection
            .send_packed_commands(pipeline, offset, count)
            .await;
        self.answered(watch, &reply);
        reply
    }

    fn connection(&self) -> RedisResult<MultiplexedConnection> {
        match self.current.read().clone() {
            Some(connection) => Ok(connection),
            None => Err(RedisError::from(std::io::Error::new(
                std::io::ErrorKind::NotConnected,
                "reconnecting to Redis",
            ))),
        }
    }

    fn answered<T>(&self, mut watch: Unanswered<'_>, reply: &RedisResult<T>) {
        watch.0 = None;
        if let Err(e) = reply {
            if e.is_io_error() || e.is_unrecoverable_error() {
                self.suspect.notify_one();
            }
        }
    }

    /// Checks the connection on suspicion or every health interval, and replaces it when it
    /// does not answer. Runs for as long as the layer's runtime.
    pub(crate) async fn keep(self: Arc<Self>) {
        loop {
            let _ = tokio::time::timeout(self.health_interval, self.suspect.notified()).await;
            let Ok(mut connection) = self.connection() else {
                continue;
            };
            let ping = redis::cmd("PING");
            match tokio::time::timeout(self.timeout, connection.send_packed_command(&ping)).await {
                Ok(Ok(_)) => continue,
                Ok(Err(e)) if !e.is_io_error() && !e.is_unrecoverable_error() => continue,
                Ok(Err(e)) => {
                    tracing::warn!(target: log::REDIS, error = %e, "Redis connection failed; reconnecting")
                }
                Err(_) => tracing::warn!(target: log::REDIS,
                    timeout = ?self.timeout,
                    "Redis connection stopped answering; reconnecting"
                ),
            }
            *self.current.write() = None;
            let fresh = self.reconnect().await;
            *self.current.write() = Some(fresh);
            self.recovered.fetch_add(1, Ordering::AcqRel);
            tracing::info!(target: log::REDIS, "Redis connection re-established");
        }
    }

    /// Tries new connections (several in flight, see [`hedged`]) until one answers `PING`.
    async fn reconnect(&self) -> MultiplexedConnection {
        let mut failures: u32 = 0;
        hedged::first_success(
            |_| self.attempt(),
            |e: RedisError| {
                failures = failures.saturating_add(1);
                if failures.is_power_of_two() {
                    tracing::debug!(target: log::REDIS, error = %e, failures, "cannot reconnect to Redis yet");
                }
            },
        )
        .await
    }

    async fn attempt(&self) -> RedisResult<MultiplexedConnection> {
        let open = async {
            let mut connection = self
                .client
                .get_multiplexed_async_connection_with_config(&self.config)
                .await?;
            redis::cmd("PING")
                .query_async::<Value>(&mut connection)
                .await?;
            Ok(connection)
        };
        match tokio::time::timeout(self.timeout, open).await {
            Ok(result) => result,
            Err(_) => Err(crate::builder::timed_out()),
        }
    }
}

/// Wakes the keeper when dropped before [`KeptConnection::answered`] disarms it: the command's
/// future was dropped (the cache's timeout) before Redis answered.
struct Unanswered<'a>(Option<&'a Notify>);

impl Drop for Unanswered<'_> {
    fn drop(&mut self) {
        if let Some(suspect) = self.0 {
            suspect.notify_one();
        }
    }
}
