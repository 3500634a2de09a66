//! [`RedisL2Builder`]: where to connect and how the cache should treat the layer.

use cache_core::log;
use std::time::Duration;

use cache_core::L2Policy;
use redis::cluster::ClusterClientBuilder;
use redis::{AsyncConnectionConfig, Client};

use crate::connection::SharedConnection;
use crate::error::{connect_error, redact_url, RedisL2Error};
use crate::kept_connection::{KeepSettings, KeptConnection};
use crate::layer::RedisL2;
use crate::permissions::{Probe, PLACEHOLDER_NAMESPACE};
use crate::runtime::LayerRuntime;
use crate::settings::{Settings, Topology};
use crate::slots::SlotRanges;

/// Configures and connects a [`RedisL2`].
///
/// ```no_run
/// # async fn f() -> Result<(), layercache::RedisL2Error> {
/// use std::time::Duration;
/// let layer = layercache::RedisL2::builder("redis://app:secret@10.0.0.5:6379")
///     .timeout(Duration::from_millis(30))
///     .breaker(5, Duration::from_secs(2))
///     .max_value_size(512 * 1024)
///     .build()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until `build().await`"]
pub struct RedisL2Builder {
    topology: Topology,
    namespace: Option<String>,
    policy: L2Policy,
    backplane: bool,
    connect_timeout: Duration,
    health_interval: Duration,
    tombstone_ttl: Duration,
    #[cfg(feature = "tls")]
    tls: TlsFiles,
}

/// Certificates for `rediss://` beyond the platform's trust store.
#[cfg(feature = "tls")]
#[derive(Clone, Default)]
struct TlsFiles {
    root_cert: Option<Vec<u8>>,
    client: Option<(Vec<u8>, Vec<u8>)>,
}

#[cfg(feature = "tls")]
impl std::fmt::Debug for TlsFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsFiles")
            .field("root_cert", &self.root_cert.is_some())
            .field("client_cert", &self.client.is_some())
            .finish()
    }
}

#[cfg(feature = "tls")]
impl TlsFiles {
    fn is_set(&self) -> bool {
        self.root_cert.is_some() || self.client.is_some()
    }

    fn certificates(&self) -> redis::TlsCertificates {
        redis::TlsCertificates {
            client_tls: self.client.clone().map(|(client_cert, client_key)| {
                redis::ClientTlsConfig {
                    client_cert,
                    client_key,
                }
            }),
            root_cert: self.root_cert.clone(),
        }
    }
}

impl RedisL2Builder {
    pub(crate) fn new(topology: Topology) -> RedisL2Builder {
        RedisL2Builder {
            topology,
            namespace: None,
            policy: L2Policy::default(),
            backplane: true,
            connect_timeout: Duration::from_secs(1),
            health_interval: Duration::from_secs(1),
            tombstone_ttl: Duration::from_secs(300),
            #[cfg(feature = "tls")]
            tls: TlsFiles::default(),
        }
    }

    /// Trusts this CA certificate (PEM) for `rediss://` servers instead of the platform's trust
    /// store, e.g. for a private CA.
    #[cfg(feature = "tls")]
    pub fn tls_root_cert(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls.root_cert = Some(pem.into());
        self
    }

    /// Presents this client certificate and key (PEM) to `rediss://` servers that require
    /// mutual TLS.
    #[cfg(feature = "tls")]
    pub fn tls_client_cert(
        mut self,
        cert_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
    ) -> Self {
        self.tls.client = Some((cert_pem.into(), key_pem.into()));
        self
    }

