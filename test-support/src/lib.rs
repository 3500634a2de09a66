//! Test and bench helpers for layercache, shared by the root crate's tests and benches and by
//! `cache-redis`'s tests.
//!
//! - [`RedisServer`]: a real `redis-server` on a free loopback port, which a test can pause,
//!   kill and restart.
//! - [`RedisCluster`]: a local Redis Cluster of three masters, optionally with replicas, whose
//!   masters a test can kill to make it fail over.
//! - [`NetworkNamespace`]: a namespace joined by a veth pair, whose link a test cuts and restores
//!   (a server runs inside it with [`RedisServer::start_in`]).
//! - [`Recorder`]: a backplane listener that records what it is told.
//! - [`eventually`], [`namespace`], [`free_port`]: polling with a deadline, per-test namespaces,
//!   free ports.
//!
//! Servers never use 6379, keep no data on disk, and are killed when their handle is dropped
//! (also while a failing test unwinds) or when the test process dies (`PR_SET_PDEATHSIG`).
#![warn(missing_docs)]

mod cluster;
mod eventually;
mod namespace;
mod netns;
mod recorder;
mod server;

pub use cluster::RedisCluster;
pub use eventually::eventually;
pub use namespace::namespace;
pub use netns::NetworkNamespace;
pub use recorder::Recorder;
pub use server::{free_port, RedisServer};
