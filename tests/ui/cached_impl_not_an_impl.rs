use layercache::cached_impl;

#[cached_impl(ttl = "5m")]
async fn get(id: u64) -> u64 {
    id
}

fn main() {}
