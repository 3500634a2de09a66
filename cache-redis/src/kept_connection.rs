//! One server's multiplexed connection, replaced as soon as it stops answering.
//!
//! redis-rs's `ConnectionManager` reconnects only when the socket reports an error. After a
//! network partition the socket reports nothing: TCP keeps retransmitting with a back-off that
//! reaches seconds, so the link can be healed for seconds before the old connection answers
//! again. Here a command cut off by the cache's timeout (or failing with an I/O error) makes the
//! keeper `PING` at once; a connection that does not answer within the connect timeout is dropped,
//! calls fail fast meanwhile, and new connections are tried with several attempts in flight
//! ([`hedged`]), so the first one started after the link heals wins.
//!
//! That connection's driver runs on the layer's own runtime thread, so a call made from a task
//! of another runtime would hand its request to that thread and be woken from it: two thread
//! wake-ups per call. A caller's runtime therefore gets a connection of its own ([`Local`]),
//! opened in the background on that runtime the first time it calls, so that its driver is
//! polled next to the caller's task; until it is open, and whenever it fails, calls take the
//! layer's connection. A local connection is forgotten when its runtime shuts down (a task of
//! that runtime notices), when a command on it fails on the socket, when it does not answer the
//! keeper's `PING`, and whenever the layer's own connection is replaced: the layer never depends
//! on a caller's runtime staying alive.

use cache_core::log;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{AsyncConnectionConfig, Client, Cmd, Pipeline, RedisError, RedisResult, Value};
use tokio::runtime::{Handle, Id};
use tokio::sync::{oneshot, Notify};

use crate::hedged;
use crate::runtime;

/// How long a runtime whose local connection could not be opened keeps using the layer's.
const LOCAL_RETRY: Duration = Duration::from_secs(1);

/// How the keeper checks the connection.
pub(crate) struct KeepSettings {
    /// Bound on a `PING` and on each connection attempt.
    pub(crate) timeout: Duration,
    /// How often an idle connection is checked.
    pub(crate) health_interval: Duration,
    /// The layer's own runtime, where the kept connection's driver runs.
    pub(crate) home: Handle,
}

/// The connection and what keeps it healthy.
pub(crate) struct KeptConnection {
    client: Client,
    config: AsyncConnectionConfig,
    /// `None` while reconnecting: calls fail at once instead of waiting on a dead link.
    current: RwLock<Option<MultiplexedConnection>>,
    /// The layer's own runtime: `current`'s driver runs there, and calls that use `current`
    /// are polled in its context.
    home: Handle,
    /// Connections whose drivers run on callers' runtimes, one per runtime.
    locals: RwLock<Vec<Local>>,
    /// Names each [`Local`] entry, so a stale clean-up never removes a newer one.
    next_token: AtomicU64,
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
            home: settings.home,
            locals: RwLock::new(Vec::new()),
            next_token: AtomicU64::new(0),
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

    /// Sends one command, on the caller's runtime's connection when it has one; an unanswered
    /// or failed one wakes the keeper.
    pub(crate) async fn send(self: &Arc<Self>, cmd: &Cmd) -> RedisResult<Value> {
        self.send_with(cmd, None).await
    }

    /// [`send`](Self::send), failing with a timeout error when no answer came within `timeout`
    /// (the connection's own response timer, set for this command: no second timer).
    pub(crate) async fn send_within(
        self: &Arc<Self>,
        cmd: &Cmd,
        timeout: Duration,
    ) -> RedisResult<Value> {
        self.send_with(cmd, Some(timeout)).await
    }

    async fn send_with(
        self: &Arc<Self>,
        cmd: &Cmd,
        timeout: Option<Duration>,
    ) -> RedisResult<Value> {
        let mut route = self.route()?;
        if let Some(timeout) = timeout {
            match &mut route {
                Route::Local(connection, _) | Route::Home(connection) => {
                    connection.set_response_timeout(timeout)
                }
            }
        }
        match route {
            Route::Local(mut connection, token) => {
                let watch = Unanswered(Some(&self.suspect));
                let reply = connection.send_packed_command(cmd).await;
                self.answered(watch, &reply, Some(token));
                reply
            }
            Route::Home(mut connection) => {
                let watch = Unanswered(Some(&self.suspect));
                let home = self.home.clone();
                let reply = runtime::on(home, connection.send_packed_command(cmd)).await;
                self.answered(watch, &reply, None);
                reply
            }
        }
    }

