use layercache::cached;

#[cached(key = "product:<id>", tags = ["catalog", "category:<category>"])]
async fn get_product(id: u64, cat: String) -> u64 {
    let _ = cat;
    id
}

fn main() {}
