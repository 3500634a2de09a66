use layercache::cached;

#[cached(ttl = "5m")]
fn get(id: u64) -> u64 {
    id
}

fn main() {}
