use layercache::cached;

#[cached(tll = "5m")]
async fn get(id: u64) -> u64 {
    id
}

fn main() {}
