use layercache::cached;

#[derive(Clone)]
struct Product {
    id: u64,
}

#[cached(key = "product:<id>", l2)]
async fn get_product(id: u64) -> Result<Product, std::io::Error> {
    Ok(Product { id })
}

fn main() {}
