use layercache::cached;

#[cached(key = "product:<ide>")]
async fn get_product(id: u64) -> u64 {
    id
}

fn main() {}
