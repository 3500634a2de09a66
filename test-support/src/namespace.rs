//! Cache namespaces unique within a test binary.

use std::sync::atomic::{AtomicUsize, Ordering};

/// A unique namespace per test, so tests sharing nothing but a binary never collide.
pub fn namespace(test: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("t{}:{test}", NEXT.fetch_add(1, Ordering::SeqCst))
}
