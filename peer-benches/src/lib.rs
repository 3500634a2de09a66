//! What the benches of this package share: the contenders of an L1 hit (layercache and its
//! peers, one shape), the Redis contenders of an L2 hit and their set-up, and a counting
//! allocator.
//!
//! The benches live in a workspace member of their own so that testing `layercache` never
//! compiles the peers (`cached`, hitbox) or gungraun:
//!
//! - `instructions` (gungraun, callgrind): instructions per L1 hit and per L2 hit, deterministic;
//! - `compare_l1` (criterion): wall clock of an L1 hit on 1 thread and on 2 threads sharing one
//!   hot key, and heap allocations per hit;
//! - `compare_l2` (criterion, real `redis-server`): an L2 hit at 1, 32 and 64 tasks;
//! - `stampede` (criterion): 10,000 callers on one cold key;
//! - `memory`: L1's resident memory against its byte budget.
//!
//! `benches/report.sh` at the repository root runs them and prints every goal with its ratio.

pub mod counting_alloc;
pub mod l1;
pub mod l2;

use std::sync::OnceLock;

/// The process's multi-thread Tokio runtime with 2 workers (the machine's cores), on which the
/// concurrent benches run their tasks and make their connections, as an application would.
pub fn two_worker_runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime")
    })
}