    /// Uses `namespace` for this layer's keys, generation, tags and backplane channel instead of
    /// the namespace of the cache it is attached to. Also lets the layer read the namespace's
    /// generation while connecting, before any cache is built.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// Upper bound the cache puts on every operation (default 50 ms).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.policy.timeout = timeout;
        self
    }

    /// Circuit breaker: after `failures` consecutive failures the cache skips Redis for
    /// `cool_down`, then lets one probe through (defaults: 5 failures, 2 s).
    pub fn breaker(mut self, failures: u32, cool_down: Duration) -> Self {
        self.policy.breaker_failures = failures;
        self.policy.breaker_cool_down = cool_down;
        self
    }

    /// Largest value written to Redis, in bytes (default 1 MiB); larger ones are refused with
    /// [`L2Error::TooLarge`](cache_core::L2Error::TooLarge) and stay in L1 only.
    pub fn max_value_size(mut self, bytes: usize) -> Self {
        self.policy.max_value_size = bytes;
        self
    }

    /// Turns the pub/sub backplane on (default) or off. Off, no instance hears about another's
    /// invalidations, and a `clear()` elsewhere is noticed by polling the generation once per
    /// [`health_interval`](Self::health_interval).
    pub fn backplane(mut self, enabled: bool) -> Self {
        self.backplane = enabled;
        self
    }

    /// How long connecting (and each background command) may take (default 1 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How often the backplane connection is checked with a `PING` (default 1 s). A subscription
    /// to a server that stopped answering is noticed within this interval plus the connect
    /// timeout.
    pub fn health_interval(mut self, interval: Duration) -> Self {
        self.health_interval = interval;
        self
    }

    /// How long a deleted key remembers its version (default 5 min). A load that read the source
    /// of truth before an invalidation cannot store its value after it, as long as the load
    /// finishes within this time.
    pub fn tombstone_ttl(mut self, ttl: Duration) -> Self {
        self.tombstone_ttl = ttl;
        self
    }

    /// Connects: checks the URL(s), the credentials, and that the server answers.
    pub async fn build(self) -> Result<RedisL2, RedisL2Error> {
        if self.policy.timeout.is_zero() {
            return Err(RedisL2Error::Config("timeout must be above zero".into()));
        }
        if self.connect_timeout.is_zero()
            || self.health_interval.is_zero()
            || self.tombstone_ttl.is_zero()
        {
            return Err(RedisL2Error::Config(
                "connect timeout, health interval and tombstone TTL must be above zero".into(),
            ));
        }
        let urls = match &self.topology {
            Topology::Single(url) => vec![url.clone()],
            Topology::Cluster(urls) if urls.is_empty() => {
                return Err(RedisL2Error::Config(
                    "a cluster needs at least one node URL".into(),
                ))
            }
            Topology::Cluster(urls) => urls.clone(),
        };
        #[cfg(feature = "tls")]
        if urls.iter().any(|u| u.starts_with("rediss://")) {
            // rustls needs a process-wide crypto provider; an application that installed its own
            // keeps it (this then fails harmlessly).
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let clients = urls
            .iter()
            .map(|url| self.open_client(url))
            .collect::<Result<Vec<_>, _>>()?;

        let runtime = LayerRuntime::start().map_err(RedisL2Error::Runtime)?;
        let connection = runtime
            .enter(self.connect(&clients, runtime.handle()))
            .await?;
        if let SharedConnection::Single(kept) = &connection {
            runtime.spawn(std::sync::Arc::clone(kept).keep());
        }
        let probe = Probe {
            connection: connection.clone(),
            subscriber: self.backplane.then(|| clients.first().cloned()).flatten(),
            cluster: matches!(self.topology, Topology::Cluster(_)),
            timeout: self.connect_timeout,
            url: urls.first().cloned().unwrap_or_default(),
        };
        let (namespace, keys_known) = match &self.namespace {
            Some(namespace) => (namespace.as_str(), true),
            None => (PLACEHOLDER_NAMESPACE, false),
        };
        runtime.enter(probe.run(namespace, keys_known)).await?;
        let probe_at_attach = (!keys_known).then_some(probe);
        let slot_ranges = match &connection {
            SharedConnection::Cluster(..) => {
                runtime
                    .enter(slot_ranges(&connection, self.connect_timeout))
                    .await
            }
            SharedConnection::Single(_) => SlotRanges::default(),
        };
        let settings = Settings {
            slot_ranges,
            topology: self.topology,
            namespace: self.namespace,
            policy: self.policy,
            backplane: self.backplane,
            background_timeout: self.connect_timeout,
            health_interval: self.health_interval,
            tombstone_ttl: self.tombstone_ttl,
        };
        Ok(RedisL2::assemble(connection, clients, settings, runtime, probe_at_attach).await)
    }
}

impl RedisL2Builder {
    /// Parses a URL, refusing `rediss://` without the `tls` feature with a clear message.
    fn open_client(&self, url: &str) -> Result<Client, RedisL2Error> {
        let tls = url.starts_with("rediss://");
        if tls && !cfg!(feature = "tls") {
            return Err(RedisL2Error::TlsNotEnabled {
                url: redact_url(url),
            });
        }
        let invalid = |e: redis::RedisError| RedisL2Error::InvalidUrl {
            url: redact_url(url),
            reason: e.to_string(),
        };
        #[cfg(feature = "tls")]
        if tls && self.tls.is_set() {
            return Client::build_with_tls(url, self.tls.certificates()).map_err(invalid);
        }
        Client::open(url).map_err(invalid)
    }

