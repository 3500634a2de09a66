use layercache::cached;

const TTL_SECS: u64 = 300;

// A duration argument that is not a string literal must be a `std::time::Duration`.
#[cached(ttl = TTL_SECS)]
async fn get(id: u64) -> u64 {
    id
}

fn main() {}
