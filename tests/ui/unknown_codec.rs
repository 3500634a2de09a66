use layercache::cached;

#[cached(l2, codec = "yaml")]
async fn get(id: u64) -> u64 {
    id
}

fn main() {}