    /// Opens the shared connection (its drivers on the layer's runtime, `home`) and proves it
    /// works with a `PING`.
    async fn connect(
        &self,
        clients: &[Client],
        home: &tokio::runtime::Handle,
    ) -> Result<SharedConnection, RedisL2Error> {
        let timeout = self.connect_timeout;
        match (&self.topology, clients) {
            (Topology::Single(url), [client]) => {
                // A plain connection: a refused password fails here at once, never in a retry
                // loop. The keeper replaces it whenever it stops answering.
                let config = AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout));
                let mut connection = client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await
                    .map_err(|e| connect_error(url, e))?;
                ping(&mut connection, timeout)
                    .await
                    .map_err(|e| connect_error(url, e))?;
                let kept = KeptConnection::new(
                    client.clone(),
                    config,
                    connection,
                    KeepSettings {
                        timeout,
                        health_interval: self.health_interval,
                        home: home.clone(),
                    },
                );
                Ok(SharedConnection::Single(kept))
            }
            (Topology::Cluster(urls), _) => {
                let first = urls.first().map(String::as_str).unwrap_or_default();
                let builder = ClusterClientBuilder::new(urls.iter().map(String::as_str))
                    .connection_timeout(timeout)
                    .response_timeout(timeout)
                    .retries(3)
                    .min_retry_wait(10)
                    .max_retry_wait(500);
                #[cfg(feature = "tls")]
                let builder = if self.tls.is_set() {
                    builder.certs(self.tls.certificates())
                } else {
                    builder
                };
                let client = builder.build().map_err(|e| RedisL2Error::InvalidUrl {
                    url: redact_url(first),
                    reason: e.to_string(),
                })?;
                let mut connection =
                    tokio::time::timeout(timeout * 2, client.get_async_connection())
                        .await
                        .map_err(|_| connect_error(first, timed_out()))?
                        .map_err(|e| connect_error(first, e))?;
                ping(&mut connection, timeout)
                    .await
                    .map_err(|e| connect_error(first, e))?;
                Ok(SharedConnection::Cluster(connection, home.clone()))
            }
            (Topology::Single(url), _) => Err(RedisL2Error::Config(format!(
                "one client expected for {}",
                redact_url(url)
            ))),
        }
    }
}

async fn ping<C: redis::aio::ConnectionLike>(
    connection: &mut C,
    timeout: Duration,
) -> redis::RedisResult<()> {
    match tokio::time::timeout(timeout, redis::cmd("PING").query_async::<()>(connection)).await {
        Ok(result) => result,
        Err(_) => Err(timed_out()),
    }
}

pub(crate) fn timed_out() -> redis::RedisError {
    redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut))
}

impl RedisL2 {
    /// Connects to one Redis server with the default settings.
    ///
    /// `url` is `redis://[user:password@]host:port[/db]`, or `rediss://…` with the `tls`
    /// feature. A refused password is an [`RedisL2Error::Auth`] here, not later.
    pub async fn connect(url: impl Into<String>) -> Result<RedisL2, RedisL2Error> {
        RedisL2::builder(url).build().await
    }

    /// Starts configuring a layer on one Redis server.
    pub fn builder(url: impl Into<String>) -> RedisL2Builder {
        RedisL2Builder::new(Topology::Single(url.into()))
    }

    /// Connects to a Redis Cluster, given any reachable nodes, with the default settings.
    pub async fn cluster<I, S>(urls: I) -> Result<RedisL2, RedisL2Error>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        RedisL2::cluster_builder(urls).build().await
    }

    /// Starts configuring a layer on a Redis Cluster.
    pub fn cluster_builder<I, S>(urls: I) -> RedisL2Builder
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        RedisL2Builder::new(Topology::Cluster(
            urls.into_iter().map(Into::into).collect(),
        ))
    }
}

/// The Cluster's slot ranges, for a breaker per master (one breaker for all if unreadable).
async fn slot_ranges(connection: &SharedConnection, timeout: Duration) -> SlotRanges {
    let mut connection = connection.clone();
    let mut cmd = redis::cmd("CLUSTER");
    cmd.arg("SLOTS");
    match tokio::time::timeout(timeout, cmd.query_async::<redis::Value>(&mut connection)).await {
        Ok(Ok(reply)) => SlotRanges::from_reply(&reply),
        Ok(Err(e)) => {
            tracing::warn!(target: log::REDIS, error = %e, "CLUSTER SLOTS failed; one circuit breaker for all nodes");
            SlotRanges::default()
        }
        Err(_) => SlotRanges::default(),
    }
}