    /// Sends a pipeline; like [`send`](Self::send).
    pub(crate) async fn send_pipeline(
        self: &Arc<Self>,
        pipeline: &Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisResult<Vec<Value>> {
        let (mut connection, token) = match self.route()? {
            Route::Local(connection, token) => (connection, Some(token)),
            Route::Home(connection) => (connection, None),
        };
        let watch = Unanswered(Some(&self.suspect));
        let send = connection.send_packed_commands(pipeline, offset, count);
        let reply = match token {
            Some(_) => send.await,
            None => runtime::on(self.home.clone(), send).await,
        };
        self.answered(watch, &reply, token);
        reply
    }

    /// The connection a call from here uses: the current runtime's own when it is open, else
    /// the layer's (and the current runtime's is opened in the background).
    fn route(self: &Arc<Self>) -> RedisResult<Route> {
        if let Ok(caller) = Handle::try_current() {
            let id = caller.id();
            if id != self.home.id() {
                if let Some((connection, token)) = self.local(id, &caller) {
                    return Ok(Route::Local(connection, token));
                }
            }
        }
        self.connection().map(Route::Home)
    }

    /// Runtime `id`'s open connection; starts opening one when it has none (only while the
    /// layer's own connection is up: a local one is never opened to a server that is away).
    fn local(self: &Arc<Self>, id: Id, caller: &Handle) -> Option<(MultiplexedConnection, u64)> {
        let now = Instant::now();
        {
            let locals = self.locals.read();
            match locals.iter().find(|l| l.runtime == id).map(|l| &l.state) {
                Some(LocalState::Open(connection, token)) => {
                    return Some((connection.clone(), *token))
                }
                Some(LocalState::Opening) => return None,
                Some(LocalState::Failed(at)) if now < *at + LOCAL_RETRY => return None,
                Some(LocalState::Failed(_)) | None => {}
            }
        }
        if self.current.read().is_none() {
            return None;
        }
        let mut locals = self.locals.write();
        match locals.iter_mut().find(|l| l.runtime == id) {
            Some(Local {
                state: state @ LocalState::Failed(_),
                ..
            }) => *state = LocalState::Opening,
            // Another caller of this runtime got here first.
            Some(_) => return None,
            None => locals.push(Local {
                runtime: id,
                state: LocalState::Opening,
                token: self.next_token.fetch_add(1, Ordering::Relaxed),
                stop: None,
            }),
        }
        let token = locals.iter().find(|l| l.runtime == id).map(|l| l.token)?;
        drop(locals);
        let (stop, stopped) = oneshot::channel();
        let opener = Opener {
            kept: Arc::downgrade(self),
            runtime: id,
            token,
        };
        drop(caller.spawn(opener.run(stop, stopped)));
        None
    }

    /// Forgets the local connection named `token` (its runtime may open a new one).
    fn forget_local(&self, token: u64) {
        self.locals.write().retain(|l| l.token != token);
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

    fn answered<T>(&self, mut watch: Unanswered<'_>, reply: &RedisResult<T>, local: Option<u64>) {
        watch.0 = None;
        if let Err(e) = reply {
            if e.is_timeout() {
                // Unanswered in time, as when the cache's own timeout drops a command: the keeper
                // checks the connections (and drops a local one that does not answer its PING).
                self.suspect.notify_one();
            } else if e.is_io_error() || e.is_unrecoverable_error() {
                // A local connection that failed on its socket (or whose runtime is going away)
                // is not used again; its runtime falls back to the layer's.
                if let Some(token) = local {
                    self.forget_local(token);
                }
                self.suspect.notify_one();
            }
        }
    }

    /// `PING`s every open local connection at once and forgets those that do not answer.
    async fn check_locals(&self) {
        let open: Vec<(MultiplexedConnection, u64)> = self
            .locals
            .read()
            .iter()
            .filter_map(|l| match &l.state {
                LocalState::Open(connection, token) => Some((connection.clone(), *token)),
                _ => None,
            })
            .collect();
        let pings = open.into_iter().map(|(mut connection, token)| async move {
            let ping = redis::cmd("PING");
            match tokio::time::timeout(self.timeout, connection.send_packed_command(&ping)).await {
                Ok(Ok(_)) => None,
                Ok(Err(e)) if !e.is_io_error() && !e.is_unrecoverable_error() => None,
                _ => Some(token),
            }
        });
        for token in futures_util::future::join_all(pings)
            .await
            .into_iter()
            .flatten()
        {
            tracing::debug!(target: log::REDIS, "a caller runtime's Redis connection stopped answering; dropped");
            self.forget_local(token);
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
            self.check_locals().await;
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
            // Callers' connections go to the same server: they are opened again once it is back.
            self.locals.write().clear();
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

/// Where one call goes.
enum Route {
    /// The connection of the caller's runtime (its token).
    Local(MultiplexedConnection, u64),
    /// The layer's own connection.
    Home(MultiplexedConnection),
}

/// A connection whose driver runs on a caller's runtime.
struct Local {
    runtime: Id,
    state: LocalState,
    token: u64,
    /// Dropped with the entry: ends the task that watches the runtime.
    stop: Option<oneshot::Sender<()>>,
}

enum LocalState {
    /// Being opened by a task of its runtime; calls use the layer's connection meanwhile.
    Opening,
    /// Open; the token names the entry.
    Open(MultiplexedConnection, u64),
    /// Could not be opened (at that time); tried again after [`LOCAL_RETRY`].
    Failed(Instant),
}

/// The task, on a caller's runtime, that opens that runtime's connection (its driver is spawned
/// there) and then stays until the entry is forgotten or the runtime shuts down (which drops it,
/// and with it the entry).
struct Opener {
    kept: Weak<KeptConnection>,
    runtime: Id,
    token: u64,
}

impl Opener {
    async fn run(self, stop: oneshot::Sender<()>, stopped: oneshot::Receiver<()>) {
        // Dropped with this task, also mid-attempt when the runtime shuts down.
        let mut forget = ForgetOnDrop {
            kept: Some(self.kept.clone()),
            token: self.token,
        };
        let opened = match self.kept.upgrade() {
            Some(kept) => kept.attempt().await,
            None => return,
        };
        let Some(kept) = self.kept.upgrade() else {
            return;
        };
        {
            let mut locals = kept.locals.write();
            let Some(entry) = locals.iter_mut().find(|l| l.token == self.token) else {
                // Forgotten while opening (the layer's connection was replaced).
                return;
            };
            match opened {
                Ok(connection) => {
                    tracing::debug!(target: log::REDIS, runtime = %self.runtime, "Redis connection opened for a caller runtime");
                    entry.state = LocalState::Open(connection, self.token);
                    entry.stop = Some(stop);
                }
                Err(e) => {
                    tracing::debug!(target: log::REDIS, error = %e, "cannot open a Redis connection for a caller runtime; using the layer's");
                    // Kept as failed, so this runtime's calls do not retry at once.
                    entry.state = LocalState::Failed(Instant::now());
                    forget.kept = None;
                    return;
                }
            }
        }
        drop(kept);
        // Ends when the entry (holding `stop`) is forgotten; dropped with the runtime.
        let _ = stopped.await;
    }
}

/// Forgets a local connection when its runtime's task ends or is dropped.
struct ForgetOnDrop {
    kept: Option<Weak<KeptConnection>>,
    token: u64,
}

impl Drop for ForgetOnDrop {
    fn drop(&mut self) {
        if let Some(kept) = self.kept.as_ref().and_then(Weak::upgrade) {
            kept.forget_local(self.token);
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
