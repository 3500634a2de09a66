//! An `impl Trait` parameter with several bounds is part of the key like any other.
use layercache::{cached, KeyPart};

#[cached(key = "label:<id>")]
pub async fn label(id: impl KeyPart + Send + Sync) -> String {
    let _ = &id;
    "label".to_owned()
}

#[cached]
pub async fn default_key(id: impl KeyPart + Send + Sync, n: u32) -> u32 {
    let _ = &id;
    n
}

fn main() {}
