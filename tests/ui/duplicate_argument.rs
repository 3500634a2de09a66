use layercache::cached;

#[cached(ttl = "5m", l2, ttl = "10m")]
async fn get(id: u64) -> u64 {
    id
}

fn main() {}
