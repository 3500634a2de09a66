use layercache::cached;

struct Catalog;

// A lone `#[cached]` cannot see the `impl` around it: an associated function without `self`
// needs `#[cached_impl]` on the block.
impl Catalog {
    #[cached]
    async fn category(id: u64) -> u64 {
        id
    }
}

fn main() {}
