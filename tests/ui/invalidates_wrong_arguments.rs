use layercache::{cached, invalidates};

#[cached(key = "product:<id>")]
async fn get_product(id: u64) -> u64 {
    id
}

#[invalidates(get_product(id, name))]
async fn rename(id: u64, name: String) {
    let _ = (id, name);
}

#[invalidates(get_product(name))]
async fn rename_again(name: String) {
    let _ = name;
}

fn main() {}
