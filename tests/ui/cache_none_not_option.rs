use layercache::cached;

#[cached(cache_none = "30s")]
async fn get(id: u64) -> u64 {
    id
}

fn main() {}
