use layercache::cached;

// A plain `fn` is cached in process; what needs the async runtime is refused, with the reason.
#[cached(l2, lock, stale = "1h", timeout = "1s", refresh = "1m", ttl = "5m")]
fn get(id: u64) -> u64 {
    id
}

fn main() {}
