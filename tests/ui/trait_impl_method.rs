use layercache::cached;

trait Repo {
    async fn get(&self, id: u64) -> u64;
}

struct Db;

// A lone #[cached] cannot see that it is in a trait impl, whose helpers must go elsewhere:
// rustc reports them. `#[cached_impl]` on the impl block makes this work.
impl Repo for Db {
    #[cached]
    async fn get(&self, id: u64) -> u64 {
        id
    }
}

fn main() {}
