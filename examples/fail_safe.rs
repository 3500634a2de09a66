//! Fail-safe: what callers see when the source of truth, then Redis, goes away.
//!
//! ```text
//! cargo run --example fail_safe                 # part 1; part 2 too when redis-server is on PATH
//! REDIS_URL=redis://127.0.0.1:6379 cargo run --example fail_safe
//! ```
//!
//! Part 1: a supplier API behind `#[cached(stale = "1h", timeout = "300ms")]` starts failing, then
//! hangs; callers keep getting the last good value, marked stale in the stats.
//!
//! Part 2: two instances share Redis as L2; then Redis disappears mid-run. Without `REDIS_URL` the
//! example starts its own `redis-server` on a free port and kills it (SIGKILL); with `REDIS_URL`
//! it talks to that server through a local TCP relay and cuts the relay, as a network failure
//! would. Every call still answers, none waits longer than the L2 timeout, and after a few
//! failures the circuit breaker stops trying Redis at all.

use std::net::{Ipv4Addr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};
use std::time::{Duration, Instant};

use layercache::{cached, Cache, RedisL2, Stats};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use tracing_subscriber::EnvFilter;

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Quote {
    sku: String,
    cents: u64,
    /// Which successful supplier call produced this value.
    load: u32,
}

#[derive(Clone, Debug, thiserror::Error)]
#[error("supplier unavailable")]
struct SupplierDown;

/// The supplier's behaviour, switched by the demo.
static SUPPLIER: AtomicU8 = AtomicU8::new(HEALTHY);
const HEALTHY: u8 = 0;
const FAILING: u8 = 1;
const HANGING: u8 = 2;
static LOADS: AtomicU32 = AtomicU32::new(0);

/// A remote call: 30 ms when healthy, an error when failing, 5 s when hanging.
async fn call_supplier(sku: &str) -> Result<Quote, SupplierDown> {
    match SUPPLIER.load(Ordering::SeqCst) {
        FAILING => {
            tokio::time::sleep(Duration::from_millis(30)).await;
            Err(SupplierDown)
        }
        HANGING => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Err(SupplierDown)
        }
        _ => {
            tokio::time::sleep(Duration::from_millis(30)).await;
            Ok(Quote {
                sku: sku.to_owned(),
                cents: 100 * sku.len() as u64,
                load: LOADS.fetch_add(1, Ordering::SeqCst) + 1,
            })
        }
    }
}

/// Fresh for one second; then kept for an hour as a fallback while the supplier fails or takes
/// longer than 300 ms.
#[cached(key = "quote:<sku>", ttl = "1s", stale = "1h", timeout = "300ms", cache = cache)]
async fn quote(cache: &Cache, sku: &str) -> Result<Quote, SupplierDown> {
    call_supplier(sku).await
}

/// The same supplier, shared through Redis between instances.
#[cached(key = "stock:<sku>", ttl = "1m", l2, stale = "1h", cache = cache)]
async fn stock(cache: &Cache, sku: &str) -> Result<Quote, SupplierDown> {
    call_supplier(sku).await
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("warn,cache_redis::backplane=error")),
        )
        .init();

    part_one().await;

    match std::env::var("REDIS_URL") {
        Ok(url) => {
            let relay = Relay::start(&url).await?;
            let local = relay.local_url.clone();
            part_two(&local, Outage::Relay(relay)).await?;
        }
        Err(_) => match OwnRedis::start() {
            Ok(server) => {
                let url = server.url();
                part_two(&url, Outage::Kill(server)).await?;
            }
            Err(why) => println!(
                "\npart 2 skipped: {why}\n(install redis-server, or set REDIS_URL, to see Redis go away)"
            ),
        },
    }
    Ok(())
}

