use layercache::cached;

#[cached(codec = "json", lock, timeout = "2s")]
async fn get(id: u64) -> u64 {
    id
}

fn main() {}
