use layercache::cached_impl;

struct Repo;

#[cached_impl(key = "product:<id>", ttl = "5m", unless = |v| *v == 0)]
impl Repo {
    #[cached]
    async fn get(&self, id: u64) -> u64 {
        id
    }
}

fn main() {}