async fn part_one() {
    println!("== part 1: the supplier fails, callers get the last good value\n");
    let cache = Cache::builder().namespace("fail-safe:v1").build();

    call(&cache, "supplier healthy", quote(&cache, "lamp")).await;
    call(&cache, "again, within the TTL", quote(&cache, "lamp")).await;

    SUPPLIER.store(FAILING, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    call(&cache, "TTL over, supplier failing", quote(&cache, "lamp")).await;
    call(&cache, "failing, never loaded", quote(&cache, "desk")).await;

    SUPPLIER.store(HANGING, Ordering::SeqCst);
    call(&cache, "supplier hanging (5 s)", quote(&cache, "lamp")).await;

    SUPPLIER.store(HEALTHY, Ordering::SeqCst);
    call(&cache, "supplier back", quote(&cache, "lamp")).await;
    println!("\n{}", render(&cache.stats()));
}

/// How the example takes Redis away.
enum Outage {
    /// Its own `redis-server`, killed.
    Kill(OwnRedis),
    /// A relay to the user's Redis, cut.
    Relay(Relay),
}

async fn part_two(url: &str, outage: Outage) -> anyhow::Result<()> {
    println!("\n== part 2: two instances share Redis, then Redis goes away\n");
    let connect = || {
        RedisL2::builder(url)
            .timeout(Duration::from_millis(50))
            .breaker(3, Duration::from_secs(30))
            .connect_timeout(Duration::from_millis(300))
            .health_interval(Duration::from_millis(200))
            .build()
    };
    let a = Cache::builder()
        .namespace("fail-safe-l2:v1")
        .l2(connect().await?)
        .build();
    let b = Cache::builder()
        .namespace("fail-safe-l2:v1")
        .l2(connect().await?)
        .build();
    // Start from an empty namespace, whatever an earlier run left, once B has heard of it.
    a.clear().await;
    let deadline = Instant::now() + Duration::from_secs(2);
    while b.stats().invalidations_received == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    call(&a, "A loads lamp", stock(&a, "lamp")).await;
    call(&b, "B reads lamp", stock(&b, "lamp")).await;

    match outage {
        Outage::Kill(mut server) => {
            server.kill();
            println!("\n-- redis-server killed (SIGKILL)\n");
        }
        Outage::Relay(relay) => {
            relay.cut();
            println!("\n-- connection to Redis cut\n");
        }
    }

    call(&a, "A reads lamp", stock(&a, "lamp")).await;
    call(&b, "B reads lamp", stock(&b, "lamp")).await;
    let started = Instant::now();
    let mut answered = 0;
    for sku in ["chair", "shelf", "rug", "vase", "clock", "mirror"] {
        let label = format!("B loads {sku}");
        if call(&b, &label, stock(&b, sku)).await {
            answered += 1;
        }
    }
    println!(
        "\n6 calls with Redis gone: {answered} answered, {:.0?} in all; B's breaker open: {}",
        started.elapsed(),
        b.stats().breaker_open == 1
    );
    println!("A {}", render(&a.stats()));
    println!("B {}", render(&b.stats()));
    Ok(())
}

/// Runs one call, prints what it returned and how, and says whether it produced a value.
async fn call(
    cache: &Cache,
    label: &str,
    fut: impl std::future::Future<Output = Result<Quote, SupplierDown>>,
) -> bool {
    let before = cache.stats();
    let started = Instant::now();
    let result = fut.await;
    let took = started.elapsed();
    let after = cache.stats();
    let how = if after.stale_served > before.stale_served {
        "stale"
    } else if after.l1_hits > before.l1_hits {
        "L1 hit"
    } else if after.l2_hits > before.l2_hits {
        "L2 hit"
    } else if after.loads > before.loads && result.is_err() {
        "failed"
    } else if after.loads > before.loads {
        "loaded"
    } else {
        "-"
    };
    let note = if after.l2_errors > before.l2_errors {
        "  (Redis failed, skipped)"
    } else if after.l2_skipped > before.l2_skipped {
        "  (breaker open: Redis not tried)"
    } else {
        ""
    };
    match &result {
        Ok(q) => println!(
            "{label:<28} {how:<7} {took:>9.1?}  {} = {} cents (load #{}){note}",
            q.sku, q.cents, q.load
        ),
        Err(e) => println!("{label:<28} {how:<7} {took:>9.1?}  error: {e}{note}"),
    }
    result.is_ok()
}

fn render(stats: &Stats) -> String {
    let mut out = String::from("stats:");
    for (name, value) in stats.fields() {
        if value > 0 {
            out.push_str(&format!(" {name}={value}"));
        }
    }
    out
}

/// A `redis-server` this example started on a free loopback port.
struct OwnRedis {
    child: Child,
    port: u16,
}

impl OwnRedis {
    fn start() -> Result<OwnRedis, String> {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--loglevel", "warning"])
            .current_dir(std::env::temp_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start redis-server: {e}"))?;
        let mut server = OwnRedis { child, port };
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
            if Instant::now() > deadline {
                server.kill();
                return Err("redis-server did not start listening within 5 s".into());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(server)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A loopback TCP relay to the Redis of `REDIS_URL`, so the example can cut it.
struct Relay {
    local_url: String,
    accept: JoinHandle<()>,
    pipes: std::sync::Arc<std::sync::Mutex<Vec<JoinHandle<()>>>>,
}

impl Relay {
    async fn start(url: &str) -> anyhow::Result<Relay> {
        let (scheme_and_auth, target, rest) = split_url(url)?;
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let local_url = format!("{scheme_and_auth}{}{rest}", listener.local_addr()?);
        let pipes = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let registry = pipes.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                let pipe = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                registry
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(pipe);
            }
        });
        Ok(Relay {
            local_url,
            accept,
            pipes,
        })
    }

    /// Stops accepting and drops every open connection.
    fn cut(&self) {
        self.accept.abort();
        for pipe in self.pipes.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            pipe.abort();
        }
    }
}

/// `redis://user:pw@host:port/2` → (`redis://user:pw@`, `host:port`, `/2`).
fn split_url(url: &str) -> anyhow::Result<(String, String, String)> {
    let Some((scheme, after)) = url.split_once("://") else {
        anyhow::bail!("REDIS_URL must look like redis://host:port");
    };
    if scheme != "redis" {
        anyhow::bail!("this demo relays plain redis:// only, not {scheme}://");
    }
    let (authority, rest) = after
        .find('/')
        .map_or((after, ""), |i| (&after[..i], &after[i..]));
    let (auth, host_port) = authority
        .rsplit_once('@')
        .map_or(("", authority), |(a, h)| (a, h));
    let host_port = if host_port
        .rsplit_once(':')
        .is_some_and(|(_, p)| !p.contains(']'))
    {
        host_port.to_owned()
    } else {
        format!("{host_port}:6379")
    };
    let auth = if auth.is_empty() {
        String::new()
    } else {
        format!("{auth}@")
    };
    Ok((format!("{scheme}://{auth}"), host_port, rest.to_owned()))
}
