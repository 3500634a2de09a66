//! Shared pieces of the macro behaviour tests.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use layercache::Cache;

/// A fresh L1-only cache under the namespace `test`.
pub fn cache() -> Cache {
    Cache::builder().namespace("test").build()
}

/// Counts how often a body ran.
#[derive(Default, Clone)]
pub struct Calls(Arc<AtomicUsize>);

impl Calls {
    /// Counts one run; returns the count so far.
    pub fn hit(&self) -> usize {
        self.0.fetch_add(1, Ordering::SeqCst) + 1
    }
    /// Runs so far.
    pub fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}
