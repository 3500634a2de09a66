//! The synchronisation primitives of single-flight and the refresh claim, swapped for shuttle's
//! instrumented ones under the `shuttle` feature so a model checker can explore their
//! interleavings (as quick_cache does). Normal builds use parking_lot and std, at no cost.

#[cfg(not(feature = "shuttle"))]
pub(crate) use parking_lot::Mutex;
#[cfg(not(feature = "shuttle"))]
pub(crate) use std::sync::atomic::{AtomicBool, Ordering};

#[cfg(feature = "shuttle")]
pub(crate) use shuttle::sync::atomic::{AtomicBool, Ordering};
#[cfg(feature = "shuttle")]
pub(crate) use shuttle_mutex::Mutex;

#[cfg(feature = "shuttle")]
mod shuttle_mutex {
    /// shuttle's mutex with parking_lot's signature (`lock` never reports poisoning).
    pub(crate) struct Mutex<T>(shuttle::sync::Mutex<T>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Mutex(shuttle::sync::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> shuttle::sync::MutexGuard<'_, T> {
            self.0
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
        }
    }
}
