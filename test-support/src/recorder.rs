//! A backplane listener that records what it is told.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use cache_core::{BackplaneListener, InvalidationMessage};

/// A backplane listener that records what it is told.
#[derive(Default)]
pub struct Recorder {
    /// Every message received, in order.
    pub messages: Mutex<Vec<InvalidationMessage>>,
    /// How many times the backplane reported a reconnect.
    pub reconnects: AtomicUsize,
    /// How many times the backplane reported a disconnect.
    pub disconnects: AtomicUsize,
}

impl Recorder {
    /// An empty recorder, shared so it can be attached and inspected.
    pub fn new() -> Arc<Recorder> {
        Arc::new(Recorder::default())
    }

    /// The messages received so far.
    pub fn messages(&self) -> Vec<InvalidationMessage> {
        self.messages.lock().expect("lock").clone()
    }

    /// The reconnects seen so far.
    pub fn reconnects(&self) -> usize {
        self.reconnects.load(Ordering::SeqCst)
    }

    /// The disconnects seen so far.
    pub fn disconnects(&self) -> usize {
        self.disconnects.load(Ordering::SeqCst)
    }
}

impl BackplaneListener for Recorder {
    fn on_message(&self, message: InvalidationMessage) {
        self.messages.lock().expect("lock").push(message);
    }
    fn on_reconnect(&self) {
        self.reconnects.fetch_add(1, Ordering::SeqCst);
    }
    fn on_disconnect(&self) {
        self.disconnects.fetch_add(1, Ordering::SeqCst);
    }
}
