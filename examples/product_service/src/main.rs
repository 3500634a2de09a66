//! An HTTP product catalogue over SQLite, cached with layercache (L1 + Redis L2).
//!
//! ```text
//! cargo run -p product-service -- --port 3000 --db /tmp/products.db
//! REDIS_URL=redis://127.0.0.1:6379 cargo run -p product-service -- --port 3001
//! ```
//!
//! Options (each also read from the environment): `--port` (`PORT`, default 3000),
//! `--redis-url` (`REDIS_URL`, default none: L1 only), `--namespace` (`NAMESPACE`, default
//! `products:v1`), `--db` (`DB_PATH`, default `products.db`).
//!
//! Routes: `GET /products/{id}`, `GET /products?category=books`, `PUT /products/{id}`,
//! `POST /products`, `GET /stats` (JSON counters), `GET /metrics` (Prometheus text), `GET /ready`.
//! Run two instances on two ports with one Redis and one database file: a `PUT` on one is seen
//! by a `GET` on the other.

use std::net::{Ipv4Addr, SocketAddr};

use anyhow::Context;
use product_service::app;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();

    let (port, settings) = parse_args(std::env::args().skip(1))?;
    let router = app::build(&settings).await?;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    tracing::info!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    Ok(())
}

/// Ctrl-C, or SIGTERM (what a container runtime sends).
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}

/// `--name value` arguments, each falling back to an environment variable, then a default.
fn parse_args(args: impl Iterator<Item = String>) -> anyhow::Result<(u16, app::Settings)> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let mut port = env("PORT");
    let mut redis_url = env("REDIS_URL");
    let mut namespace = env("NAMESPACE");
    let mut db_path = env("DB_PATH");
    let mut args = args;
    while let Some(flag) = args.next() {
        let slot = match flag.as_str() {
            "--port" => &mut port,
            "--redis-url" => &mut redis_url,
            "--namespace" => &mut namespace,
            "--db" => &mut db_path,
            "-h" | "--help" => {
                println!(
                    "usage: product_service [--port N] [--redis-url URL] [--namespace NS] [--db PATH]"
                );
                std::process::exit(0);
            }
            other => anyhow::bail!("unknown argument `{other}` (try --help)"),
        };
        *slot = Some(
            args.next()
                .with_context(|| format!("{flag} needs a value"))?,
        );
    }
    let port = match port {
        Some(p) => p.parse().with_context(|| format!("bad port `{p}`"))?,
        None => 3000,
    };
    Ok((
        port,
        app::Settings {
            db_path: db_path.unwrap_or_else(|| "products.db".into()).into(),
            redis_url,
            namespace: namespace.unwrap_or_else(|| "products:v1".into()),
        },
    ))
}
