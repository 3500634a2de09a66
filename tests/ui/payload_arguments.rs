use layercache::cached;

#[cached(compress)]
async fn l1_only_compressed(id: u64) -> u64 {
    id
}

#[cached(l2, version = "2")]
async fn version_as_a_string(id: u64) -> u64 {
    id
}

#[cached(l2, version = -1)]
async fn negative_version(id: u64) -> u64 {
    id
}

fn main() {}
