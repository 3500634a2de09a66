use layercache::invalidates;

#[invalidates]
async fn update(id: u64) -> u64 {
    id
}

#[invalidates(before)]
async fn update_before(id: u64) -> u64 {
    id
}

#[invalidates(get_product)]
async fn update_path(id: u64) -> u64 {
    id
}

fn main() {}
