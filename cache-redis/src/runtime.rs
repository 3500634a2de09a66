//! The layer's own runtime thread, so it outlives the runtime of any caller.
//!
//! redis-rs spawns a driver task for every connection on whichever tokio runtime is current when
//! the connection is made or remade. A connection made inside a `#[tokio::test]` dies with that
//! test's runtime, and every later call through it fails. The layer therefore owns a small
//! current-thread runtime on a thread of its own: its own connection, reconnections, their
//! drivers and the background tasks belong to it, and a call that uses that connection is polled
//! inside its context ([`OnRuntime`]). Handing each request to a driver on another thread costs
//! two thread wake-ups per call, so a single server's calls from a caller's runtime go over a
//! connection whose driver runs on that runtime instead (see `kept_connection.rs`); the layer's
//! thread is the fallback, and what keeps the layer working when that runtime is gone.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// A current-thread tokio runtime running on a dedicated thread until this value is dropped.
#[derive(Debug)]
pub(crate) struct LayerRuntime {
    handle: Handle,
    shutdown: Option<oneshot::Sender<()>>,
}

impl LayerRuntime {
    /// Starts the thread and its runtime.
    pub(crate) fn start() -> std::io::Result<LayerRuntime> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        let (shutdown, stopped) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("layercache-redis".into())
            .spawn(move || {
                // Either a message or the sender's drop ends the wait; then every task (drivers,
                // subscriber) is dropped with the runtime.
                runtime.block_on(async {
                    let _ = stopped.await;
                });
                drop(runtime);
            })?;
        Ok(LayerRuntime {
            handle,
            shutdown: Some(shutdown),
        })
    }

    /// Wraps `future` so that it is polled inside this runtime's context.
    pub(crate) fn enter<F: Future>(&self, future: F) -> OnRuntime<F> {
        on(self.handle.clone(), future)
    }

    /// This runtime's handle.
    pub(crate) fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Spawns a background task on this runtime.
    pub(crate) fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        drop(self.handle.spawn(future));
    }
}

impl Drop for LayerRuntime {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

pin_project_lite::pin_project! {
    /// A future polled with the layer's runtime entered: whatever it spawns or registers (driver
    /// tasks, sockets, timers) lives on that runtime, whichever executor awaits it.
    #[derive(Debug)]
    pub(crate) struct OnRuntime<F> {
        handle: Handle,
        #[pin]
        future: F,
    }
}

/// Wraps `future` so that it is polled inside the context of the runtime of `handle`.
pub(crate) fn on<F: Future>(handle: Handle, future: F) -> OnRuntime<F> {
    OnRuntime { handle, future }
}

impl<F: Future> Future for OnRuntime<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _entered = this.handle.enter();
        this.future.poll(cx)
    }
}
