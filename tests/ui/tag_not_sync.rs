use layercache::{cached, KeyPart, KeyPartWriter};
use std::cell::Cell;

/// A key part with interior mutability: not `Sync`.
pub struct Counter(Cell<u32>);

impl KeyPart for Counter {
    fn write_key_part(&self, out: &mut KeyPartWriter<'_>) {
        self.0.get().write_key_part(out);
    }
}

// Tags are rendered when the value is stored, reading `c` by reference meanwhile.
#[cached(key = "k:<id>", tags = ["counter:<c>"])]
async fn tagged(id: u64, c: &Counter) -> u64 {
    id + u64::from(c.0.get())
}

// Taken by value, `c` is rendered into the tags before the call: accepted.
#[cached(key = "v:<id>", tags = ["counter:<c>"])]
async fn by_value(id: u64, c: Counter) -> u64 {
    id + u64::from(c.0.get())
}

fn main() {}
