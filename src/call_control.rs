//! Per-call control: [`refresh`] and [`bypass`] change what the next `#[cached]` call of a
//! future does, through a task-local that the outermost `#[cached]` call takes for itself.

use std::cell::Cell;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// What the outermost `#[cached]` call in a [`refresh`] or [`bypass`] future does.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallMode {
    /// Skip the L1/L2 read, load, store the fresh value.
    Refresh,
    /// Skip the read and the store: run the function's body.
    Bypass,
}

tokio::task_local! {
    static MODE: Cell<Option<CallMode>>;
}

/// How many [`refresh`] and [`bypass`] futures exist in the process. While there are none (the
/// usual case), [`take_mode`] reads this one shared, rarely written word instead of the
/// task-local.
static SCOPES: AtomicUsize = AtomicUsize::new(0);

/// Counts one [`refresh`] or [`bypass`] future in [`SCOPES`] while it exists.
struct Scope;

impl Scope {
    fn enter() -> Self {
        SCOPES.fetch_add(1, Relaxed);
        Scope
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        SCOPES.fetch_sub(1, Relaxed);
    }
}

/// Runs `fut` so that the `#[cached]` call it makes skips the L1 and L2 read, loads, and stores
/// the fresh value (callers of the same key at the same time still share one load).
///
/// Only the outermost `#[cached]` calls in `fut` are affected, not the ones their bodies make.
/// For priming a value you already have, use `Cache::set`.
///
/// ```
/// # use layercache::cached;
/// #[cached(key = "price:<id>")]
/// async fn price(id: u64) -> u64 { id * 100 }
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let cached = price(1).await;
/// let fresh = layercache::refresh(price(1)).await; // loads, and stores what it loaded
/// # assert_eq!(cached, fresh);
/// # });
/// ```
pub async fn refresh<F: Future>(fut: F) -> F::Output {
    let _scope = Scope::enter();
    MODE.scope(Cell::new(Some(CallMode::Refresh)), fut).await
}

/// Runs `fut` so that the `#[cached]` call it makes neither reads nor stores: the body runs as if
/// the function were not cached. Only the outermost `#[cached]` calls in `fut` are affected.
///
/// ```
/// # use layercache::cached;
/// #[cached(key = "stock:<id>")]
/// async fn stock(id: u64) -> u64 { id }
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let live = layercache::bypass(stock(1)).await; // not read from, nor written to, the cache
/// # assert_eq!(live, 1);
/// # });
/// ```
pub async fn bypass<F: Future>(fut: F) -> F::Output {
    let _scope = Scope::enter();
    MODE.scope(Cell::new(Some(CallMode::Bypass)), fut).await
}

/// Takes the mode for the `#[cached]` call being made, so the calls its body makes run normally;
/// the returned guard gives it back when the call ends (completed, cancelled or unwinding), for
/// the next outermost call in the same future.
///
/// The scope count is read first: a `#[cached]` call runs inside a scope only while the scope's
/// future polls it, after that future counted itself on this thread (or on one the task moved
/// from, which the scheduler synchronises with), so a zero means no scope holds this call.
#[doc(hidden)]
#[inline]
pub fn take_mode() -> ModeGuard {
    if SCOPES.load(Relaxed) == 0 {
        return ModeGuard(None);
    }
    take_scoped_mode()
}

#[cold]
fn take_scoped_mode() -> ModeGuard {
    let mode = MODE.try_with(Cell::take).ok().flatten();
    ModeGuard(mode)
}

/// The mode taken by [`take_mode`], restored on drop.
#[doc(hidden)]
pub struct ModeGuard(Option<CallMode>);

impl ModeGuard {
    /// The mode of this call, if any.
    #[inline]
    pub fn mode(&self) -> Option<CallMode> {
        self.0
    }
}

impl Drop for ModeGuard {
    #[inline]
    fn drop(&mut self) {
        if let Some(mode) = self.0 {
            give_back(mode);
        }
    }
}

/// Gives the mode back to the scope, for the next outermost call in the same future.
#[cold]
fn give_back(mode: CallMode) {
    // Outside the scope (cannot happen: the guard was taken in it) there is nothing to give back.
    let _ = MODE.try_with(|m| m.set(Some(mode)));
}
