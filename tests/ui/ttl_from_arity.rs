use std::time::Duration;

use layercache::cached;

#[cached(ttl_from = |v, w| Duration::from_secs(*v + *w))]
async fn get(id: u64) -> u64 {
    id
}

#[cached(ttl_from = |v| *v)]
async fn not_a_duration(id: u64) -> u64 {
    id
}

fn main() {}
