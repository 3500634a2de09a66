use layercache::cached;

#[cached(ttl = "5 minutes please")]
async fn get(id: u64) -> u64 {
    id
}

#[cached(stale = 300)]
async fn get_stale(id: u64) -> u64 {
    id
}

fn main() {}
