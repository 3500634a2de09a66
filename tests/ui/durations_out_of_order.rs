use layercache::cached;

#[cached(ttl = "1m", l1_ttl = "5m", refresh = "1m")]
async fn get(id: u64) -> u64 {
    id
}

fn main() {}
