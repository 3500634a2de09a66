use layercache::cached;

const TTL_SECS: u64 = 300;

#[cached(ttl = TTL_SECS, stale = 3600)]
async fn get(id: u64) -> u64 {
    id
}

fn main() {}
