use layercache::invalidates;

async fn get_product(id: u64) -> u64 {
    id
}

#[invalidates(get_product(id))]
async fn update_product(id: u64) {
    let _ = get_product(id).await;
}

fn main() {}
