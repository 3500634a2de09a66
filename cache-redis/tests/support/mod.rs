//! Test support that needs `cache-redis`: cache instances on a shared Redis. The process-level
//! helpers (servers, Cluster, polling, namespaces) are in `layercache-test-support`.
#![allow(dead_code)]

pub mod instances;
